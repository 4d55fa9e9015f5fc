"""Province (both boundary versions), region and national summaries, and inequality."""

from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from dagster_project.checks import conservation_check
from dagster_project.metadata import provenance_metadata, table_md
from dagster_project.partitions import merge_quarter_metadata, quarters, spans_quarters
from dagster_project.provinces import (
    one_group,
    parts_by_quarter,
    pieces,
    quarter_of,
    quarter_value,
    run_value,
)
from dagster_project.resources import InputSource, OutputStore, PipelineSettings
from geodata.indicators.adoption import latest_adoption
from geodata.indicators.official_population import PLAUSIBLE_RATIO, population_vs_official
from geodata.indicators.summaries import (
    cell_sums,
    gini_rows,
    inequality_from_sums,
    merge_cell_sums,
    merge_gini_rows,
    summaries_from_sums,
)
from geodata.inputs import quarter_start
from geodata.reference import BOUNDARY_VERSIONS, population_raster_path, province_codes
from geodata.writers import write_csv

_VIEWS = ("63", "34", "region", "nation")


def _sums_of(cells: pd.DataFrame, thr) -> dict[str, Any]:
    return {"sums": cell_sums(cells, thr), "gini": gini_rows(cells)}


@dg.op(out={"parts": dg.DynamicOut(pd.DataFrame), "whole": dg.Out(dict)})
def sums_split(context: dg.OpExecutionContext, settings: PipelineSettings, gap_cells: Any):
    """Each quarter's cells by group of new provinces (``settings.provinces_per_step``; a cell
    belongs to the group of its ``code_34``), for the steps that sum them; with one group,
    the sums here. Also each quarter's population and number of cells, for the checks."""
    whole: dict[str, dict] = {}
    inline = one_group(settings.provinces_per_step)
    for quarter in sorted(context.partition_keys):
        cells = quarter_value(context, "gap_cells", gap_cells, quarter)
        whole[quarter] = {
            "population": float(cells["population"].sum()),
            "n_cells": len(cells),
            "pieces": [_sums_of(cells, settings.service_thresholds())] if inline else [],
        }
        if not inline:  # a cell's sums belong to the group of its new province
            yield from pieces(quarter, cells, settings.provinces_per_step, _owned_by)
    yield dg.Output(whole, output_name="whole")


def _owned_by(cells: pd.DataFrame, codes: tuple[str, ...]) -> np.ndarray:
    return cells["code_34"].astype(object).isin(codes).to_numpy(bool)


@dg.op
def sums_piece(
    context: dg.OpExecutionContext, settings: PipelineSettings, cells: pd.DataFrame
) -> dict:
    """The sums and Gini rows of one quarter's cells of one group of new provinces."""
    return {"quarter": quarter_of(context), **_sums_of(cells, settings.service_thresholds())}


@dg.op
def sums_gather(context: dg.OpExecutionContext, parts: list[dict], whole: dict):
    """Every quarter's pieces merged: the sums and Gini rows of the whole country."""
    pieces = dict(parts_by_quarter(parts))
    values: dict[str, dict] = {}
    metadata: dict[str, dict] = {}
    for quarter, info in sorted(whole.items()):
        done = [*info["pieces"], *pieces.get(quarter, [])]
        sums = merge_cell_sums([p["sums"] for p in done])
        values[quarter] = {
            "sums": sums,
            "gini": merge_gini_rows([p["gini"] for p in done]),
            "population": info["population"],
            "n_cells": info["n_cells"],
        }
        metadata[quarter] = {
            "quarter": quarter,
            "pieces": len(done),
            "province_pairs": len(sums),
            "population": float(sums["population"].sum()),
        }
    return dg.Output(run_value(context, values), metadata=merge_quarter_metadata(metadata))


@dg.graph_asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="summaries",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"gap_cells": dg.AssetIn(dagster_type=Any)},
)
def province_sums(gap_cells):
    """The additive parts of every summary of one quarter (geodata.indicators.summaries
    ``cell_sums``: people, people per class, measured people and their speeds, coverage,
    Theil sums, per pair of old and new province) and the rows a Gini coefficient needs,
    computed province by province (``dagster_project.provinces``) and merged: the provinces,
    regions and nation of both versions, and the inequality, are built from them."""
    parts, whole = sums_split(gap_cells)
    return sums_gather(parts.map(sums_piece).collect(), whole)


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
    province_sums: dict,
    adoption_statistics: pd.DataFrame,
):
    """Population-weighted indicators and people per service class for every province of BOTH
    boundary versions (63 and 34), every socio-economic region and the nation, ranked by the share
    of people unserved, with the latest adoption statistics of each province; built from the
    per-province sums (``province_sums``)."""
    quarter = context.partition_key
    as_of = quarter_start(quarter)
    inv = inputs.inventory()
    out: dict[str, pd.DataFrame] = {}
    for view in _VIEWS:
        table = summaries_from_sums(province_sums["sums"], province_sums["gini"], view)
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
            "cells": province_sums["population"],
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
    context: dg.AssetExecutionContext, outputs: OutputStore, province_sums: dict
) -> dg.Output[pd.DataFrame]:
    """How uneven is access? Population-weighted Gini over cells and Theil T split exactly into
    between-province and within-province parts, for both boundary versions: Theil from the
    per-province sums, Gini from the merged rows (``province_sums``)."""
    quarter = context.partition_key
    rows = []
    for version in BOUNDARY_VERSIONS:
        t = inequality_from_sums(province_sums["sums"], province_sums["gini"], version)
        rows.append({"period": quarter, "boundary_version": version, **t})
    df = pd.DataFrame(rows)
    write_csv(df, outputs.file("tables", f"inequality_{quarter}.csv"))
    return dg.Output(df, metadata={"quarter": quarter, "table": table_md(df)})
