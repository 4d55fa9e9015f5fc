"""Investment priorities: ranked gap clusters per province and nationally, as CSV and GeoJSON.

The clusters themselves are found by :mod:`geodata.indicators.clusters`; this module labels them
(province names of both boundary versions, region), writes the published files and compares
periods. Layout below the output directory (``kind`` is ``mobile`` or ``fixed``)::

    priorities/{kind}_priorities_{quarter}.csv             national ranked table
    priorities/{kind}_priorities_{quarter}.geojson         national cluster outlines (RFC 7946)
    priorities/{kind}_gap_cluster_cells_{quarter}.parquet  cell -> cluster (for analysts, change)
    priorities/{kind}_priority_changes_{prev}_to_{cur}.csv what closed, shrank, grew, is new
    downloads/{version}/{code}_{slug}/{quarter}_{kind}_priorities.{csv,geojson}
                                                           one province, ranked within it

Every province of both versions gets its files, empty when it has no gap cluster, so an official
always finds one. Each GeoJSON carries the provenance and the gap rule (thresholds and score).

Examples
--------
>>> table = priority_table(labelled)            # doctest: +SKIP
>>> table.columns[:4].tolist()                  # doctest: +SKIP
['rank', 'province_34', 'province_34_name', 'province_63']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.indicators.clusters import (
    GAP_RULES,
    GapRule,
    cluster_outlines,
    compare_clusters,
    find_gap_clusters,
)
from geodata.kernels.cells import cells_to_strings
from geodata.provenance import atomic_write_bytes
from geodata.publishing.downloads import DOWNLOADS_DIR, province_slug
from geodata.reference import BOUNDARY_VERSIONS, load_regions, province_names
from geodata.writers import write_csv, write_parquet
from geodata.writers.geojson import collection_bytes, collection_header, geojson_bytes

__all__ = [
    "PRIORITIES_DIR",
    "TOP_N",
    "GapPriorities",
    "find_priorities",
    "priority_table",
    "write_priorities",
    "priority_changes",
    "write_priority_changes",
    "top_records",
]

PRIORITIES_DIR = "priorities"
#: Rows shown in the Dagster UI, the portal and the manifest.
TOP_N = 20

_ID_COLUMNS = ("seed_cell", "nearest_gap_cell", "nearest_served_cell")


@dataclass(frozen=True)
class GapPriorities:
    """The ranked clusters of one rule and period: ``clusters`` labelled with names (one row per
    cluster, national rank order) and ``members`` (``cell, cluster_id, population``)."""

    rule: GapRule
    clusters: pd.DataFrame
    members: pd.DataFrame

    @property
    def people(self) -> float:
        return float(self.clusters["population"].sum())


def _region_names() -> pd.Series:
    regions = load_regions()
    return regions.drop_duplicates("region_id").set_index("region_id")["region_name_en"]


def _label(clusters: pd.DataFrame) -> pd.DataFrame:
    """Add ``name_34, name_63, region_name`` beside the codes."""
    out = clusters.copy()
    for version in BOUNDARY_VERSIONS:
        names = province_names(version)["name"]
        out[f"name_{version}"] = pd.array(
            names.reindex(out[f"code_{version}"].astype(object)).to_numpy(), dtype="string"
        )
    out["region_name"] = pd.array(
        _region_names().reindex(out["region_id"].astype(object)).to_numpy(), dtype="string"
    )
    return out


def find_priorities(
    cells: pd.DataFrame, rules: Mapping[str, GapRule] = GAP_RULES
) -> dict[str, GapPriorities]:
    """Gap clusters of the cell table for each rule (by kind), labelled with province names."""
    out = {}
    for kind, rule in rules.items():
        clusters, members = find_gap_clusters(cells, rule)
        labelled = _label(clusters)
        labelled.attrs.update(clusters.attrs)
        out[kind] = GapPriorities(rule=rule, clusters=labelled, members=members)
    return out


def _h3_strings(ids: pd.Series) -> pd.Series:
    strings = cells_to_strings(ids.to_numpy(np.uint64))
    return pd.Series(pd.array(strings, dtype="string"), index=ids.index)


def priority_table(clusters: pd.DataFrame) -> pd.DataFrame:
    """The published ranked table, in the order of ``clusters`` (national rank): cell ids as H3
    strings, figures rounded. A province's rows in this order are its ranking within it."""
    t = clusters
    out = pd.DataFrame(
        {
            "rank": t["rank"].to_numpy(np.int64),
            "province_34": t["code_34"].to_numpy(),
            "province_34_name": t["name_34"].to_numpy(),
            "province_63": t["code_63"].to_numpy(),
            "province_63_name": t["name_63"].to_numpy(),
            "region": t["region_name"].to_numpy(),
            "population": t["population"].round(0).to_numpy(),
            "n_cells": t["n_cells"].to_numpy(np.int64),
            "area_km2": t["area_km2"].round(2).to_numpy(),
            "distance_km": t["distance_km"].round(2).to_numpy(),
            "mean_distance_km": t["mean_distance_km"].round(2).to_numpy(),
            "grid_steps": t["grid_steps"].to_numpy(np.int64),
            "people_per_km": t["people_per_km"].round(1).to_numpy(),
            "rank_in_province_34": t["rank_within_province_34"].to_numpy(np.int64),
            "rank_in_province_63": t["rank_within_province_63"].to_numpy(np.int64),
        }
    )
    for col in _ID_COLUMNS:
        out[col] = _h3_strings(t[col]).to_numpy()
    out["cluster_id"] = t["cluster_id"].to_numpy(np.int64)
    out["rule"] = t["rule"].to_numpy()
    return out.reset_index(drop=True)


def _feature_lines(gdf: gpd.GeoDataFrame) -> list[bytes]:
    """Each row's GeoJSON feature as GDAL writes it (rendered once through GDAL), so a
    province's file is a header, a selection of these lines and a footer."""
    body = geojson_bytes(gdf)
    head = collection_header(None)
    if not body.startswith(head):
        raise RuntimeError("unexpected GeoJSON layout from GDAL")
    inner = body[len(head) :].rsplit(b"\n]\n}\n", 1)[0]
    # one feature per line; a raw newline never occurs inside a JSON string
    lines = inner.split(b",\n") if inner else []
    if len(lines) != len(gdf):
        raise RuntimeError(f"GDAL wrote {len(lines)} features for {len(gdf)} rows")
    return lines


def _collection(lines: list[bytes], idx: Any, provenance: Mapping[str, Any]) -> bytes:
    features = b"".join(lines[i] + b",\n" for i in idx)
    return collection_bytes(collection_header(dict(provenance)), features)


def _provenance(base: Mapping[str, Any], rule: GapRule, **extra: Any) -> dict[str, Any]:
    return {**base, "gap_rule": rule.as_dict(), **extra}


def write_priorities(
    results: Mapping[str, GapPriorities],
    quarter: str,
    out_root: str | Path,
    provenance: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, gpd.GeoDataFrame]]:
    """Write the national and per-province files of every kind.

    Returns the listing (``path, kind, scope, version, code, clusters, bytes``; paths relative
    to ``out_root``) and the national outlines with the published columns, by kind.
    """
    root = Path(out_root)
    rows: list[dict[str, Any]] = []
    nationals: dict[str, gpd.GeoDataFrame] = {}

    def put(rel: str, data: bytes, **row: Any) -> None:
        atomic_write_bytes(root / rel, data)
        rows.append({"path": rel, "bytes": len(data), **row})

    def put_csv(rel: str, table: pd.DataFrame, **row: Any) -> None:
        write_csv(table, root / rel)
        rows.append({"path": rel, "bytes": (root / rel).stat().st_size, **row})

    for kind, res in results.items():
        outlines = cluster_outlines(res.members, res.clusters[["cluster_id"]])
        table = priority_table(res.clusters)  # national rank order
        shapes = outlines.set_index("cluster_id").geometry
        national = gpd.GeoDataFrame(
            table, geometry=shapes.reindex(table["cluster_id"].to_numpy()).to_numpy(), crs=4326
        )
        nationals[kind] = national
        prov = _provenance(provenance, res.rule, period=quarter, scope="national")
        base = f"{PRIORITIES_DIR}/{kind}_priorities_{quarter}"
        n = len(table)
        put_csv(f"{base}.csv", table, kind=kind, scope="national", clusters=n)
        lines = _feature_lines(national)
        put(
            f"{base}.geojson",
            _collection(lines, range(len(lines)), prov),
            kind=kind,
            scope="national",
            clusters=n,
        )
        members = res.members.assign(h3=_h3_strings(res.members["cell"]))
        write_parquet(
            members[["h3", "cell", "cluster_id", "population"]],
            root / PRIORITIES_DIR / f"{kind}_gap_cluster_cells_{quarter}.parquet",
            provenance=prov,
        )
        for version in BOUNDARY_VERSIONS:
            names = province_names(version)
            # national order restricted to a province is the order within it
            rows_of = table.groupby(f"province_{version}", sort=False).indices
            first = f"rank_in_province_{version}"
            columns = [first, *[c for c in table.columns if c != first]]
            for code, row in names.iterrows():
                folder = f"{DOWNLOADS_DIR}/{version}/{code}_{province_slug(str(row['name_ascii']))}"
                idx = rows_of.get(code, np.zeros(0, np.int64))
                pprov = _provenance(
                    provenance,
                    res.rule,
                    period=quarter,
                    scope="province",
                    boundary_version=version,
                    province_code=code,
                    province_name=str(row["name"]),
                )
                stem = f"{folder}/{quarter}_{kind}_priorities"
                info = dict(
                    kind=kind, scope="province", version=version, code=code, clusters=len(idx)
                )
                put_csv(f"{stem}.csv", table.iloc[idx][columns], **info)
                put(f"{stem}.geojson", _collection(lines, idx, pprov), **info)
    return pd.DataFrame(rows), nationals


def priority_changes(previous: GapPriorities, current: GapPriorities) -> pd.DataFrame:
    """:func:`~geodata.indicators.clusters.compare_clusters` of two periods, with the province
    (both versions) of each row: the previous cluster's, or for new clusters the current one's."""
    change = compare_clusters(previous.members, current.members)
    cols = ["code_34", "name_34", "code_63", "name_63", "region_name"]
    prev = previous.clusters.set_index("cluster_id")[cols]
    cur = current.clusters.set_index("cluster_id")[cols]
    from_prev = prev.reindex(change["cluster_id_previous"].astype("float64")).reset_index(drop=True)
    from_cur = cur.reindex(change["cluster_id_current"].astype("float64")).reset_index(drop=True)
    where = from_prev.fillna(from_cur)
    out = pd.concat([change.reset_index(drop=True), where], axis=1)
    for col in ("population_previous", "population_current"):
        if col in out:
            out[col] = out[col].round(0)
    order = {
        s: i for i, s in enumerate(("closed", "shrank", "new", "grew", "shifted", "unchanged"))
    }
    out = out.sort_values(
        ["status", "population_previous"],
        key=lambda s: s.map(order) if s.name == "status" else -s.fillna(0),
        kind="stable",
    )
    return out.reset_index(drop=True)


def write_priority_changes(
    changes: pd.DataFrame, kind: str, previous: str, current: str, out_root: str | Path
) -> Path:
    """``priorities/{kind}_priority_changes_{previous}_to_{current}.csv``; returns its path."""
    dest = Path(out_root) / PRIORITIES_DIR / f"{kind}_priority_changes_{previous}_to_{current}.csv"
    return write_csv(changes, dest)


def top_records(res: GapPriorities, n: int = TOP_N) -> list[dict[str, Any]]:
    """The first ``n`` rows of the national table as JSON-ready dicts (for UI and portal)."""
    table = priority_table(res.clusters.head(n))
    keep = [
        "rank",
        "province_34",
        "province_34_name",
        "province_63",
        "province_63_name",
        "region",
        "population",
        "n_cells",
        "area_km2",
        "distance_km",
        "mean_distance_km",
        "people_per_km",
        "seed_cell",
    ]
    records = table[keep].astype(object).where(table[keep].notna(), None).to_dict("records")
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records
    ]
