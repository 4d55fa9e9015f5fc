"""Province (both boundary versions), region and national summaries, and inequality."""

import dagster as dg
import pandas as pd

from dagster_project.checks import conservation_check
from dagster_project.metadata import provenance_metadata, table_md
from dagster_project.partitions import quarters, spans_quarters
from dagster_project.resources import InputSource, OutputStore, PipelineSettings
from geodata.indicators.adoption import latest_adoption
from geodata.indicators.official_population import PLAUSIBLE_RATIO, population_vs_official
from geodata.indicators.summaries import inequality_table, summarise
from geodata.inputs import quarter_start
from geodata.reference import BOUNDARY_VERSIONS, population_raster_path, province_codes
from geodata.writers import write_csv

_VIEWS = ("63", "34", "region", "nation")


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="summaries",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"csv"},
    check_specs=[
        dg.AssetCheckSpec("every_province_present", asset="province_summaries"),
        dg.AssetCheckSpec("population_conserved_cells_to_provinces", asset="province_summaries"),
        dg.AssetCheckSpec(
            "population_vs_resolution_202",
            asset="province_summaries",
            description="Modelled (WorldPop) vs Resolution 202/2025 population per province: "
            "reported, never rescaled; warns only on implausible ratios.",
        ),
    ],
)
@spans_quarters()
def province_summaries(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    gap_cells: pd.DataFrame,
    adoption_statistics: pd.DataFrame,
):
    """Population-weighted indicators and people per service class for every province of BOTH
    boundary versions (63 and 34), every socio-economic region and the nation, ranked by the share
    of people unserved, with the latest adoption statistics of each province."""
    quarter = context.partition_key
    as_of = quarter_start(quarter)
    inv = inputs.inventory()
    out: dict[str, pd.DataFrame] = {}
    for view in _VIEWS:
        table = summarise(gap_cells, by=view, thr=settings.service_thresholds())
        if view in BOUNDARY_VERSIONS:
            table = table.merge(
                latest_adoption(adoption_statistics, view, as_of), on="code", how="left"
            )
        table.insert(0, "period", quarter)
        table["sample"] = inv.sample  # the SYNTHETIC flag in the file a user opens
        out[view] = table
        write_csv(table, outputs.file("tables", f"summary_{view}_{quarter}.csv"))
    worst = out["34"].sort_values("rank").head(10)
    yield dg.Output(
        out,
        metadata=provenance_metadata(
            inputs.inventory(),
            quarter=quarter,
            provinces_63=len(out["63"]),
            provinces_34=len(out["34"]),
            regions=len(out["region"]),
            people_unserved_nation=float(out["nation"]["people_unserved"].iloc[0]),
            worst_gaps_34=table_md(
                worst[["rank", "code", "name", "population", "people_unserved", "share_unserved"]]
            ),
        ),
    )
    missing = {v: sorted(set(province_codes(v)) - set(out[v]["code"])) for v in BOUNDARY_VERSIONS}
    yield dg.AssetCheckResult(
        check_name="every_province_present",
        passed=not any(missing.values()),
        metadata={f"missing_{v}": ", ".join(m) or "none" for v, m in missing.items()},
    )
    yield conservation_check(
        "population_conserved_cells_to_provinces",
        {
            "cells": float(gap_cells["population"].sum()),
            **{f"sum_{v}": float(out[v]["population"].sum()) for v in _VIEWS},
        },
    )
    comparison = population_vs_official(out["34"])
    national = inputs.inventory().population_path() == population_raster_path()
    yield dg.AssetCheckResult(
        check_name="population_vs_resolution_202",
        # judged only on the national grid: a clipped or regional raster covers part of Vietnam
        passed=bool(comparison["plausible"].all()) if national else True,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "judged": national,
            "model_total": float(comparison["population_model"].sum()),
            "res202_total": float(comparison["population_res202"].sum()),
            "plausible_ratio": dg.MetadataValue.json(list(PLAUSIBLE_RATIO)),
            "by_province": table_md(comparison, max_rows=34),
        },
    )


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="summaries",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"csv"},
)
@spans_quarters()
def inequality(
    context: dg.AssetExecutionContext, outputs: OutputStore, gap_cells: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """How uneven is access? Population-weighted Gini over cells and Theil T split exactly into
    between-province and within-province parts, for both boundary versions."""
    quarter = context.partition_key
    rows = []
    for version in BOUNDARY_VERSIONS:
        t = inequality_table(gap_cells, version)
        rows.append({"period": quarter, "boundary_version": version, **t})
    df = pd.DataFrame(rows)
    write_csv(df, outputs.file("tables", f"inequality_{quarter}.csv"))
    return dg.Output(df, metadata={"quarter": quarter, "table": table_md(df)})
