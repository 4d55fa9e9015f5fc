"""Province (63 and 34), region and national summaries of the cell table, change between periods,
and national inequality.

Facts live on cells; a province is a view. Every summary is built from additive sums per pair
of old and new province (:func:`cell_sums`, one vectorised pass over the cells), added up per unit
(``np.bincount`` against the complete list of units), so a province without cells is still a row
(population 0, shares NaN) and population is conserved: the units of any view sum to the cells'
total. Sums of pieces of the cells (each province's, summed in a step of its own) merge exactly.

Examples
--------
>>> cells = pd.DataFrame({
...     "cell": np.array([1, 2], np.uint64), "population": [100.0, 300.0],
...     "code_63": ["01", "01"], "code_34": ["01", "01"],
...     "fixed_d_mbps": [150.0, np.nan], "fixed_u_mbps": [30.0, np.nan],
...     "fixed_lat_ms": [10.0, np.nan], "fixed_tests": [4, 0],
...     "mobile_d_mbps": [np.nan] * 2, "mobile_u_mbps": [np.nan] * 2,
...     "mobile_lat_ms": [np.nan] * 2, "mobile_tests": [0, 0],
...     "best_tech_rank": np.array([-1, 2], np.int8)})
>>> s = summarise(cells, by="34").set_index("code")
>>> s.loc["01", ["people_served", "people_unserved", "share_unserved"]].tolist()
[100.0, 300.0, 0.75]
>>> len(s)
34
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.errors import InputError, SchemaError
from geodata.indicators.inequality import (
    gini_weighted,
    gini_weighted_by_group,
    theil_sums,
    theil_t_from_sums,
)
from geodata.indicators.service import (
    DEFAULT_THRESHOLDS,
    SERVICE_CLASSES,
    ServiceThresholds,
    classify_cells,
)
from geodata.reference import load_regions, province_codes, province_names
from geodata.technology import TECH_RANK

__all__ = [
    "SummaryView",
    "SUMMARY_VIEWS",
    "ATOM",
    "summarise",
    "change_since",
    "inequality_table",
    "cell_sums",
    "merge_cell_sums",
    "gini_rows",
    "merge_gini_rows",
    "summaries_from_sums",
    "inequality_from_sums",
]

SummaryView = Literal["63", "34", "region", "nation"]
#: The views :func:`summarise` knows.
SUMMARY_VIEWS: tuple[SummaryView, ...] = ("63", "34", "region", "nation")

_TABLE = "cell table"
_KINDS = ("fixed", "mobile")
_SPEEDS = ("d_mbps", "u_mbps", "lat_ms")
_NATION = {"code": "VN", "name": "Việt Nam", "name_ascii": "Viet Nam"}
_RANK_4G, _RANK_5G = TECH_RANK.index("4G"), TECH_RANK.index("5G")


def _units(by: str) -> pd.DataFrame:
    """The complete, ordered list of units of a view with their label columns."""
    if by in ("63", "34"):
        return province_names(by).reset_index(drop=True)[["code", "name", "name_ascii"]]
    if by == "region":
        regions = load_regions()
        return (
            regions[["region_id", "region_name_vi", "region_name_en"]]
            .drop_duplicates("region_id")
            .reset_index(drop=True)
        )
    if by == "nation":
        return pd.DataFrame({k: [v] for k, v in _NATION.items()})
    raise ValueError(f"by must be one of {SUMMARY_VIEWS}, got {by!r}")


def _codes_of(cells: pd.DataFrame, column: str, version: str) -> npt.NDArray[np.int64]:
    """Position of each cell's province in ``province_codes(version)``; unknown codes raise."""
    values = cells[column].astype(object).to_numpy()
    codes = pd.Index(province_codes(version)).get_indexer(values).astype(np.int64)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        value = cells[column].iloc[bad[0]]
        raise InputError(
            _TABLE,
            f"{value!r} is not a province code of boundary version {version} "
            f"({bad.size} cells without a valid code)",
            row=int(bad[0]) + 1,
            column=column,
        )
    return codes


def _group_codes(cells: pd.DataFrame, by: str, units: pd.DataFrame) -> npt.NDArray[np.int64]:
    if by in ("63", "34"):
        return _codes_of(cells, f"code_{by}", by)
    if by == "region":
        region_of_63 = load_regions().loc[list(province_codes("63")), "region_id"]
        pos = pd.Index(units["region_id"]).get_indexer(region_of_63.to_numpy())
        return pos[_codes_of(cells, "code_63", "63")].astype(np.int64)
    return np.zeros(len(cells), dtype=np.int64)


def _population(cells: pd.DataFrame) -> npt.NDArray[np.float64]:
    if "population" not in cells.columns:
        raise SchemaError(_TABLE, "missing column 'population'", column="population")
    pop = cells["population"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(pop) | (pop < 0))
    if bad.size:
        raise InputError(
            _TABLE,
            f"population {pop[bad[0]]} is not a finite number >= 0 ({bad.size} cells)",
            row=int(bad[0]) + 1,
            column="population",
        )
    return pop


def _measured_mask(cells: pd.DataFrame, kind: str, col: str) -> npt.NDArray[np.bool_]:
    value = cells[f"{kind}_{col}"].to_numpy(dtype=np.float64, na_value=np.nan)
    tests = cells[f"{kind}_tests"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return (tests >= 1) & np.isfinite(value)


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def summarise(
    cells: pd.DataFrame, by: SummaryView, thr: ServiceThresholds = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """One row per unit of a view: every province of ``"63"`` or ``"34"``, every region, or the
    nation, with people per service class and population-weighted indicators.

    Parameters
    ----------
    cells : the cell table (contract in ``geodata.cell_table``); service classes are recomputed
        with ``thr`` so the ``thresholds`` column is always true
    by : ``"63"``, ``"34"`` (province codes of that boundary version), ``"region"`` (the six
        socio-economic regions, taken from each cell's ``code_63``) or ``"nation"``
    thr : service thresholds

    Returns
    -------
    DataFrame, units in official order, columns:

    * ``code, name, name_ascii`` (provinces; the nation is ``VN``) or
      ``region_id, region_name_vi, region_name_en``;
    * ``population, n_cells``; ``people_<class>`` for each of ``SERVICE_CLASSES`` (they sum to
      ``population``) and ``share_<class>`` of population;
    * ``fixed_d_mbps, fixed_u_mbps, fixed_lat_ms, mobile_...``: means weighted by the population of
      the cells with a measurement (>= 1 test), NaN when none;
    * ``pop_measured_fixed/mobile`` and ``share_measured_fixed/mobile``: people in measured cells;
    * ``pop_coverage_4g_plus, share_coverage_4g_plus, pop_coverage_5g, share_coverage_5g``: people
      in cells whose best technology is at least 4G / is 5G;
    * ``mobile_d_mbps_4g, mobile_d_mbps_5g``: mean mobile download (weighted as above) over the
      measured cells whose best technology is 4G / 5G (tiles do not name the technology a test
      used: the cell's best one at the quarter's end stands in for it);
    * ``gini_fixed_down``: population-weighted Gini of fixed download over the unit's measured cells;
    * ``rank``: 1 = largest share of people unserved; ties and units without people (last) by
      code, so it is deterministic;
    * ``thresholds``: ``thr.name``.

    A unit without cells has population 0, counts 0 and NaN shares, means and Gini.
    """
    return summaries_from_sums(cell_sums(cells, thr), gini_rows(cells), by)


#: The atoms of the partial sums: every view's units are unions of them (a region is a union
#: of old provinces), and the two boundary versions are assigned to cells independently.
ATOM = ("code_63", "code_34")


def cell_sums(cells: pd.DataFrame, thr: ServiceThresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """The additive parts of every summary and of Theil T: sums over the cells of each atom
    (pair of old and new province, :data:`ATOM`), one row per atom with cells, in code order.

    Columns: ``code_63, code_34, population, n_cells, people_<class>``; per speed column
    ``w_<kind>_<col>`` (people in cells measuring it) and ``wx_<kind>_<col>`` (those people
    times the value); ``w_/wx_mobile_d_mbps_4g`` and ``_5g``; ``pop_coverage_4g_plus``,
    ``pop_coverage_5g``; ``wxlnx_fixed_d_mbps`` (people x value x ln value, for Theil T);
    ``thresholds``.

    Sums of disjoint pieces of the cells (:func:`merge_cell_sums`) equal the sums of the whole,
    bit for bit when each atom's cells lie in one piece (``np.bincount`` adds each atom's cells
    in their order, which a piece keeps): so the cells of each new province can be summed in a
    step of their own and the nation, regions and both versions built from the pieces
    (:func:`summaries_from_sums`, :func:`inequality_from_sums`).
    """
    classified = classify_cells(cells, thr)
    pop = _population(classified)
    i63 = _codes_of(classified, "code_63", "63")
    i34 = _codes_of(classified, "code_34", "34")
    n34 = len(province_codes("34"))
    n = len(province_codes("63")) * n34
    atom = i63 * n34 + i34

    def total(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.bincount(atom, weights=weights, minlength=n).astype(np.float64, copy=False)

    count = np.bincount(atom, minlength=n)
    out: dict[str, npt.NDArray] = {"population": total(pop), "n_cells": count.astype(np.int64)}
    cls = classified["service_class"].cat.codes.to_numpy()
    for i, c in enumerate(SERVICE_CLASSES):
        out[f"people_{c}"] = total(np.where(cls == i, pop, 0.0))
    for kind in _KINDS:
        for col in _SPEEDS:
            m = _measured_mask(classified, kind, col)
            value = classified[f"{kind}_{col}"].to_numpy(dtype=np.float64, na_value=np.nan)
            w = np.where(m, pop, 0.0)
            out[f"w_{kind}_{col}"] = total(w)
            out[f"wx_{kind}_{col}"] = total(w * np.where(m, value, 0.0))
    rank = np.nan_to_num(
        classified["best_tech_rank"].to_numpy(dtype=np.float64, na_value=np.nan), nan=-1.0
    )
    for label, min_rank in (("4g_plus", _RANK_4G), ("5g", _RANK_5G)):
        out[f"pop_coverage_{label}"] = total(np.where(rank >= min_rank, pop, 0.0))
    mobile_down = classified["mobile_d_mbps"].to_numpy(dtype=np.float64, na_value=np.nan)
    measured = _measured_mask(classified, "mobile", "d_mbps")
    for label, tech in (("4g", _RANK_4G), ("5g", _RANK_5G)):
        w = np.where(measured & (rank == tech), pop, 0.0)
        out[f"w_mobile_d_mbps_{label}"] = total(w)
        out[f"wx_mobile_d_mbps_{label}"] = total(w * np.where(w > 0, mobile_down, 0.0))
    fixed_down = _measured_values(classified, "fixed")
    _, _, out["wxlnx_fixed_d_mbps"] = theil_sums(fixed_down, pop, atom, n)
    present = np.flatnonzero(count)
    table = pd.DataFrame(
        {
            "code_63": np.asarray(province_codes("63"), dtype=object)[present // n34],
            "code_34": np.asarray(province_codes("34"), dtype=object)[present % n34],
            **{k: v[present] for k, v in out.items()},
        }
    )
    table["thresholds"] = thr.name
    return table


def merge_cell_sums(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """:func:`cell_sums` of disjoint pieces of the cells, added up atom by atom (code order)."""
    names = {str(t) for p in pieces for t in p["thresholds"].unique()}
    if len(names) > 1:
        raise ValueError(f"pieces summed with different thresholds: {sorted(names)}")
    if not pieces:
        raise ValueError("no pieces to merge")
    table = pd.concat(pieces, ignore_index=True).drop(columns="thresholds")
    merged = table.groupby(list(ATOM), sort=True).sum().reset_index()
    merged["thresholds"] = names.pop()
    return merged


def _measured_values(cells: pd.DataFrame, kind: str) -> npt.NDArray[np.float64]:
    """Download speed of each cell where measured (>= 1 test), else NaN."""
    return np.where(
        _measured_mask(cells, kind, "d_mbps"),
        cells[f"{kind}_d_mbps"].to_numpy(dtype=np.float64, na_value=np.nan),
        np.nan,
    )


def gini_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """What a Gini coefficient needs that sums cannot hold: every populated cell with a
    measured download (``cell, code_63, code_34, population, fixed_down, mobile_down``, NaN
    where not measured), in cell order, so that rows of pieces concatenated and sorted
    (:func:`merge_gini_rows`) are the rows of the whole."""
    for col in ("cell", "fixed_tests", "mobile_tests"):
        if col not in cells.columns:
            raise SchemaError(_TABLE, f"missing column {col!r}", column=col)
    pop = _population(cells)
    down = {kind: _measured_values(cells, kind) for kind in _KINDS}
    keep = (pop > 0) & (~np.isnan(down["fixed"]) | ~np.isnan(down["mobile"]))
    rows = pd.DataFrame(
        {
            "cell": cells["cell"].to_numpy(np.uint64)[keep],
            "code_63": cells["code_63"].astype(object).to_numpy()[keep],
            "code_34": cells["code_34"].astype(object).to_numpy()[keep],
            "population": pop[keep],
            "fixed_down": down["fixed"][keep],
            "mobile_down": down["mobile"][keep],
        }
    )
    return _in_cell_order(rows)


def merge_gini_rows(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """:func:`gini_rows` of disjoint pieces of the cells, as the whole's."""
    return _in_cell_order(pd.concat(pieces, ignore_index=True))


def _in_cell_order(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.astype({"code_63": str, "code_34": str})  # one dtype, empty pieces included
    return rows.sort_values("cell", kind="stable").reset_index(drop=True)


def summaries_from_sums(sums: pd.DataFrame, gini: pd.DataFrame, by: SummaryView) -> pd.DataFrame:
    """:func:`summarise`'s table of one view from :func:`cell_sums` and :func:`gini_rows`
    (of the whole, or merged from pieces): means and shares are ratios of the units' sums,
    ``gini_fixed_down`` is computed on the units' rows."""
    units = _units(by)
    key = units.columns[0]
    n = len(units)
    names = sums["thresholds"].unique()
    if len(names) > 1:
        raise ValueError(f"sums computed with different thresholds: {sorted(map(str, names))}")
    grp = _group_codes(sums, by, units)

    def total(col: str) -> npt.NDArray[np.float64]:
        weights = sums[col].to_numpy(np.float64)
        return np.bincount(grp, weights=weights, minlength=n).astype(np.float64, copy=False)

    out = units.copy()
    population = total("population")
    out["population"] = population
    out["n_cells"] = np.bincount(
        grp, weights=sums["n_cells"].to_numpy(np.float64), minlength=n
    ).astype(np.int64)
    people = {c: total(f"people_{c}") for c in SERVICE_CLASSES}
    for c in SERVICE_CLASSES:
        out[f"people_{c}"] = people[c]
    for c in SERVICE_CLASSES:
        out[f"share_{c}"] = _ratio(people[c], population)
    for kind in _KINDS:
        for col in _SPEEDS:
            out[f"{kind}_{col}"] = _ratio(total(f"wx_{kind}_{col}"), total(f"w_{kind}_{col}"))
    for kind in _KINDS:
        measured = total(f"w_{kind}_d_mbps")
        out[f"pop_measured_{kind}"] = measured
        out[f"share_measured_{kind}"] = _ratio(measured, population)
    for label in ("4g_plus", "5g"):
        covered = total(f"pop_coverage_{label}")
        out[f"pop_coverage_{label}"] = covered
        out[f"share_coverage_{label}"] = _ratio(covered, population)
    for label in ("4g", "5g"):
        out[f"mobile_d_mbps_{label}"] = _ratio(
            total(f"wx_mobile_d_mbps_{label}"), total(f"w_mobile_d_mbps_{label}")
        )
    out["gini_fixed_down"] = gini_weighted_by_group(
        gini["fixed_down"].to_numpy(np.float64),
        gini["population"].to_numpy(np.float64),
        _group_codes(gini, by, units),
        n,
    )
    out["rank"] = _rank(out["share_unserved"].to_numpy(), out[key].to_numpy())
    out["thresholds"] = str(names[0]) if len(names) else DEFAULT_THRESHOLDS.name
    return out


def _rank(share: npt.NDArray[np.float64], code: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """1 = largest share; NaN last; ties by code."""
    order = pd.DataFrame({"nan": np.isnan(share), "share": share, "code": code}).sort_values(
        ["nan", "share", "code"], ascending=[True, False, True], kind="mergesort"
    )
    rank = np.empty(len(share), dtype=np.int64)
    rank[order.index.to_numpy()] = np.arange(1, len(share) + 1)
    return rank


def change_since(current: pd.DataFrame, previous: pd.DataFrame, key: str = "code") -> pd.DataFrame:
    """Change of each unit between two summaries of the same view (same boundary version).

    Returns one row per unit of ``current``: ``key``, its label columns, ``rank``, ``rank_prev``,
    ``rank_change = rank - rank_prev`` (negative: the unit moved up the worst-gap list) and
    ``delta_<col> = current - previous`` for every ``share_*`` column and every
    population-weighted speed/latency column found in both. A unit missing from ``previous``
    gets NaN deltas.

    Raises
    ------
    ValueError : ``key`` missing or not unique, or the two summaries used different thresholds
        (their classes cannot be compared)

    >>> cur = pd.DataFrame({"code": ["01", "02"], "share_unserved": [0.1, 0.4], "rank": [2, 1]})
    >>> prev = pd.DataFrame({"code": ["01", "02"], "share_unserved": [0.3, 0.2], "rank": [1, 2]})
    >>> change_since(cur, prev)[["code", "delta_share_unserved", "rank_change"]].round(2).values.tolist()
    [['01', -0.2, 1], ['02', 0.2, -1]]
    """
    for name, df in (("current", current), ("previous", previous)):
        if key not in df.columns:
            raise ValueError(f"{name} summary has no key column {key!r}")
        if not df[key].is_unique:
            raise ValueError(f"{name} summary has duplicate {key!r} values")
    if "thresholds" in current.columns and "thresholds" in previous.columns:
        names = set(current["thresholds"].dropna()) | set(previous["thresholds"].dropna())
        if len(names) > 1:
            raise ValueError(f"summaries computed with different thresholds: {sorted(names)}")
    speeds = [f"{k}_{c}" for k in _KINDS for c in _SPEEDS]
    compared = [
        c
        for c in current.columns
        if (c.startswith("share_") or c in speeds) and c in previous.columns
    ]
    labels = [
        c
        for c in ("name", "name_ascii", "region_name_vi", "region_name_en", "period")
        if c in current.columns
    ]
    prev = previous.set_index(key).reindex(current[key].to_numpy())
    out = current[[key, *labels]].reset_index(drop=True)
    if "period" in previous.columns:
        out["period_prev"] = prev["period"].to_numpy()
    if "rank" in current.columns and "rank" in previous.columns:
        out["rank"] = current["rank"].to_numpy()
        out["rank_prev"] = prev["rank"].to_numpy()
        out["rank_change"] = out["rank"] - out["rank_prev"]
    for c in compared:
        cur_v = current[c].to_numpy(dtype=np.float64, na_value=np.nan)
        prev_v = prev[c].to_numpy(dtype=np.float64, na_value=np.nan)
        out[f"delta_{c}"] = cur_v - prev_v
    return out


def inequality_table(
    cells: pd.DataFrame, version: Literal["63", "34", "region"]
) -> dict[str, float]:
    """National inequality of access between people, for one boundary version.

    Returns
    -------
    dict with ``gini_fixed_down`` and ``gini_mobile_down`` (population-weighted Gini of download
    speed over the cells with a measurement), ``theil_fixed_down`` (Theil T of fixed download),
    its exact parts ``theil_fixed_down_between`` / ``theil_fixed_down_within`` between and within
    the provinces of ``version`` (or regions), ``theil_fixed_down_between_share``, and
    ``pop_measured_fixed`` / ``pop_measured_mobile`` (people the indices rest on).
    """
    if version not in ("63", "34", "region"):
        raise ValueError(f"version must be '63', '34' or 'region', got {version!r}")
    for col in ("fixed_d_mbps", "fixed_tests", "mobile_d_mbps", "mobile_tests"):
        if col not in cells.columns:
            raise SchemaError(_TABLE, f"missing column {col!r}", column=col)
    return inequality_from_sums(cell_sums(cells), gini_rows(cells), version)


def inequality_from_sums(
    sums: pd.DataFrame, gini: pd.DataFrame, version: Literal["63", "34", "region"]
) -> dict[str, float]:
    """:func:`inequality_table` from :func:`cell_sums` and :func:`gini_rows` (of the whole, or
    merged from pieces): Theil T and its split from the units' sums
    (:func:`geodata.indicators.inequality.theil_t_from_sums`), the Gini coefficients on the
    rows."""
    if version not in ("63", "34", "region"):
        raise ValueError(f"version must be '63', '34' or 'region', got {version!r}")
    units = _units(version)
    grp = _group_codes(sums, version, units)
    n = len(units)

    def total(col: str) -> npt.NDArray[np.float64]:
        return np.bincount(grp, weights=sums[col].to_numpy(np.float64), minlength=n)

    theil = theil_t_from_sums(
        units.iloc[:, 0].to_numpy(),
        total("w_fixed_d_mbps"),
        total("wx_fixed_d_mbps"),
        total("wxlnx_fixed_d_mbps"),
    )
    pop = gini["population"].to_numpy(np.float64)
    fixed = gini["fixed_down"].to_numpy(np.float64)
    mobile = gini["mobile_down"].to_numpy(np.float64)
    return {
        "gini_fixed_down": gini_weighted(fixed, pop),
        "gini_mobile_down": gini_weighted(mobile, pop),
        "theil_fixed_down": theil.total,
        "theil_fixed_down_between": theil.between,
        "theil_fixed_down_within": theil.within,
        "theil_fixed_down_between_share": theil.between_share,
        "pop_measured_fixed": float(sums["w_fixed_d_mbps"].sum()),
        "pop_measured_mobile": float(sums["w_mobile_d_mbps"].sum()),
    }
