"""The per-cell fact table: population, speeds, coverage and provinces on H3 cells.

Facts live on hexagons; provinces are a view. This module joins the kernels' outputs into one
table per period with the columns every indicator reads (the *cell table contract*)::

    cell, population, code_63, code_34, region_id, province_nearest,
    fixed_d_mbps, fixed_u_mbps, fixed_lat_ms, fixed_tests, fixed_devices,
    mobile_d_mbps, mobile_u_mbps, mobile_lat_ms, mobile_tests, mobile_devices,
    best_tech_rank   (-1 = no coverage information, else index in TECH_RANK)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.indicators.adoption import latest_adoption
from geodata.kernels.cells import cells_to_latlng, latlng_to_cells
from geodata.kernels.coverage import ALWAYS, best_rank_per_cell, sites_first_cover
from geodata.kernels.disaggregate import disaggregate_by_population
from geodata.kernels.groupby import group_by_cell
from geodata.kernels.polygons import assign_cells_to_polygons
from geodata.kernels.raster import raster_to_cells
from geodata.kernels.raster_sample import sample_raster_at_points
from geodata.kernels.rollup import rollup
from geodata.readers.raster import check_single_band
from geodata.reference import load_regions
from geodata.study_area import in_study_area

__all__ = [
    "SPEED_COLUMNS",
    "population_cells",
    "assign_provinces",
    "speed_by_cell",
    "coverage_by_cell",
    "coverage_history",
    "coverage_at",
    "build_cell_table",
    "rollup_cell_table",
    "adoption_by_cell",
]

#: Units whose values are counts (split by population share); every other unit is a rate or
#: an index and is given to each cell unchanged.
COUNT_UNITS = frozenset({"count", "persons", "people", "households", "subscriptions"})

SPEED_COLUMNS = ("d_mbps", "u_mbps", "lat_ms", "tests", "devices")


def assign_provinces(
    cells: npt.NDArray[np.uint64],
    provinces: Mapping[str, gpd.GeoDataFrame],
    *,
    study_area: bool = True,
) -> pd.DataFrame:
    """``code_63, code_34, region_id, province_nearest`` for each cell (both boundary versions).

    A cell whose centre lies in the study area (:mod:`geodata.study_area`) gets exactly one
    province per version: the one holding its centre, else the nearest (the coastal sea, islets
    the boundaries miss); ``province_nearest`` flags the latter. Because the study area's sea is
    cut back from the land border, this never reaches across it. A cell outside the study area
    (foreign land, open sea) gets ``""`` in both versions: the caller reports it.

    ``study_area=False`` labels every cell with the province holding, else nearest to, its
    centre: for coarse hexagons aggregated from in-area cells, whose centre may fall abroad or
    at sea although every cell in them is Vietnamese.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    out = pd.DataFrame(index=pd.RangeIndex(len(cells)))
    nearest = np.zeros(len(cells), dtype=bool)
    live = cells != 0
    if live.any() and study_area:
        lat, lng = cells_to_latlng(cells[live])
        live[np.flatnonzero(live)] = in_study_area(lng, lat)
    for version in ("63", "34"):
        codes = np.full(len(cells), "", dtype=object)
        near = np.zeros(len(cells), dtype=bool)
        if live.any():
            codes[live], near[live] = assign_cells_to_polygons(
                cells[live], provinces[version], max_distance_deg=None
            )
        out[f"code_{version}"] = pd.array(codes, dtype="string")
        nearest |= near
    regions = load_regions()["region_id"]
    out["region_id"] = out["code_63"].map(regions).astype("string")
    out["province_nearest"] = nearest
    return out


def population_cells(
    raster_path: str | PathLike[str], res: int, provinces: Mapping[str, gpd.GeoDataFrame]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Population per cell from a population GeoTIFF, with provinces of both versions.

    A raster may reach beyond Vietnam (a UTM tile over the Gulf of Tonkin, a regional grid):
    cells outside the study area are left out of the frame and reported in the stats
    (``outside_cells``, ``outside_people``, and ``outside``: a frame of cell, lat, lng,
    population), so ``raster_total == cells_total + outside_people`` to float rounding.

    Returns the frame and stats ``raster_total, cells_total, outside_people, outside_cells,
    n_cells, mode``.

    Raises
    ------
    InputError
        The raster has more than one band (which one holds the people?), or a negative value
        (a sentinel with no nodata tag): rejected before anything is summed.
    """
    check_single_band(raster_path, "population counts")
    rc = raster_to_cells(raster_path, res, nonnegative=True)
    df = pd.DataFrame({"cell": rc.cells, "population": rc.values})
    df = pd.concat([df, assign_provinces(rc.cells, provinces)], axis=1)
    away = df["code_34"].eq("").to_numpy()
    outside = df.loc[away, ["cell", "population"]].reset_index(drop=True)
    lat, lng = cells_to_latlng(outside["cell"].to_numpy(np.uint64))
    outside.insert(1, "lat", lat)
    outside.insert(2, "lng", lng)
    df = df.loc[~away].reset_index(drop=True)
    stats = {
        "raster_total": float(rc.total),
        "cells_total": float(df["population"].sum()),
        "outside_people": float(outside["population"].sum()),
        "outside_cells": float(len(outside)),
        "n_cells": float(len(df)),
        "n_valid_pixels": float(rc.n_valid_pixels),
        "mode": rc.mode,
        "outside": outside,
    }
    return df, stats


def speed_by_cell(tiles: pd.DataFrame, res: int, prefix: str) -> pd.DataFrame:
    """Tests-weighted speeds per cell from accepted Ookla tiles (columns ``lat, lng`` = centroid).

    Output columns: ``cell, {prefix}_d_mbps, {prefix}_u_mbps, {prefix}_lat_ms, {prefix}_tests,
    {prefix}_devices``.
    """
    cols = [f"{prefix}_{c}" for c in SPEED_COLUMNS]
    if tiles.empty:
        return pd.DataFrame({"cell": np.zeros(0, np.uint64), **{c: [] for c in cols}})
    cells = latlng_to_cells(tiles["lat"].to_numpy(), tiles["lng"].to_numpy(), res)
    tests = tiles["tests"].to_numpy(np.float64)
    ucells, agg = group_by_cell(
        cells,
        sums={"tests": tests, "devices": tiles["devices"].to_numpy(np.float64)},
        means={
            "d_mbps": tiles["avg_d_kbps"].to_numpy(np.float64) / 1000.0,
            "u_mbps": tiles["avg_u_kbps"].to_numpy(np.float64) / 1000.0,
            "lat_ms": tiles["avg_lat_ms"].to_numpy(np.float64),
        },
        weights=tests,
    )
    return pd.DataFrame({"cell": ucells, **{f"{prefix}_{c}": agg[c] for c in SPEED_COLUMNS}})


def coverage_by_cell(
    universe: npt.NDArray[np.uint64],
    res: int,
    *,
    sites: pd.DataFrame | None = None,
    rasters: Sequence[tuple[str | PathLike[str], int] | tuple[str | PathLike[str], int, int]] = (),
) -> pd.DataFrame:
    """Best mobile technology rank per cell from cell sites and coverage rasters, all dates.

    ``universe`` are the cells to report (e.g. populated cells); cells that only sites reach are
    added. A raster contributes its technology rank where the pixel under the cell centre is
    covered (value 1). Sources merge by the higher rank. With no coverage input at all, every
    cell gets -1 (no information), never 0 ("none"). :func:`coverage_history` and
    :func:`coverage_at` give the same per date.
    """
    return coverage_at(coverage_history(universe, res, sites=sites, rasters=rasters), None)


def coverage_history(
    universe: npt.NDArray[np.uint64],
    res: int,
    *,
    sites: pd.DataFrame | None = None,
    rasters: Sequence[tuple[str | PathLike[str], int] | tuple[str | PathLike[str], int, int]] = (),
) -> pd.DataFrame:
    """Since when each cell has had each technology: ``cell, tech_rank, since`` (unix seconds).

    A site counts from its ``created`` time (OpenCelliD/MLS; a site without one, or a table
    without the column, counts for every date); a raster ``(path, rank, since)`` from ``since``
    (``ALWAYS`` or a 2-tuple: every date). Every ``universe`` cell has a row ``(cell, 0, ALWAYS)``
    ("none" known) when there is any coverage input, ``(cell, -1, ALWAYS)`` when there is none.
    Coverage at a date is :func:`coverage_at`: one pass over the sites serves every quarter.
    """
    universe = np.unique(np.asarray(universe, dtype=np.uint64))
    no_input = (sites is None or sites.empty) and not rasters
    parts_c = [universe]
    parts_r = [np.full(len(universe), -1 if no_input else 0, np.int8)]
    parts_s = [np.full(len(universe), ALWAYS, np.int64)]
    if sites is not None and not sites.empty:
        if "created" in sites:
            created = pd.to_numeric(sites["created"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            known = np.isfinite(created)
            since = np.full(len(sites), ALWAYS, np.int64)
            since[known] = created[known].round().astype(np.int64)
        else:
            since = np.full(len(sites), ALWAYS, np.int64)
        sc, sr, ss = sites_first_cover(
            sites["lat"].to_numpy(np.float64),
            sites["lon"].to_numpy(np.float64),
            sites["range"].to_numpy(np.float64),
            sites["tech_rank"].to_numpy(np.int8),
            since,
            res,
        )
        parts_c += [sc]
        parts_r += [sr]
        parts_s += [ss]
    if rasters:
        lat, lng = cells_to_latlng(universe)
        for item in rasters:
            path, rank = item[0], item[1]
            when = int(item[2]) if len(item) > 2 else ALWAYS
            covered = sample_raster_at_points(path, lat, lng) == 1
            parts_c.append(universe[covered])
            parts_r.append(np.full(int(covered.sum()), rank, np.int8))
            parts_s.append(np.full(int(covered.sum()), when, np.int64))
    return pd.DataFrame(
        {
            "cell": np.concatenate(parts_c),
            "tech_rank": np.concatenate(parts_r),
            "since": np.concatenate(parts_s),
        }
    )


def coverage_at(history: pd.DataFrame, when: int | None) -> pd.DataFrame:
    """``cell, best_tech_rank`` at unix time ``when`` (None: every source, whatever its date)
    from a :func:`coverage_history` table."""
    cells = history["cell"].to_numpy(np.uint64)
    ranks = history["tech_rank"].to_numpy(np.int8)
    if when is not None:
        on = history["since"].to_numpy(np.int64) <= int(when)
        cells, ranks = cells[on], ranks[on]
    ucells, best = best_rank_per_cell(cells, ranks)
    return pd.DataFrame({"cell": ucells, "best_tech_rank": best.astype(np.int8)})


def build_cell_table(
    pop: pd.DataFrame,
    fixed: pd.DataFrame,
    mobile: pd.DataFrame,
    coverage: pd.DataFrame,
    provinces: Mapping[str, gpd.GeoDataFrame],
) -> pd.DataFrame:
    """Outer-join population, fixed and mobile speeds and coverage on ``cell``.

    Cells with measurements but no population keep population 0 and get their provinces
    assigned here (nearest province for coastal cells). Cells outside the study area are outside
    Vietnam: they are left out of the table and listed in ``table.attrs["cells_outside_vietnam"]``
    (ids) and ``table.attrs["outside"]`` (a frame of cell, lat, lng, population, fixed_tests,
    mobile_tests) so the caller reports them.
    """
    table = pop.merge(fixed, on="cell", how="outer").merge(mobile, on="cell", how="outer")
    table = table.merge(coverage, on="cell", how="left")
    table["population"] = table["population"].fillna(0.0)
    for prefix in ("fixed", "mobile"):
        for col in ("tests", "devices"):
            table[f"{prefix}_{col}"] = table[f"{prefix}_{col}"].fillna(0.0)
    no_cov = -1 if coverage["best_tech_rank"].eq(-1).all() else 0
    table["best_tech_rank"] = table["best_tech_rank"].fillna(no_cov).astype(np.int8)
    missing = table["code_34"].isna().to_numpy()
    if missing.any():
        assigned = assign_provinces(table.loc[missing, "cell"].to_numpy(np.uint64), provinces)
        for col in assigned.columns:
            table.loc[missing, col] = assigned[col].to_numpy()
    table["cell"] = table["cell"].astype(np.uint64)
    table = table.sort_values("cell", kind="stable").reset_index(drop=True)
    outside = table["code_34"].isna() | table["code_34"].eq("")
    # measurements outside the study area (a tile in Laos, at sea): reported, in no province
    kept = table.loc[~outside].reset_index(drop=True)
    kept.attrs["cells_outside_vietnam"] = table.loc[outside, "cell"].to_numpy(np.uint64)
    away = table.loc[outside, ["cell", "population", "fixed_tests", "mobile_tests"]]
    away = away.reset_index(drop=True)
    lat, lng = cells_to_latlng(away["cell"].to_numpy(np.uint64))
    away.insert(1, "lat", lat)
    away.insert(2, "lng", lng)
    kept.attrs["outside"] = away
    return kept


def rollup_cell_table(table: pd.DataFrame, res: int) -> pd.DataFrame:
    """Coarser cells: population and people per class summed, speeds tests-weighted."""
    sums = {"population": table["population"].to_numpy(np.float64)}
    for cls in ("served", "underserved", "unserved", "no_data"):
        if "service_class" in table:
            sums[f"people_{cls}"] = np.where(
                table["service_class"] == cls, table["population"], 0.0
            )
    out: dict[str, npt.NDArray] = {}
    for prefix in ("fixed", "mobile"):
        tests = table[f"{prefix}_tests"].to_numpy(np.float64)
        cells, agg = rollup(
            table["cell"].to_numpy(np.uint64),
            res,
            means={
                f"{prefix}_{c}": table[f"{prefix}_{c}"].to_numpy(np.float64)
                for c in ("d_mbps", "u_mbps", "lat_ms")
            },
            sums={f"{prefix}_tests": tests},
            weights=tests,
        )
        out.update({k: v for k, v in agg.items() if k.startswith(prefix)})
    cells, agg = rollup(table["cell"].to_numpy(np.uint64), res, sums=sums)
    out.update(agg)
    out.pop("count", None)
    out.pop("weight", None)
    return pd.DataFrame({"cell": cells, **out})


def adoption_by_cell(table: pd.DataFrame, adoption: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """Province adoption statistics on cells: ``adoption_<indicator>`` columns, one per indicator.

    Each indicator's latest value on or before ``as_of`` is taken in the boundary version it was
    reported in (34 preferred, else 63) and disaggregated with the cells' province codes: rates
    and indices are given to every cell of the province, counts are split by population share.
    """
    out = pd.DataFrame(index=table.index)
    if adoption.empty:
        return out
    units = adoption.groupby("indicator")["unit"].first().astype(str).str.lower()
    pop = table["population"].to_numpy(np.float64)
    for version in ("63", "34"):  # 34 last, so it wins where both report an indicator
        wide = latest_adoption(adoption, version, as_of)
        codes = table[f"code_{version}"].astype(str).to_numpy()
        for indicator in [c for c in wide.columns if c != "code" and not c.endswith("__period")]:
            have = wide[indicator].notna().to_numpy()
            kind = "count" if units.get(indicator, "") in COUNT_UNITS else "rate"
            values, _ = disaggregate_by_population(
                codes,
                pop,
                wide.loc[have, "code"].astype(str).to_numpy(),
                pd.to_numeric(wide.loc[have, indicator]).to_numpy(np.float64),
                kind,
            )
            col = f"adoption_{indicator}"
            out[col] = values if col not in out else np.where(np.isnan(values), out[col], values)
    return out
