"""The mobile site plan as a planner reads it: named places, provinces, people, cost; and the
cost curve ("with 200 more sites, 1.4 M more people").

Files below the output directory (names are a contract with users)::

    priorities/mobile_sites_{quarter}.csv        national ranked sites
    priorities/mobile_sites_{quarter}.geojson    the same as points (RFC 7946, provenance)
    priorities/cost_curve_{quarter}.csv          people reached against sites and cost:
                                                 nation, and every province of both versions
    downloads/{version}/{code}_{slug}/{quarter}_mobile_sites.{csv,geojson}
                                                 one province's sites, national rank kept

Costs are in US dollars (``PlanCosts``: unit cost and its source, in the provenance).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geodata.cell_table import assign_provinces
from geodata.kernels.cells import cells_to_strings
from geodata.kernels.sphere import chord_to_km, unit_vectors
from geodata.planning.routes import RoutePlan
from geodata.planning.sites import SitePlan
from geodata.publishing.downloads import DOWNLOADS_DIR, province_slug
from geodata.reference import (
    BOUNDARY_VERSIONS,
    load_provinces,
    load_regions,
    load_settlements,
    province_names,
    provinces_within,
)
from geodata.writers import write_csv
from geodata.writers.geojson import write_geojson

__all__ = [
    "ROUTE_COLUMNS",
    "label_routes",
    "route_curve",
    "route_rule",
    "write_route_plan",
    "write_cost_curve",
    "write_province_plan_maps",
    "SITE_COLUMNS",
    "label_sites",
    "cost_curve",
    "curve_headline",
    "plan_rule",
    "write_site_plan",
]

#: Columns of the published site tables, in order.
SITE_COLUMNS = (
    "rank",
    "lat",
    "lng",
    "h3",
    "province_34",
    "province_34_name",
    "province_63",
    "province_63_name",
    "region",
    "place",
    "place_km",
    "people_new",
    "people_cumulative",
    "share_of_need_cumulative",
    "cells_new",
    "cost",
    "cost_cumulative",
)


def nearest_places(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Name of, and great-circle km to, the nearest shipped GeoNames populated place."""
    places = load_settlements().dropna(subset=["latitude", "longitude"])
    tree = cKDTree(unit_vectors(places["latitude"], places["longitude"]))
    chord, idx = tree.query(unit_vectors(lat, lng))
    return places["name"].to_numpy(dtype=object)[idx], chord_to_km(chord)


def _where(
    lat: np.ndarray, lng: np.ndarray, code_34: np.ndarray, code_63: np.ndarray
) -> pd.DataFrame:
    """Provinces of both versions with their names, region and nearest place of each row."""
    regions = load_regions()
    region_name = regions.drop_duplicates("region_id").set_index("region_id")["region_name_en"]
    place, place_km = nearest_places(lat, lng)
    out = pd.DataFrame(index=pd.RangeIndex(len(lat)))
    for v, code in (("34", code_34), ("63", code_63)):
        code = pd.Series(code, dtype=object).fillna("").astype(str).to_numpy(dtype=object)
        out[f"province_{v}"] = code
        out[f"province_{v}_name"] = (
            province_names(v)["name"].reindex(code).fillna("").to_numpy(dtype=object)
        )
    out["region"] = (
        region_name.reindex(regions["region_id"].reindex(out["province_63"]).to_numpy())
        .fillna("")
        .to_numpy()
    )
    out["place"] = place
    out["place_km"] = np.round(place_km, 2)
    return out


def label_sites(plan: SitePlan) -> pd.DataFrame:
    """The plan's sites with the published columns (:data:`SITE_COLUMNS`)."""
    s = plan.sites
    cells = s["cell"].to_numpy(np.uint64)
    provinces = {v: load_provinces(v, simplified=True) for v in BOUNDARY_VERSIONS}
    codes = assign_provinces(cells, provinces, study_area=False)
    lat, lng = s["lat"].to_numpy(), s["lng"].to_numpy()
    need = plan.people_in_need
    out = pd.DataFrame({"rank": s["rank"], "lat": s["lat"].round(6), "lng": s["lng"].round(6)})
    out["h3"] = cells_to_strings(cells)
    where = _where(lat, lng, codes["code_34"].to_numpy(), codes["code_63"].to_numpy())
    out = pd.concat([out.reset_index(drop=True), where], axis=1)
    out["people_new"] = s["people_new"].round(1)
    out["people_cumulative"] = s["people_cumulative"].round(1)
    out["share_of_need_cumulative"] = (s["people_cumulative"] / need).round(6) if need > 0 else 0.0
    out["cells_new"] = s["targets_new"]
    out["cost"] = s["cost_usd"]
    out["cost_cumulative"] = s["cost_cumulative_usd"]
    return out[list(SITE_COLUMNS)]


def _target_codes(plan: SitePlan, cells: pd.DataFrame | None) -> pd.DataFrame:
    """``code_34, code_63`` of each target: from the cell table the targets came from (which has
    them), else assigned from the boundaries (about 0.8 s for 300 k cells)."""
    if cells is not None and {"cell", "code_34", "code_63"} <= set(cells.columns):
        table = cells[["cell", "code_34", "code_63"]].drop_duplicates("cell").set_index("cell")
        found = table.reindex(pd.Index(plan.targets, dtype=np.uint64))
        if not found.isna().any().any():
            return found.reset_index(drop=True).astype(str)
    provinces = {v: load_provinces(v, simplified=True) for v in BOUNDARY_VERSIONS}
    return assign_provinces(plan.targets, provinces, study_area=False)


def cost_curve(
    labelled: pd.DataFrame, plan: SitePlan, cells: pd.DataFrame | None = None
) -> pd.DataFrame:
    """People reached against sites and cost, nationally and per province of both versions.

    Columns ``plan, scope, version, code, name, built, km, people, cost, people_in_need, share``
    (``built``: sites; ``km`` is for fibre plans); a province's curve follows the national order
    restricted to its sites (the plan is national: the curve says what it does for the province).
    ``cells``: the cell table the targets came from, for their provinces.
    """
    need_codes = _target_codes(plan, cells)
    need = {
        v: pd.Series(plan.people).groupby(need_codes[f"code_{v}"].to_numpy()).sum()
        for v in ("34", "63")
    }
    return _curves(
        "mobile_sites",
        labelled,
        people=("people_new", "people_cumulative"),
        cost=("cost", "cost_cumulative"),
        km=None,
        nation_need=plan.people_in_need,
        province_need=lambda v, code, part: float(need[v].get(code, 0.0)),
    )


def _curves(
    plan: str,
    labelled: pd.DataFrame,
    *,
    people: tuple[str, str],
    cost: tuple[str, str],
    km: tuple[str, str] | None,
    nation_need: float,
    province_need: Callable[[str, str, pd.DataFrame], float],
) -> pd.DataFrame:
    """The curve of a plan, the nation's from its cumulative columns and each province's from
    the per-row columns (``(per row, cumulative)`` pairs) in national order."""
    rows = [
        pd.DataFrame(
            {
                "plan": plan,
                "scope": "nation",
                "version": "",
                "code": "VN",
                "name": "Việt Nam",
                "built": labelled["rank"].to_numpy(),
                "km": labelled[km[1]].to_numpy() if km else np.nan,
                "people": labelled[people[1]].to_numpy(),
                "cost": labelled[cost[1]].to_numpy(),
                "people_in_need": round(nation_need, 1),
            }
        )
    ]
    for v in ("34", "63"):
        names = province_names(v)["name"]
        for code, part in labelled.groupby(f"province_{v}", sort=True):
            if not code:
                continue
            rows.append(
                pd.DataFrame(
                    {
                        "plan": plan,
                        "scope": "province",
                        "version": v,
                        "code": code,
                        "name": names.get(code, ""),
                        "built": np.arange(1, len(part) + 1),
                        "km": part[km[0]].cumsum().round(3).to_numpy() if km else np.nan,
                        "people": part[people[0]].cumsum().round(1).to_numpy(),
                        "cost": part[cost[0]].cumsum().to_numpy(),
                        "people_in_need": round(province_need(v, code, part), 1),
                    }
                )
            )
    curve = pd.concat(rows, ignore_index=True)
    curve["share"] = np.where(
        curve["people_in_need"] > 0, (curve["people"] / curve["people_in_need"]).round(6), 0.0
    )
    return curve


def curve_headline(labelled: pd.DataFrame, steps: tuple[int, ...] = (100, 200, 500, 1000)) -> str:
    """One line per step: "with 200 sites (USD 20 M), 1.4 M more people"."""
    parts = []
    for n in steps:
        if n > len(labelled):
            break
        row = labelled.iloc[n - 1]
        parts.append(
            f"{n} sites (USD {row['cost_cumulative'] / 1e6:,.0f} M): "
            f"{row['people_cumulative'] / 1e6:,.2f} M people"
        )
    return "; ".join(parts) if parts else "no site reaches anyone"


def plan_rule(plan: SitePlan) -> dict[str, Any]:
    """What the plan assumed, for provenance."""
    c = plan.costs
    return {
        "targets": f"populated cells whose best mobile technology is below {c.site_technology} "
        "(known coverage only: unknown is not a target)",
        "choice": "exact lazy greedy (CELF): each site reaches the most people not yet reached; "
        "ties to the lower H3 cell",
        "site_technology": c.site_technology,
        "site_radius_km": c.site_radius_km,
        "site_radius_source": c.site_radius_source,
        "site_cost_usd": c.site_cost_usd,
        "site_cost_source": c.site_cost_source,
        "currency": "USD",
        "candidates": plan.candidates,
        "people_in_need": round(plan.people_in_need, 1),
    }


def _points(table: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lng"], table["lat"]), crs=4326
    )


def _per_province(
    table: pd.DataFrame,
    geo: gpd.GeoDataFrame,
    name: str,
    root: Path,
    provenance: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """``downloads/{version}/{code}_{slug}/{name}.{csv,geojson}`` for every province of both
    versions (empty files where a province has no row), national order kept; the listing."""
    rows: list[dict[str, Any]] = []
    for v in BOUNDARY_VERSIONS:
        groups = table.groupby(f"province_{v}", sort=False).indices
        for code, row in province_names(v).iterrows():
            folder = f"{DOWNLOADS_DIR}/{v}/{code}_{province_slug(str(row['name_ascii']))}"
            idx = groups.get(code, np.zeros(0, np.int64))
            pprov = {
                **provenance,
                "scope": "province",
                "boundary_version": v,
                "province_code": code,
                "province_name": str(row["name"]),
            }
            write_csv(table.iloc[idx], root / f"{folder}/{name}.csv")
            write_geojson(geo.iloc[idx], root / f"{folder}/{name}.geojson", provenance=pprov)
            for ext in ("csv", "geojson"):
                rows.append(
                    {"path": f"{folder}/{name}.{ext}", "scope": "province", "version": v,
                     "code": code, "rows": len(idx)}
                )  # fmt: skip
    return rows


def write_site_plan(
    plan: SitePlan,
    quarter: str,
    out_root: str | Path,
    provenance: Mapping[str, Any],
    cells: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Write the national and per-province site files; return the sites and the cost curve
    (``cells``: the cell table the targets came from, for their provinces).

    Returns ``(labelled sites, cost curve, listing)``; the listing has ``path, scope, version,
    code, rows`` with paths relative to ``out_root``.
    """
    root = Path(out_root)
    labelled = label_sites(plan)
    curve = cost_curve(labelled, plan, cells)
    rule = plan_rule(plan)
    rows: list[dict[str, Any]] = []
    base = f"priorities/mobile_sites_{quarter}"
    prov = {**provenance, "period": quarter, "scope": "national", "site_plan": rule}
    write_csv(labelled, root / f"{base}.csv")
    write_geojson(_points(labelled), root / f"{base}.geojson", provenance=prov)
    rows += [
        {"path": f"{base}.csv", "scope": "national", "rows": len(labelled)},
        {"path": f"{base}.geojson", "scope": "national", "rows": len(labelled)},
    ]
    rows += _per_province(labelled, _points(labelled), f"{quarter}_mobile_sites", root, prov)
    return labelled, curve, pd.DataFrame(rows)


#: Columns of the published fibre-route tables, in order.
ROUTE_COLUMNS = (
    "rank",
    "lat",
    "lng",
    "h3_res6",
    "province_34",
    "province_34_name",
    "province_63",
    "province_63_name",
    "region",
    "place",
    "place_km",
    "people",
    "cells",
    "km",
    "people_per_km",
    "cost",
    "route",
    "fed_from",
    "people_cumulative",
    "km_cumulative",
    "cost_cumulative",
)


def label_routes(plan: RoutePlan) -> pd.DataFrame:
    """The fibre units with the published columns (:data:`ROUTE_COLUMNS`), in build order."""
    r = plan.routes
    out = pd.DataFrame({"rank": r["rank"], "lat": r["lat"].round(6), "lng": r["lng"].round(6)})
    out["h3_res6"] = cells_to_strings(r["parent"].to_numpy(np.uint64))
    where = _where(
        r["lat"].to_numpy(), r["lng"].to_numpy(), r["code_34"].to_numpy(), r["code_63"].to_numpy()
    )
    out = pd.concat([out.reset_index(drop=True), where], axis=1)
    out["people"] = r["people"].round(1)
    out["cells"] = r["cells"]
    out["km"] = r["km"].round(3)
    out["people_per_km"] = r["people_per_km"].round(1)
    out["cost"] = r["cost"].round(0)
    out["route"] = r["route"]
    out["fed_from"] = r["fed_from"]
    out["people_cumulative"] = r["people_cumulative"].round(1)
    out["km_cumulative"] = r["km_cumulative"].round(3)
    out["cost_cumulative"] = r["cost_cumulative"].round(0)
    return out[list(ROUTE_COLUMNS)]


def route_curve(labelled: pd.DataFrame) -> pd.DataFrame:
    """People reached against units built, km and cost for the fibre plan: the nation and
    every province of both versions (national build order restricted to the province)."""
    return _curves(
        "fibre_routes",
        labelled,
        people=("people", "people_cumulative"),
        cost=("cost", "cost_cumulative"),
        km=("km", "km_cumulative"),
        nation_need=float(labelled["people"].sum()),
        province_need=lambda v, code, part: float(part["people"].sum()),
    )


def route_rule(plan: RoutePlan) -> dict[str, Any]:
    """What the fibre plan assumed, for provenance."""
    c = plan.costs
    return {
        "units": "fixed gap cells (measured below 25/3 Mbps where people live) grouped by res-6 "
        "parent within one province (34)",
        "network": "served cells (fixed class served or underserved)",
        "route": "shortest of: along the shipped national and provincial roads (Dijkstra), or "
        "straight to the nearest served cell; straight stretches x the detour factor; units "
        "chained by a minimum spanning tree (network + units, 6 nearest neighbours)",
        "order": "a unit once its feeder is built, most people per km of its own fibre first",
        "detour_factor": c.fibre_detour_factor,
        "detour_source": c.fibre_detour_source,
        "fibre_cost_usd_per_km": c.fibre_cost_usd_per_km,
        "fibre_cost_source": c.fibre_cost_source,
        "currency": "USD",
    }


def write_route_plan(
    plan: RoutePlan,
    quarter: str,
    out_root: str | Path,
    provenance: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the national and per-province fibre-route files; returns (labelled, listing)."""
    root = Path(out_root)
    labelled = label_routes(plan)
    prov = {**provenance, "period": quarter, "scope": "national", "fibre_plan": route_rule(plan)}
    base = f"priorities/fixed_routes_{quarter}"
    lines = gpd.GeoDataFrame(labelled, geometry=list(plan.lines), crs=4326)
    write_csv(labelled, root / f"{base}.csv")
    write_geojson(lines, root / f"{base}.geojson", provenance=prov)
    rows: list[dict[str, Any]] = [
        {"path": f"{base}.csv", "scope": "national", "rows": len(labelled)},
        {"path": f"{base}.geojson", "scope": "national", "rows": len(labelled)},
    ]
    rows += _per_province(labelled, lines, f"{quarter}_fixed_routes", root, prov)
    return labelled, pd.DataFrame(rows)


def write_cost_curve(curves: list[pd.DataFrame], quarter: str, out_root: str | Path) -> Path:
    """``priorities/cost_curve_{quarter}.csv``: every plan's curve in one table."""
    table = pd.concat(curves, ignore_index=True)
    return write_csv(table, Path(out_root) / f"priorities/cost_curve_{quarter}.csv")


def write_province_plan_maps(
    sites: pd.DataFrame,
    routes: pd.DataFrame,
    route_lines: Any,
    quarter: str,
    out_root: str | Path,
    *,
    sample: bool,
    source: str = "",
    provinces_34: Collection[str] | None = None,
) -> list[str]:
    """``downloads/{version}/{code}_{slug}/{quarter}_plan.png`` for every province of both
    versions: the province's planned sites and fibre (national ranks). Returns the paths.

    ``provinces_34``: only these 34-version provinces and the old (63) provinces lying in them
    (each map depends on its own province's rows only, so the maps of a set of provinces are
    the same bytes whether drawn alone or with all the others)."""
    from geodata.provenance import atomic_write_bytes
    from geodata.publishing.maps import province_plan_map_png

    root = Path(out_root)
    lines = np.asarray(list(route_lines), dtype=object)
    within = None if provinces_34 is None else provinces_within(provinces_34)
    written = []
    for v in BOUNDARY_VERSIONS:
        provinces = load_provinces(v, simplified=True)
        names = province_names(v)
        if within is not None:
            names = names.loc[list(within[v])]
        s_groups = sites.groupby(f"province_{v}", sort=False).indices
        r_groups = routes.groupby(f"province_{v}", sort=False).indices
        for code, row in names.iterrows():
            shape = provinces.loc[[code]]
            w, s, e, n = shape.total_bounds
            near = provinces.loc[
                (provinces["code"] != code)
                & provinces.intersects(shapely.box(w - 0.3, s - 0.3, e + 0.3, n + 0.3))
            ]
            si = s_groups.get(code, np.zeros(0, np.int64))
            ri = r_groups.get(code, np.zeros(0, np.int64))
            png = province_plan_map_png(
                shape,
                near,
                sites.iloc[si],
                routes.iloc[ri],
                list(lines[ri]),
                title=f"{row['name']}: kế hoạch / plans, {quarter}",
                sample=sample,
                source=source,
            )
            folder = f"{DOWNLOADS_DIR}/{v}/{code}_{province_slug(str(row['name_ascii']))}"
            rel = f"{folder}/{quarter}_plan.png"
            atomic_write_bytes(root / rel, png)
            written.append(rel)
    return written
