"""Vietnam's own digital-infrastructure targets, and a scorecard of every unit against them.

The targets are named, sourced configuration (``geodata/data/targets/
vn_digital_infrastructure_targets.csv``): decision, article, the wording in Vietnamese and English,
the page it was read on and how far it was verified. A target this product cannot measure is
listed with the reason (``measurable = no``) and scored ``not measurable``; it is never
approximated by another figure.

A scorecard row judges one unit (a province of either boundary version, a region, the nation) on
one measurable target in one quarter, from that unit's summaries of every quarter up to it:

* **value**: the indicator in the quarter (from the province summaries, unchanged);
* **trend**: the Theil-Sen slope per quarter over the quarters with a value (the median of the
  slopes between every pair of quarters: robust to one odd quarter, no distribution assumed), and
  its line through the median residual;
* **projected_quarter**: the first quarter in which that line reaches the target (empty when
  it does not rise, or only more than :data:`HORIZON_YEARS` after the target year);
* **status**, in this order:

  - ``not measurable``: the target is not measurable, or the unit has no value this quarter;
  - ``met``: the value reaches the target;
  - ``off track``: the target year is over, or the trend does not rise, or the line reaches the
    target after the target year's last quarter;
  - ``not measurable`` (too few quarters): fewer than :data:`MIN_QUARTERS` quarters with a value;
  - ``on track``: the line reaches the target by the last quarter of the target year.

Examples
--------
>>> r = assess(["2025Q1", "2025Q2", "2025Q3"], [25.0, 30.0, 35.0], target=40, target_year=2025)
>>> r.status, r.projected_quarter, r.trend_per_quarter
('on track', '2025Q4', 5.0)
>>> assess(["2025Q1", "2025Q2", "2025Q3"], [30.0, 25.0, 20.0], 40, 2030).status
'off track'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "STATUSES",
    "MIN_QUARTERS",
    "INDICATORS",
    "TARGETS_CSV",
    "PUBLISHED_FIGURES_CSV",
    "SCORECARD_COLUMNS",
    "Assessment",
    "load_targets",
    "load_published_figures",
    "theil_sen",
    "quarter_index",
    "quarter_label",
    "assess",
    "indicator_values",
    "unit_values",
    "scorecard",
    "most_improved",
    "furthest_behind",
]

STATUSES: tuple[str, ...] = ("met", "on track", "off track", "not measurable")
#: Quarters with a value a trend needs (two points always make a line: three can disagree).
MIN_QUARTERS = 3
#: Years past the target year a projection may reach; further out it is "not before" that.
HORIZON_YEARS = 10
_DATA = Path(__file__).resolve().parents[1] / "data" / "targets"
TARGETS_CSV = _DATA / "vn_digital_infrastructure_targets.csv"
PUBLISHED_FIGURES_CSV = _DATA / "published_national_figures.csv"
FIT = "Theil-Sen median slope per quarter over the quarters up to this one"

#: Measurable indicator -> (summary column, factor to the target's unit, English / Vietnamese label).
INDICATORS: Mapping[str, tuple[str, float, str, str]] = {
    "mobile_download_4g_mbps": (
        "mobile_d_mbps_4g",
        1.0,
        "Mean mobile download on 4G (Mbps)",
        "Tốc độ tải xuống di động trung bình trên 4G (Mb/s)",
    ),
    "mobile_download_5g_mbps": (
        "mobile_d_mbps_5g",
        1.0,
        "Mean mobile download on 5G (Mbps)",
        "Tốc độ tải xuống di động trung bình trên 5G (Mb/s)",
    ),
    "fixed_download_mbps": (
        "fixed_d_mbps",
        1.0,
        "Mean fixed download (Mbps)",
        "Tốc độ tải xuống cố định trung bình (Mb/s)",
    ),
    "population_5g_coverage_pct": (
        "share_coverage_5g",
        100.0,
        "Population covered by 5G (%)",
        "Tỷ lệ dân số được phủ sóng 5G (%)",
    ),
    "provinces_with_5g_pct": (
        "pop_coverage_5g",
        100.0,
        "Provinces with 5G service (%)",
        "Tỷ lệ tỉnh, thành phố có dịch vụ 5G (%)",
    ),
}

#: The columns of ``tables/targets_{version}_{quarter}.csv``: the issue's contract first.
SCORECARD_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "indicator",
    "value",
    "target",
    "target_year",
    "status",
    "projected_quarter",
    "quarters_used",
    "source",
    "name_ascii",
    "level",
    "unit",
    "gap",
    "trend_per_quarter",
    "first_quarter",
    "value_first",
    "rank",
    "status_reason",
    "target_id",
    "fit",
    "thresholds",
)

_REQUIRED = (
    "target_id",
    "indicator",
    "measurable",
    "direction",
    "target",
    "unit",
    "target_year",
    "decision",
    "decision_date",
    "article",
    "wording_vi",
    "wording_en",
    "source_url",
    "verification",
    "measured_as",
    "not_measurable_because",
)


@cache
def _targets(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for i, row in df.iterrows():
        where = f"{path}, row {int(i) + 2}"
        if row["measurable"] not in ("yes", "no"):
            raise ValueError(
                f"{where}, column measurable: 'yes' or 'no', got {row['measurable']!r}"
            )
        if row["direction"] not in (">=", "<="):
            raise ValueError(f"{where}, column direction: '>=' or '<=', got {row['direction']!r}")
        for col in ("decision", "wording_vi", "source_url", "verification"):
            if not row[col].strip():
                raise ValueError(f"{where}, column {col}: every target needs its source")
        if row["measurable"] == "yes" and row["indicator"] not in INDICATORS:
            raise ValueError(f"{where}, column indicator: {row['indicator']!r} is not measured")
        if row["measurable"] == "no" and not row["not_measurable_because"].strip():
            raise ValueError(f"{where}: a target that is not measurable says why")
    if df["target_id"].duplicated().any():
        raise ValueError(f"{path}: duplicate target_id")
    measurable = df[df["measurable"] == "yes"]
    if measurable["indicator"].duplicated().any():
        raise ValueError(f"{path}: two measurable targets on one indicator")
    df["target"] = pd.to_numeric(df["target"])
    df["target_year"] = pd.to_numeric(df["target_year"]).astype(int)
    return df


def load_targets(path: str | Path = TARGETS_CSV) -> pd.DataFrame:
    """The targets table, validated (every target has its decision, wording, page and
    verification; measurable ones name a known indicator). A copy: callers may change it."""
    return _targets(str(path)).copy()


def load_published_figures(path: str | Path = PUBLISHED_FIGURES_CSV) -> pd.DataFrame:
    """Published national speed and coverage figures (Ookla, VNNIC i-Speed, the ministries),
    each with the page it was reported on."""
    return pd.read_csv(path, dtype={"period": str}, encoding="utf-8")


def quarter_index(quarter: str) -> int:
    """``"2026Q3"`` -> ``2026 * 4 + 2`` (consecutive quarters differ by 1)."""
    year, q = str(quarter).upper().split("Q")
    return int(year) * 4 + int(q) - 1


def quarter_label(index: int) -> str:
    """Inverse of :func:`quarter_index`."""
    return f"{index // 4}Q{index % 4 + 1}"


def theil_sen(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float]:
    """Theil-Sen line ``y = intercept + slope * x``: the median of the pairwise slopes, and the
    median of ``y - slope * x``. Needs two distinct ``x``; NaN pairs are ignored.

    >>> theil_sen([0, 1, 2, 3, 4], [1.0, 3.0, 5.0, 7.0, 100.0])  # one wild point does not pull it
    (2.0, 1.0)
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    i, j = np.triu_indices(xa.size, k=1)
    dx = xa[j] - xa[i]
    keep = dx != 0
    if not keep.any():
        raise ValueError("a trend needs values in at least two different quarters")
    slope = float(np.median((ya[j] - ya[i])[keep] / dx[keep]))
    intercept = float(np.median(ya - slope * xa))
    return slope, intercept


@dataclass(frozen=True)
class Assessment:
    """One unit against one target in one quarter (see the module docstring for the rules)."""

    status: str
    reason: str
    value: float
    gap: float
    trend_per_quarter: float
    projected_quarter: str
    quarters_used: int
    first_quarter: str
    value_first: float


def assess(
    quarters: Sequence[str],
    values: Sequence[float] | npt.ArrayLike,
    target: float,
    target_year: int,
    *,
    direction: str = ">=",
    measurable: bool = True,
    min_quarters: int = MIN_QUARTERS,
) -> Assessment:
    """Status of a series (quarters in time order, the last one judged) against ``target`` due by
    the end of ``target_year``. ``direction`` ``"<="`` for a target to stay under."""
    q = np.array([quarter_index(x) for x in quarters], dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if q.size != v.size or q.size == 0:
        raise ValueError(f"{q.size} quarters for {v.size} values")
    if np.any(np.diff(q) <= 0):
        raise ValueError(f"quarters must be distinct and in time order, got {list(quarters)}")
    sign = 1.0 if direction == ">=" else -1.0
    value = float(v[-1])
    ok = np.isfinite(v)
    used = int(ok.sum())
    first_q = quarter_label(int(q[ok][0])) if used else ""
    first_v = float(v[ok][0]) if used else math.nan
    gap = max(0.0, sign * (target - value)) if math.isfinite(value) else math.nan

    def result(status: str, reason: str, slope: float = math.nan, projected: str = ""):
        return Assessment(status, reason, value, gap, slope, projected, used, first_q, first_v)

    if not measurable:
        return result("not measurable", "the inputs hold no data on this target")
    slope = intercept = math.nan
    if used >= 2:  # the trend is shown for every series with two values, met or not
        slope, intercept = theil_sen(q[ok], v[ok])
    if not math.isfinite(value):
        return result("not measurable", "no value in this quarter (nothing measured)", slope)
    if sign * (value - target) >= 0:
        return result("met", "the value reaches the target", slope)
    deadline = quarter_index(f"{int(target_year)}Q4")
    projected = ""
    horizon = deadline + 4 * HORIZON_YEARS
    if used >= 2 and sign * slope > 0:  # first quarter from now on where the line reaches it
        at = max(int(math.ceil((target - intercept) / slope - 1e-9)), int(q[-1]) + 1)
        projected = quarter_label(at) if at <= horizon else ""
    if int(q[-1]) > deadline:
        when = f"; at this pace reached in {projected}" if projected else ""
        return result("off track", f"the target year {target_year} is over{when}", slope, projected)
    if used < min_quarters:
        return result(
            "not measurable",
            f"{used} quarter(s) with a value: a trend needs at least {min_quarters}",
            slope,
            projected,
        )
    if not sign * slope > 0:
        return result("off track", "the trend does not move towards the target", slope)
    if not projected:
        reason = f"at this pace not before {quarter_label(horizon)}"
        return result("off track", reason, slope)
    if quarter_index(projected) > deadline:
        return result(
            "off track", f"at this pace the target is reached in {projected}", slope, projected
        )
    return result(
        "on track", f"at this pace the target is reached in {projected}", slope, projected
    )


def indicator_values(summary: pd.DataFrame, indicator: str, view: str) -> npt.NDArray[np.float64]:
    """The indicator's value for every unit of a summary table (row order kept).

    ``provinces_with_5g_pct`` is 100 or 0 for a province (any person covered by 5G); for a region
    or the nation it is the share of its provinces with 5G, which the caller passes in through
    the summary's ``provinces_with_5g_pct`` column (see :func:`scorecard`).
    """
    column, factor, _, _ = INDICATORS[indicator]
    if indicator == "provinces_with_5g_pct" and view not in ("63", "34"):
        return summary["provinces_with_5g_pct"].to_numpy(np.float64)
    values = summary[column].to_numpy(dtype=np.float64, na_value=np.nan)
    if indicator == "provinces_with_5g_pct":
        pop = summary["population"].to_numpy(np.float64)
        return np.where(pop > 0, np.where(values > 0, 100.0, 0.0), np.nan)
    return values * factor


def _with_5g_share(
    summaries: Mapping[str, pd.DataFrame], view: str, region_of_63: Mapping[str, str]
) -> pd.DataFrame:
    """The region or nation summary with ``provinces_with_5g_pct`` (regions from the 63
    provinces they are made of, the nation from the 34)."""
    table = summaries[view].copy()
    if view == "region":
        p63 = summaries["63"]
        has = pd.Series(indicator_values(p63, "provinces_with_5g_pct", "63"), index=p63["code"])
        region = p63["code"].map(region_of_63)
        share = has.groupby(region.to_numpy()).mean()
        table["provinces_with_5g_pct"] = table["region_id"].map(share).to_numpy(np.float64)
    elif view == "nation":
        p34 = summaries["34"]
        table["provinces_with_5g_pct"] = float(
            np.nanmean(indicator_values(p34, "provinces_with_5g_pct", "34"))
        )
    return table


def unit_values(
    history: Mapping[str, Mapping[str, pd.DataFrame]],
    view: str,
    targets: pd.DataFrame,
    region_of_63: Mapping[str, str] | None = None,
) -> dict[str, tuple[pd.DataFrame, dict[str, pd.Series]]]:
    """Per quarter of ``history``: the view's unit table and every measurable indicator's value
    by unit, computed once (a scorecard of each quarter reads the quarters up to it)."""
    key = "region_id" if view == "region" else "code"
    measurable = targets.loc[targets["measurable"] == "yes", "indicator"]
    out = {}
    for q, views in history.items():
        if view in ("region", "nation"):
            table = _with_5g_share(views, view, region_of_63 or {})
        else:
            table = views[view]
        units = table[key].astype(str).to_numpy()
        out[q] = (
            table,
            {i: pd.Series(indicator_values(table, i, view), index=units) for i in measurable},
        )
    return out


def scorecard(
    history: Mapping[str, Mapping[str, pd.DataFrame]],
    view: str,
    quarter: str,
    *,
    targets: pd.DataFrame | None = None,
    region_of_63: Mapping[str, str] | None = None,
    thresholds: str = "",
    values: Mapping[str, tuple[pd.DataFrame, dict[str, pd.Series]]] | None = None,
) -> pd.DataFrame:
    """The scorecard of every unit of ``view`` (``"63"``, ``"34"``, ``"region"``, ``"nation"``)
    in ``quarter``, from ``history[q][view]`` (province summaries per quarter) of every quarter
    up to it: one row per unit and measurable target (:data:`SCORECARD_COLUMNS`), plus, for the
    nation, one row per target that is not measurable. ``rank`` is 1 for the unit closest to (or
    furthest past) each target. ``region_of_63`` maps 63-province codes to region ids (needed
    for ``provinces_with_5g_pct`` of regions). ``values``: :func:`unit_values` of ``history``
    when the caller has them already (every quarter's scorecard reads the same ones)."""
    targets = load_targets() if targets is None else targets
    periods = sorted(
        (q for q in history if quarter_index(q) <= quarter_index(quarter)), key=quarter_index
    )
    if not periods or periods[-1] != quarter:
        raise ValueError(f"no summaries for {quarter}")
    if values is None:
        values = unit_values({q: history[q] for q in periods}, view, targets, region_of_63)
    key = "region_id" if view == "region" else "code"
    latest = values[quarter][0]
    units = latest[key].astype(str).to_numpy()
    names = latest["region_name_vi" if view == "region" else "name"].to_numpy()
    ascii_names = latest["region_name_en" if view == "region" else "name_ascii"].to_numpy()
    level = {"63": "province", "34": "province", "region": "region", "nation": "nation"}[view]
    rows = []
    for _, t in targets.iterrows():
        measurable = t["measurable"] == "yes"
        if not measurable and view != "nation":
            continue
        series = np.full((len(periods), len(units)), np.nan)
        if measurable:
            for i, q in enumerate(periods):
                series[i] = values[q][1][t["indicator"]].reindex(units).to_numpy(np.float64)
        for j, unit in enumerate(units):
            a = assess(
                periods,
                series[:, j],
                float(t["target"]),
                int(t["target_year"]),
                direction=t["direction"],
                measurable=measurable,
            )
            rows.append(
                {
                    "code": unit,
                    "name": names[j],
                    "indicator": t["indicator"],
                    "value": a.value,
                    "target": float(t["target"]),
                    "target_year": int(t["target_year"]),
                    "status": a.status,
                    "projected_quarter": a.projected_quarter,
                    "quarters_used": a.quarters_used,
                    "source": f"{t['decision']} ({t['decision_date']}), {t['article']}: "
                    f"\u201c{t['wording_vi']}\u201d; {t['source_url']} ({t['verification']})",
                    "name_ascii": ascii_names[j],
                    "level": level,
                    "unit": t["unit"],
                    "gap": a.gap,
                    "trend_per_quarter": a.trend_per_quarter,
                    "first_quarter": a.first_quarter,
                    "value_first": a.value_first,
                    "status_reason": a.reason
                    if measurable
                    else f"not measurable: {t['not_measurable_because']}",
                    "target_id": t["target_id"],
                    "fit": FIT if measurable else "",
                    "thresholds": thresholds,
                }
            )
    out = pd.DataFrame(rows)
    attainment = out["value"] / out["target"]
    out["rank"] = (
        attainment.groupby(out["indicator"]).rank(ascending=False, method="min", na_option="bottom")
    ).astype("Int64")
    return out.loc[:, list(SCORECARD_COLUMNS)]


def most_improved(card: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Per measurable indicator, units by trend per quarter (steepest rise first):
    ``indicator, rank, code, name, value_first, first_quarter, value, trend_per_quarter,
    quarters_used, status``."""
    t = card[card["trend_per_quarter"].notna()].copy()
    t["change"] = t["value"] - t["value_first"]
    t = t.sort_values(["indicator", "trend_per_quarter", "code"], ascending=[True, False, True])
    t["rank"] = t.groupby("indicator").cumcount() + 1
    if top is not None:
        t = t[t["rank"] <= top]
    cols = ["indicator", "rank", "code", "name", "first_quarter", "value_first", "value", "change"]
    return t[[*cols, "trend_per_quarter", "quarters_used", "status"]].reset_index(drop=True)


def furthest_behind(card: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Units by mean attainment over the measurable targets with a value (``value / target``,
    capped at 1: a target met counts 1), lowest first, with how many are off track."""
    t = card[card["value"].notna() & (card["status"] != "not measurable")].copy()
    t["attainment"] = (t["value"] / t["target"]).clip(upper=1.0)
    t["off_track"] = t["status"] == "off track"
    g = t.groupby(["code", "name"], sort=False).agg(
        mean_attainment=("attainment", "mean"),
        targets_off_track=("off_track", "sum"),
        targets_judged=("attainment", "size"),
    )
    g = g.reset_index().sort_values(["mean_attainment", "code"]).reset_index(drop=True)
    g.insert(0, "rank", np.arange(1, len(g) + 1))
    return g if top is None else g.head(top)
