"""Investment priorities: connected gap areas, how far coverage must reach them, people per km.

A *gap cell* is a populated H3 cell that a named :class:`GapRule` says lacks service; a *gap
cluster* is a connected group of gap cells (two cells are neighbours when they touch:
``grid_disk(cell, 1)``) of one province in both boundary versions: by default
(``split_by_province``) two touching gap cells join only when they share their 34- and their
63-system province, so each cluster has one province of each version, a province's clusters hold
exactly its gap population, and one national gap cannot swallow half the country into a single
"cluster" that no provincial planner owns. For every cluster we measure how far the nearest served cell is (the
extension a mobile site or a fibre run needs to reach it) and score it by **people per km of
extension**::

    people_per_km = population / max(distance_km, rule.min_distance_km)

``min_distance_km`` (default 1 km) keeps clusters that touch served cells from getting an infinite
score: inside one km every cluster is ranked by its people alone. Rank 1 is the best score; ties
are broken by population (more first), then by the lowest cell id of the cluster, so the order is
deterministic. ``cluster_id`` *is* the national rank.

Rules (named configuration, stated in every output):

* **mobile** gap: best technology below 4G (``best_tech_rank`` in 0..2: none, 2G, 3G) and people
  living there. ``-1`` (no coverage information) is *not* a gap: no information is not a gap.
  Served for the distance: best technology 4G or better.
* **fixed** gap: measured fixed speed below the unserved threshold (``fixed_class == "unserved"``,
  by default below 25/3 Mbps, :data:`geodata.indicators.service.DEFAULT_THRESHOLDS`) and people
  living there. A cell without fixed tests (``no_data``) is not a gap. Served for the distance:
  ``fixed_class`` ``"served"`` or ``"underserved"`` (a measured line of at least 25/3 Mbps exists
  there, so a fibre run can start from it).

Distances are great-circle km between cell centres (a 3-D k-d tree on unit vectors of the served
cell centres, queried with all gap cell centres at once; chord -> arc on the H3 authalic sphere);
``grid_steps`` is the H3 grid distance of the cluster's closest (gap, served) pair, computed with
``h3.grid_distance`` once per *cluster* (a loop over clusters, not cells: the 2026Q3 national
run has 565 mobile and 1,745 fixed clusters; fine below ~50k clusters).

Caveat: the distance is to the cluster's *nearest* served cell, so a large cluster that touches
coverage anywhere scores as if one km of extension reached all its people. ``mean_distance_km``
(population-weighted mean distance of the cluster's cells to their nearest served cell) says how
deep the gap reaches, and is printed beside the score.

Examples
--------
>>> import h3
>>> centre = h3.latlng_to_cell(21.0285, 105.8542, 8)
>>> ring = [h3.str_to_int(c) for c in h3.grid_ring(centre, 1)]
>>> cells = pd.DataFrame({
...     "cell": np.array([h3.str_to_int(centre), *ring], np.uint64),
...     "population": [100.0] + [10.0] * 6,
...     "code_63": "01", "code_34": "01", "region_id": "red_river_delta",
...     "best_tech_rank": np.array([0, 4, 4, 4, 4, 4, 4], np.int8)})
>>> clusters, members = find_gap_clusters(cells, MOBILE_GAP)
>>> row = clusters.iloc[0]
>>> int(row.cluster_id), int(row.n_cells), int(row.grid_steps), float(row.people_per_km)
(1, 1, 1, 100.0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geodata.errors import SchemaError
from geodata.kernels.cells import cell_area_km2, cells_to_latlng, cells_to_strings, grid_disk
from geodata.technology import TECH_RANK

__all__ = [
    "GapKind",
    "GapRule",
    "MOBILE_GAP",
    "FIXED_GAP",
    "GAP_RULES",
    "CHANGE_STATUSES",
    "gap_mask",
    "served_mask",
    "find_gap_clusters",
    "cluster_outlines",
    "compare_clusters",
]

GapKind = Literal["mobile", "fixed"]

#: Radius (km) of the sphere H3 measures on (``h3.great_circle_distance``), so distances agree.
_EARTH_RADIUS_KM = 6371.007180918475
_TABLE = "cell table"
_RANK_4G = TECH_RANK.index("4G")
_VERSIONS = ("34", "63")

#: Statuses of :func:`compare_clusters`, one per row.
CHANGE_STATUSES: tuple[str, ...] = ("closed", "shrank", "shifted", "unchanged", "grew", "new")


@dataclass(frozen=True)
class GapRule:
    """Which cells are a gap, which are served, and how clusters are scored.

    Attributes
    ----------
    name : short label written next to every figure computed with this rule
    kind : ``"mobile"`` (gap = best technology below ``min_tech_rank``) or ``"fixed"`` (gap =
        ``fixed_class == "unserved"``)
    min_tech_rank : mobile only: rank in ``TECH_RANK`` from which a cell is served (default 4G)
    min_distance_km : floor of the distance in the score ``population / max(distance, floor)``
    split_by_province : join touching gap cells only within one province of both versions
    """

    name: str
    kind: GapKind
    min_tech_rank: int = _RANK_4G
    min_distance_km: float = 1.0
    split_by_province: bool = True

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise ValueError("a gap rule needs a non-empty name")
        if self.kind not in ("mobile", "fixed"):
            raise ValueError(f"gap rule kind must be 'mobile' or 'fixed', got {self.kind!r}")
        if not 0 < int(self.min_tech_rank) < len(TECH_RANK):
            raise ValueError(f"min_tech_rank must be in 1..{len(TECH_RANK) - 1} {TECH_RANK}")
        if not (np.isfinite(self.min_distance_km) and self.min_distance_km > 0):
            raise ValueError(f"min_distance_km must be > 0, got {self.min_distance_km!r}")

    @property
    def description(self) -> str:
        """The rule in words (gap, served, score), for file metadata and captions."""
        if self.kind == "mobile":
            tech = TECH_RANK[self.min_tech_rank]
            gap = f"populated cell whose best mobile technology is below {tech} (unknown is not a gap)"
            served = f"best mobile technology {tech} or better"
        else:
            gap = "populated cell with measured fixed speed below the unserved threshold"
            served = (
                "fixed class served or underserved (measured at or above the unserved threshold)"
            )
        split = (
            "touching gap cells of the same province (both boundary versions)"
            if self.split_by_province
            else "touching gap cells"
        )
        return (
            f"gap: {gap}; served: {served}; cluster: {split}; score: people / max(distance to "
            f"the nearest served cell centre in km, {self.min_distance_km:g})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The rule's fields and description, JSON-ready."""
        return {**dataclasses.asdict(self), "description": self.description}


#: No 4G or better where people live.
MOBILE_GAP = GapRule(name="mobile: populated, no 4G or better", kind="mobile")
#: Measured fixed broadband below 25/3 Mbps where people live.
FIXED_GAP = GapRule(name="fixed: populated, measured below 25/3 Mbps", kind="fixed")
#: The default rules by kind.
GAP_RULES: dict[str, GapRule] = {"mobile": MOBILE_GAP, "fixed": FIXED_GAP}


def _need(cells: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in cells.columns]
    if missing:
        raise SchemaError(_TABLE, f"missing column(s) {missing} needed by gap clusters")


def _rule_columns(rule: GapRule) -> tuple[str, ...]:
    return ("best_tech_rank",) if rule.kind == "mobile" else ("fixed_class",)


def gap_mask(cells: pd.DataFrame, rule: GapRule) -> npt.NDArray[np.bool_]:
    """True for each row of the cell table that is a gap cell under ``rule``."""
    _need(cells, ("population", *_rule_columns(rule)))
    populated = cells["population"].to_numpy(np.float64) > 0
    if rule.kind == "mobile":
        rank = cells["best_tech_rank"].to_numpy(np.int16)
        return populated & (rank >= 0) & (rank < rule.min_tech_rank)
    return populated & cells["fixed_class"].eq("unserved").fillna(False).to_numpy(bool)


def served_mask(cells: pd.DataFrame, rule: GapRule) -> npt.NDArray[np.bool_]:
    """True for each row that counts as served when measuring the extension distance."""
    _need(cells, _rule_columns(rule))
    if rule.kind == "mobile":
        return cells["best_tech_rank"].to_numpy(np.int16) >= rule.min_tech_rank
    cls = cells["fixed_class"]
    return (cls.eq("served") | cls.eq("underserved")).fillna(False).to_numpy(bool)


def _unit_vectors(cells: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    lat, lng = (np.radians(a) for a in cells_to_latlng(cells))
    return np.column_stack([np.cos(lat) * np.cos(lng), np.cos(lat) * np.sin(lng), np.sin(lat)])


def _label_components(
    gap: npt.NDArray[np.uint64], group: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.int64]:
    """Connected-component label of each (sorted, unique) gap cell under grid_disk(1) adjacency,
    joining only cells of the same ``group`` when it is given."""
    n = gap.size
    if n == 0:
        return np.zeros(0, np.int64)
    disk, origin = grid_disk(gap, 1)
    pos = np.minimum(np.searchsorted(gap, disk), n - 1)
    hit = gap[pos] == disk
    if group is not None:
        hit &= group[origin] == group[pos]
    graph = coo_array(
        (np.ones(int(hit.sum()), np.int8), (origin[hit], pos[hit])), shape=(n, n)
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _majority(labels: npt.NDArray[np.int64], keys: pd.Series, pop: npt.NDArray[np.float64]) -> Any:
    """Per label, the key holding most population (ties: lowest key); indexed by label."""
    df = pd.DataFrame({"label": labels, "key": keys.astype("string").to_numpy(), "pop": pop})
    sums = df.groupby(["label", "key"], sort=False, dropna=False)["pop"].sum().reset_index()
    sums = sums.sort_values(["label", "pop", "key"], ascending=[True, False, True], kind="stable")
    return sums.drop_duplicates("label").set_index("label")["key"]


def _grid_steps(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """H3 grid distance of each pair (a loop over clusters); -1 where H3 cannot tell."""
    out = np.full(a.size, -1, np.int64)
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        if x and y:
            try:
                out[i] = h3.grid_distance(h3.int_to_str(x), h3.int_to_str(y))
            except h3.H3BaseException:
                pass  # across a pentagon or too far apart: stays -1
    return out


def _empty_clusters() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster_id": pd.Series(dtype=np.int64),
            "rank": pd.Series(dtype=np.int64),
            "n_cells": pd.Series(dtype=np.int64),
            "population": pd.Series(dtype=np.float64),
            "area_km2": pd.Series(dtype=np.float64),
            "code_34": pd.Series(dtype="string"),
            "code_63": pd.Series(dtype="string"),
            "region_id": pd.Series(dtype="string"),
            "distance_km": pd.Series(dtype=np.float64),
            "mean_distance_km": pd.Series(dtype=np.float64),
            "grid_steps": pd.Series(dtype=np.int64),
            "people_per_km": pd.Series(dtype=np.float64),
            "rank_within_province_34": pd.Series(dtype=np.int64),
            "rank_within_province_63": pd.Series(dtype=np.int64),
            "seed_cell": pd.Series(dtype=np.uint64),
            "nearest_gap_cell": pd.Series(dtype=np.uint64),
            "nearest_served_cell": pd.Series(dtype=np.uint64),
            "rule": pd.Series(dtype="string"),
        }
    )


def find_gap_clusters(
    cells: pd.DataFrame, rule: GapRule = MOBILE_GAP
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Connected gap clusters of a cell table, ranked by people per km of extension.

    Parameters
    ----------
    cells : the cell table (one row per H3 cell, all of one resolution): ``cell, population,
        code_34, code_63, region_id`` and ``best_tech_rank`` (mobile) or ``fixed_class`` (fixed)
    rule : which cells are a gap / served and the score's distance floor

    Returns
    -------
    clusters : one row per cluster in rank order: ``cluster_id`` (= national ``rank``, 1 = best),
        ``n_cells, population, area_km2``, ``code_34, code_63, region_id`` (the unit holding most
        of the cluster's people; ties -> lowest code), ``distance_km`` (great-circle km from the
        nearest gap cell centre to the nearest served cell centre; NaN when nothing is served),
        ``mean_distance_km`` (population-weighted mean over its cells of that distance),
        ``grid_steps`` (H3 grid distance of that pair; -1 unknown), ``people_per_km``,
        ``rank_within_province_34/63``, ``seed_cell`` (lowest cell id), ``nearest_gap_cell``,
        ``nearest_served_cell`` and ``rule`` (its name). ``attrs["gap_rule"]`` holds
        :meth:`GapRule.as_dict`.
    members : ``cell, cluster_id, population`` for every gap cell, sorted by cell.

    Raises
    ------
    SchemaError : a needed column is missing, or a cell appears twice.
    """
    _need(cells, ("cell", "population", "code_34", "code_63", "region_id"))
    gap_rows = gap_mask(cells, rule)
    all_cells = cells["cell"].to_numpy(np.uint64)
    sub = cells.loc[gap_rows, ["cell", "population", "code_34", "code_63", "region_id"]]
    order = np.argsort(all_cells[gap_rows], kind="stable")
    sub = sub.iloc[order].reset_index(drop=True)
    gap = sub["cell"].to_numpy(np.uint64)
    if gap.size > 1 and (np.diff(gap) == 0).any():
        dup = int(gap[1:][np.diff(gap) == 0][0])
        raise SchemaError(
            _TABLE, f"cell {h3.int_to_str(dup)} appears more than once", column="cell"
        )
    rule_info = rule.as_dict()
    if gap.size == 0:
        empty = _empty_clusters()
        empty.attrs["gap_rule"] = rule_info
        members = pd.DataFrame(
            {"cell": gap, "cluster_id": np.zeros(0, np.int64), "population": np.zeros(0)}
        )
        return empty, members

    group = None
    if rule.split_by_province:
        keys = (
            sub["code_34"].astype("string").fillna("")
            + "|"
            + sub["code_63"].astype("string").fillna("")
        )
        group = pd.factorize(keys)[0].astype(np.int64)
    labels = _label_components(gap, group)
    n = int(labels.max()) + 1
    pop = sub["population"].to_numpy(np.float64)
    n_cells = np.bincount(labels, minlength=n)
    population = np.bincount(labels, weights=pop, minlength=n)
    area = np.bincount(labels, weights=cell_area_km2(gap), minlength=n)
    seed = np.full(n, np.iinfo(np.uint64).max, np.uint64)
    np.minimum.at(seed, labels, gap)

    # distance from every gap cell centre to the nearest served cell centre, min per cluster
    served = all_cells[served_mask(cells, rule)]
    distance = np.full(n, np.nan)
    mean_distance = np.full(n, np.nan)
    near_gap = np.zeros(n, np.uint64)
    near_served = np.zeros(n, np.uint64)
    if served.size:
        chord, idx = cKDTree(_unit_vectors(served)).query(_unit_vectors(gap), k=1)
        km = 2.0 * _EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
        by = np.lexsort((gap, km, labels))  # per label: smallest distance, then lowest cell
        first = by[np.r_[True, labels[by][1:] != labels[by][:-1]]]
        distance[labels[first]] = km[first]
        weight = np.bincount(labels, weights=pop, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_distance = np.where(
                weight > 0, np.bincount(labels, weights=pop * km, minlength=n) / weight, np.nan
            )
        near_gap[labels[first]] = gap[first]
        near_served[labels[first]] = served[idx[first]]
    steps = _grid_steps(near_gap, near_served)
    score = population / np.maximum(distance, rule.min_distance_km)

    out = pd.DataFrame(
        {
            "n_cells": n_cells.astype(np.int64),
            "population": population,
            "area_km2": area,
            "code_34": _majority(labels, sub["code_34"], pop).sort_index().to_numpy(),
            "code_63": _majority(labels, sub["code_63"], pop).sort_index().to_numpy(),
            "region_id": _majority(labels, sub["region_id"], pop).sort_index().to_numpy(),
            "distance_km": distance,
            "mean_distance_km": mean_distance,
            "grid_steps": steps,
            "people_per_km": score,
            "seed_cell": seed,
            "nearest_gap_cell": near_gap,
            "nearest_served_cell": near_served,
        }
    )
    for col in ("code_34", "code_63", "region_id"):
        out[col] = out[col].astype("string")
    # rank: best score first (NaN = nothing served, last), then more people, then lowest cell
    key = np.where(np.isnan(score), -np.inf, score)
    ranked = np.lexsort((seed, -population, -key))
    out = out.iloc[ranked].reset_index(drop=True)
    rank = np.arange(1, n + 1, dtype=np.int64)
    out.insert(0, "rank", rank)
    out.insert(0, "cluster_id", rank)
    for version in _VERSIONS:
        out[f"rank_within_province_{version}"] = (
            out.groupby(f"code_{version}", sort=False, dropna=False).cumcount().to_numpy() + 1
        ).astype(np.int64)
    out["rule"] = pd.array([rule.name] * n, dtype="string")
    out.attrs["gap_rule"] = rule_info

    cluster_of_label = np.empty(n, np.int64)
    cluster_of_label[ranked] = rank
    members = pd.DataFrame({"cell": gap, "cluster_id": cluster_of_label[labels], "population": pop})
    return out, members


def cluster_outlines(members: pd.DataFrame, clusters: pd.DataFrame) -> gpd.GeoDataFrame:
    """One (multi)polygon per cluster, the union of its hexagons, with the cluster properties.

    Parameters
    ----------
    members : ``cell, cluster_id`` (from :func:`find_gap_clusters`)
    clusters : the cluster table; its columns become properties (uint64 cell ids as H3 strings)

    Returns
    -------
    GeoDataFrame in EPSG:4326, rank order, exterior rings counter-clockwise (RFC 7946).
    """
    # local import: geodata.publishing.outputs pulls in the whole output stack
    from geodata.publishing.outputs import cells_geodataframe

    _need(members, ("cell", "cluster_id"))
    hexes = cells_geodataframe(members[["cell", "cluster_id"]].reset_index(drop=True))
    # hexagons tile the sphere edge to edge with identical shared vertices, so the fast coverage
    # union applies (12x faster than a unary union nationally); any invalid result is redone
    shapes = hexes[["cluster_id", "geometry"]].dissolve(by="cluster_id", method="coverage")
    bad = ~shapes.is_valid.to_numpy()
    if bad.any():
        redo = hexes[hexes["cluster_id"].isin(shapes.index[bad])]
        fixed = redo[["cluster_id", "geometry"]].dissolve(by="cluster_id", method="unary")
        shapes.loc[fixed.index, "geometry"] = fixed.geometry
    props = clusters.copy()
    for col in ("seed_cell", "nearest_gap_cell", "nearest_served_cell"):
        if col in props:
            props[col] = pd.array(cells_to_strings(props[col].to_numpy(np.uint64)), dtype="string")
    geom = shapes.geometry.reindex(props["cluster_id"].to_numpy())
    geom = shapely.orient_polygons(geom.to_numpy(), exterior_cw=False)
    out = gpd.GeoDataFrame(props.reset_index(drop=True), geometry=geom, crs="EPSG:4326")
    out.attrs.update(clusters.attrs)
    return out


def compare_clusters(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """How gap clusters changed between two periods (same rule, same resolution).

    Parameters
    ----------
    previous, current : the ``members`` frames (``cell, cluster_id``, optional ``population``) of
        :func:`find_gap_clusters` for the earlier and the later period

    Returns
    -------
    One row per previous cluster and one per new current cluster, with ``status``:

    * ``closed``: none of its cells is in gap now;
    * ``shrank`` / ``grew``: the current clusters holding its remaining gap cells have fewer /
      more cells in total than it had (clusters that merge all "grow");
    * ``unchanged``: exactly the same cells form one cluster now;
    * ``shifted``: as many cells as before, but not the same ones;
    * ``new``: a current cluster none of whose cells was in gap before.

    Columns: ``status, cluster_id_previous, cluster_id_current`` (the current cluster holding most
    of its remaining cells; ties -> lowest id), ``n_current_clusters`` (>1 when it split),
    ``n_cells_previous, n_cells_still_gap, n_cells_current`` and, when the inputs carry
    ``population``, ``population_previous, population_current``.
    """
    for frame in (previous, current):
        _need(frame, ("cell", "cluster_id"))
    prev = previous[["cell", "cluster_id"]].rename(columns={"cluster_id": "prev"})
    cur = current[["cell", "cluster_id"]].rename(columns={"cluster_id": "cur"})
    both = prev.merge(cur, on="cell", how="inner")
    n_prev = prev.groupby("prev").size()
    n_cur = cur.groupby("cur").size()
    with_pop = "population" in previous.columns and "population" in current.columns
    if with_pop:
        pop_prev = previous.groupby("cluster_id")["population"].sum()
        pop_cur = current.groupby("cluster_id")["population"].sum()

    pairs = both.groupby(["prev", "cur"]).size().rename("k").reset_index()
    pairs = pairs.sort_values(["prev", "k", "cur"], ascending=[True, False, True], kind="stable")
    main = pairs.drop_duplicates("prev").set_index("prev")["cur"]
    n_links = pairs.groupby("prev").size()
    still = both.groupby("prev").size()
    # total size now of all current clusters that hold some of the previous cluster's cells
    pairs["n_cur"] = n_cur.reindex(pairs["cur"]).to_numpy()
    size_now = pairs.groupby("prev")["n_cur"].sum()

    ids = n_prev.index
    before = n_prev.to_numpy()
    now = size_now.reindex(ids).fillna(0).to_numpy(np.int64)
    kept = still.reindex(ids).fillna(0).to_numpy(np.int64)
    status = np.select(
        [now == 0, now < before, (now == before) & (kept == before), now == before],
        ["closed", "shrank", "unchanged", "shifted"],
        "grew",
    )
    old = pd.DataFrame(
        {
            "status": status,
            "cluster_id_previous": pd.array(ids.to_numpy(), dtype="Int64"),
            "cluster_id_current": pd.array(main.reindex(ids).to_numpy(), dtype="Int64"),
            "n_current_clusters": n_links.reindex(ids).fillna(0).to_numpy(np.int64),
            "n_cells_previous": before.astype(np.int64),
            "n_cells_still_gap": kept,
            "n_cells_current": now,
        }
    )
    if with_pop:
        old["population_previous"] = pop_prev.reindex(ids).to_numpy(np.float64)
        cur_pop_now = pairs.assign(p=pop_cur.reindex(pairs["cur"]).to_numpy()).groupby("prev")["p"]
        old["population_current"] = cur_pop_now.sum().reindex(ids).fillna(0.0).to_numpy()

    fresh_ids = n_cur.index[~n_cur.index.isin(both["cur"].unique())]
    new = pd.DataFrame(
        {
            "status": "new",
            "cluster_id_previous": pd.array([pd.NA] * len(fresh_ids), dtype="Int64"),
            "cluster_id_current": pd.array(fresh_ids.to_numpy(), dtype="Int64"),
            "n_current_clusters": np.ones(len(fresh_ids), np.int64),
            "n_cells_previous": np.zeros(len(fresh_ids), np.int64),
            "n_cells_still_gap": np.zeros(len(fresh_ids), np.int64),
            "n_cells_current": n_cur.reindex(fresh_ids).to_numpy(np.int64),
        }
    )
    if with_pop:
        new["population_previous"] = 0.0
        new["population_current"] = pop_cur.reindex(fresh_ids).to_numpy(np.float64)
    out = pd.concat([old, new], ignore_index=True)
    out["status"] = out["status"].astype("string")
    return out
