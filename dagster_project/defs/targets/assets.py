"""The targets scorecard: every province (both boundary versions), region and the nation against
Vietnam's own digital-infrastructure targets (Decisions 36/QĐ-TTg and 1132/QĐ-TTg, 2024), per
quarter, with trend, projected quarter and status."""

import dagster as dg
import numpy as np
import pandas as pd

from dagster_project.metadata import png_md, provenance_metadata, table_md
from dagster_project.partitions import AllQuarters, by_quarter
from dagster_project.resources import InputSource, OutputStore, PipelineSettings
from geodata.indicators.targets import (
    INDICATORS,
    furthest_behind,
    indicator_values,
    load_targets,
    quarter_index,
)
from geodata.publishing.outputs import provenance_record
from geodata.reference import BOUNDARY_VERSIONS, province_codes

_NATION_COLUMNS = [
    "indicator",
    "value",
    "target",
    "target_year",
    "status",
    "trend_per_quarter",
    "projected_quarter",
    "quarters_used",
]


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="summaries",
    kinds={"csv", "geojson", "png"},
    check_specs=[
        dg.AssetCheckSpec(
            "every_unit_scored_on_every_measurable_target", asset="targets_scorecard"
        ),
        dg.AssetCheckSpec("scorecard_values_equal_summaries", asset="targets_scorecard"),
        dg.AssetCheckSpec("every_target_has_its_source", asset="targets_scorecard"),
    ],
)
def targets_scorecard(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    province_summaries: AllQuarters,
):
    """Is each province on track for Vietnam's own targets? Per quarter: value, target, target
    year, gap, trend over the available quarters (Theil-Sen), the projected quarter of reaching
    the target at that pace and a status (met / on track / off track / not measurable), for every
    province of both boundary versions, every region and the nation; ranked, with the most
    improved and the furthest behind; a status map per target and trend charts."""
    # matplotlib (the maps) is imported where it is used: the code location loads faster
    from geodata.publishing.maps import source_line
    from geodata.publishing.scorecard import build_scorecards, publish_scorecards

    inv = inputs.inventory()
    history = by_quarter(context, "province_summaries", province_summaries)
    thresholds = settings.service_thresholds().name
    cards = build_scorecards(history, thresholds=thresholds)
    latest = max(cards, key=quarter_index)
    prov = provenance_record(
        inv, quarter=latest, h3_resolution=settings.h3_resolution, thresholds=thresholds
    )
    prov["targets"] = "geodata/data/targets/vn_digital_infrastructure_targets.csv"
    written = publish_scorecards(
        cards, outputs.file, sample=inv.sample, source=source_line(inv.sample), provenance=prov
    )
    nation = cards[latest]["nation"]
    meta = provenance_metadata(
        inv,
        quarters=dg.MetadataValue.json(sorted(cards)),
        latest=latest,
        thresholds=thresholds,
        national_scorecard=table_md(nation[_NATION_COLUMNS], max_rows=30),
        files_written=len(written["tables"]) + len(written["geojson"]) + 2 * len(written["maps"]),
        tables_dir=dg.MetadataValue.path(str(outputs.file("tables"))),
    )
    for version in BOUNDARY_VERSIONS:
        card = cards[latest][version]
        counts = card.groupby(["indicator", "status"]).size().unstack(fill_value=0)
        meta[f"status_counts_{version}"] = dg.MetadataValue.md(counts.to_markdown())
        meta[f"furthest_behind_{version}"] = table_md(furthest_behind(card, top=5))
        meta[f"status_map_{version}"] = png_md(written["maps"][version][1], f"status {version}")
    for indicator, (_, png) in written["charts"].items():
        meta[f"trend_{indicator}"] = png_md(png, indicator)
    yield dg.Output(cards, metadata=meta)

    # every province of both versions, every region and the nation: a row per measurable target
    measurable = load_targets().query("measurable == 'yes'")["indicator"].tolist()
    missing = {}
    for view in (*BOUNDARY_VERSIONS, "nation"):
        card = cards[latest][view]
        units = set(province_codes(view)) if view in BOUNDARY_VERSIONS else {"VN"}
        have = card[card["indicator"].isin(measurable)].groupby("code")["indicator"].nunique()
        short = sorted(u for u in units if have.get(u, 0) != len(measurable))
        if short:
            missing[view] = short
    yield dg.AssetCheckResult(
        check_name="every_unit_scored_on_every_measurable_target",
        passed=not missing,
        metadata={"measurable_targets": len(measurable), "units_missing_a_target": str(missing)},
    )
    # the scorecard's values are the province summaries' own figures, quarter by quarter
    worst = 0.0
    for quarter, views in cards.items():
        for view in BOUNDARY_VERSIONS:
            summary = history[quarter][view]
            for indicator in measurable:
                want = pd.Series(indicator_values(summary, indicator, view), index=summary["code"])
                card = views[view]
                got = card[card["indicator"] == indicator].set_index("code")["value"]
                diff = (got - want.reindex(got.index)).abs()
                both_nan = got.isna() & want.reindex(got.index).isna()
                worst = max(worst, float(np.nan_to_num(diff[~both_nan], nan=np.inf).max(initial=0)))
    yield dg.AssetCheckResult(
        check_name="scorecard_values_equal_summaries",
        passed=worst <= 1e-9,
        metadata={
            "largest_difference": worst,
            "indicators": dg.MetadataValue.json(list(INDICATORS)),
        },
    )
    targets = load_targets()
    unsourced = targets[(targets["source_url"].str.strip() == "") | (targets["decision"] == "")]
    yield dg.AssetCheckResult(
        check_name="every_target_has_its_source",
        passed=unsourced.empty,
        metadata={
            "targets": len(targets),
            "measurable": len(measurable),
            "not_measurable": int((targets["measurable"] == "no").sum()),
        },
    )
