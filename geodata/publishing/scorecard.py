"""The published targets scorecard: tables per boundary version and quarter, GeoJSON, status maps
and trend charts (the kernel is :mod:`geodata.indicators.targets`).

Files, under the output root::

    tables/targets_{63|34|region|nation}_{quarter}.csv      every quarter (the issue's contract)
    tables/targets_most_improved_{63|34}_{quarter}.csv      the latest quarter
    tables/targets_furthest_behind_{63|34}_{quarter}.csv    the latest quarter
    tables/targets_catalogue.csv                            every target, measurable or not
    geojson/targets_{63|34}_{quarter}.geojson               the latest quarter, one feature per
                                                            province: value and status per target
    maps/targets_status_{63|34}_{quarter}.png               the latest quarter, a map per target
    maps/targets_trend_{indicator}.png                      the nation and the regions per quarter
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from geodata.indicators.targets import (
    INDICATORS,
    furthest_behind,
    load_targets,
    most_improved,
    quarter_index,
    scorecard,
    unit_values,
)
from geodata.provenance import atomic_write_bytes
from geodata.publishing.maps import target_status_map_png, target_trend_chart_png
from geodata.reference import BOUNDARY_VERSIONS, load_provinces, load_regions
from geodata.writers import write_csv
from geodata.writers.geojson import write_geojson

__all__ = ["VIEWS", "build_scorecards", "publish_scorecards", "trend_series"]

VIEWS: tuple[str, ...] = ("63", "34", "region", "nation")


def build_scorecards(
    history: Mapping[str, Mapping[str, pd.DataFrame]], *, thresholds: str = ""
) -> dict[str, dict[str, pd.DataFrame]]:
    """``{quarter: {view: scorecard}}`` for every quarter of ``history`` (``{quarter: {view:
    province summary}}``), each judged on the quarters up to it."""
    targets = load_targets()
    region_of_63 = load_regions()["region_id"].to_dict()
    values = {view: unit_values(history, view, targets, region_of_63) for view in VIEWS}
    return {
        quarter: {
            view: scorecard(
                history,
                view,
                quarter,
                targets=targets,
                region_of_63=region_of_63,
                thresholds=thresholds,
                values=values[view],
            )
            for view in VIEWS
        }
        for quarter in sorted(history, key=quarter_index)
    }


def trend_series(cards: Mapping[str, Mapping[str, pd.DataFrame]], indicator: str) -> pd.DataFrame:
    """``quarter, unit, value`` of one indicator for the nation (unit ``nation``) and the regions
    (their English names), every quarter."""
    rows = []
    for quarter, views in cards.items():
        for view in ("nation", "region"):
            card = views[view]
            sel = card[card["indicator"] == indicator]
            units = ["nation"] * len(sel) if view == "nation" else sel["name_ascii"].tolist()
            rows += [
                {"quarter": quarter, "unit": u, "value": v}
                for u, v in zip(units, sel["value"].tolist(), strict=True)
            ]
    return pd.DataFrame(rows, columns=["quarter", "unit", "value"])


def publish_scorecards(
    cards: Mapping[str, Mapping[str, pd.DataFrame]],
    file: Callable[..., Path],
    *,
    sample: bool,
    source: str,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Write the scorecard files (module docstring) through ``file(folder, name)``; returns the
    paths written by kind and the latest quarter's status maps and trend charts as PNG bytes."""
    targets = load_targets()
    quarters = sorted(cards, key=quarter_index)
    latest = quarters[-1]
    written: dict[str, Any] = {"tables": [], "geojson": [], "maps": {}, "charts": {}}
    for quarter in quarters:
        for view in VIEWS:
            dest = file("tables", f"targets_{view}_{quarter}.csv")
            # the inputs' SYNTHETIC flag in every row of the file a user opens
            written["tables"].append(write_csv(cards[quarter][view].assign(sample=sample), dest))
    written["tables"].append(write_csv(targets, file("tables", "targets_catalogue.csv")))
    measurable = targets[targets["measurable"] == "yes"]
    labels = {i: INDICATORS[i][2] for i in measurable["indicator"]}
    for version in BOUNDARY_VERSIONS:
        card = cards[latest][version]
        written["tables"].append(
            write_csv(
                most_improved(card), file("tables", f"targets_most_improved_{version}_{latest}.csv")
            )
        )
        written["tables"].append(
            write_csv(
                furthest_behind(card),
                file("tables", f"targets_furthest_behind_{version}_{latest}.csv"),
            )
        )
        wide = _wide(card)
        outlines = load_provinces(version, simplified=True).reset_index(drop=True)
        provinces = outlines[["code", "geometry"]].merge(wide, on="code", how="left")
        dest = file("geojson", f"targets_{version}_{latest}.geojson")
        write_geojson(
            provinces,
            dest,
            provenance={**provenance, "boundary_version": version, "period": latest},
        )
        written["geojson"].append(dest)
        panels = [(i, f"{labels[i]}\ntarget {_target_text(measurable, i)}") for i in labels]
        png = target_status_map_png(
            provinces,
            panels,
            title=f"Vietnam's digital-infrastructure targets, {latest} "
            f"({version} provinces) / Mục tiêu hạ tầng số",
            sample=sample,
            source=source,
        )
        dest = file("maps", f"targets_status_{version}_{latest}.png")
        atomic_write_bytes(dest, png)
        written["maps"][version] = (dest, png)
    for indicator in labels:
        row = measurable[measurable["indicator"] == indicator].iloc[0]
        png = target_trend_chart_png(
            trend_series(cards, indicator),
            label=labels[indicator],
            target=float(row["target"]),
            target_year=int(row["target_year"]),
            title=f"{INDICATORS[indicator][3]} / {labels[indicator]}: cả nước và vùng / nation and "
            "regions by quarter",
            sample=sample,
            source=source,
        )
        dest = file("maps", f"targets_trend_{indicator}.png")
        atomic_write_bytes(dest, png)
        written["charts"][indicator] = (dest, png)
    return written


def _target_text(measurable: pd.DataFrame, indicator: str) -> str:
    row = measurable[measurable["indicator"] == indicator].iloc[0]
    return f"{row['target']:g} by {row['target_year']} ({row['decision']})"


def _wide(card: pd.DataFrame) -> pd.DataFrame:
    """One row per province: name, then ``value_/target_/status_/projected_<indicator>``."""
    measurable = card[card["indicator"].isin(list(INDICATORS))]
    base = measurable.drop_duplicates("code")[["code", "name", "name_ascii"]]
    for indicator, part in measurable.groupby("indicator", sort=False):
        part = part.set_index("code")
        base[f"value_{indicator}"] = base["code"].map(part["value"]).round(3)
        base[f"target_{indicator}"] = base["code"].map(part["target"])
        base[f"status_{indicator}"] = base["code"].map(part["status"])
        base[f"projected_{indicator}"] = base["code"].map(part["projected_quarter"])
    return base.reset_index(drop=True)
