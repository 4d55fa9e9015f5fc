"""Facts on H3 cells: population, coverage and, per quarter, speeds and service classes."""

from typing import Any

import dagster as dg
import geopandas as gpd
import pandas as pd

from dagster_project.checks import conservation_check
from dagster_project.defs.automation.refresh import BASE_KINDS, FINGERPRINT_KEY
from dagster_project.metadata import provenance_metadata
from dagster_project.partitions import quarters, spans_quarters
from dagster_project.resources import InputSource, OutputStore, PipelineSettings
from geodata.cell_table import (
    adoption_by_cell,
    build_cell_table,
    coverage_at,
    coverage_history,
    rollup_cell_table,
    speed_by_cell,
)
from geodata.cell_table import (
    population_cells as population_cells_kernel,
)
from geodata.indicators.service import classify_cells
from geodata.inputs import quarter_end_unix, quarter_start
from geodata.kernels.coverage import ALWAYS, range_cap_counts
from geodata.provenance import sha256_file
from geodata.publishing.outputs import provenance_record, write_cells_geoparquet
from geodata.study_area import describe_study_area
from geodata.writers import write_csv


@dg.asset(
    group_name="cells",
    kinds={"h3"},
    check_specs=[
        dg.AssetCheckSpec("population_conserved_raster_to_cells", asset="population_cells")
    ],
)
def population_cells(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    province_boundaries: dict[str, gpd.GeoDataFrame],
):
    """Population per H3 cell from the population GeoTIFF (WorldPop 2020 1 km by default, never
    rescaled), each cell assigned to one province of each boundary version and to its region.

    People on cells outside the study area (a raster reaching over the sea or across the border)
    are in no province: they are counted, listed in ``outside_study_area/population_cells.csv``
    and kept in the conservation check (raster = cells + outside)."""
    inv = inputs.inventory()
    path = inv.population_path()
    context.log.info(f"population raster {path} -> H3 res {settings.h3_resolution}")
    df, stats = population_cells_kernel(path, settings.h3_resolution, province_boundaries)
    context.log.info(f"{len(df):,} populated cells, {stats['cells_total']:,.0f} people")
    outside = stats.pop("outside")
    extra = {}
    if len(outside):
        dest = write_csv(outside, outputs.file("outside_study_area", "population_cells.csv"))
        extra["outside_study_area_file"] = dg.MetadataValue.path(str(dest))
        context.log.warning(
            f"{len(outside):,} populated cells ({stats['outside_people']:,.0f} people) of the "
            f"raster lie outside the study area (sea or foreign land): in no province, listed in "
            f"{dest}"
        )
    yield dg.Output(
        df,
        metadata=provenance_metadata(
            inv,
            population_raster=dg.MetadataValue.path(str(path)),
            population_raster_sha256=sha256_file(path),
            **{FINGERPRINT_KEY: inv.fingerprint(BASE_KINDS)},
            h3_resolution=settings.h3_resolution,
            raster_total=stats["raster_total"],
            cells_total=stats["cells_total"],
            n_cells=len(df),
            cells_nearest_province=int(df["province_nearest"].sum()),
            raster_to_cells_mode=str(stats["mode"]),
            outside_study_area_cells=int(stats["outside_cells"]),
            outside_study_area_people=stats["outside_people"],
            study_area=describe_study_area(),
            **extra,
        ),
    )
    yield conservation_check(
        "population_conserved_raster_to_cells",
        {
            "raster": stats["raster_total"],
            "cells_plus_outside": stats["cells_total"] + stats["outside_people"],
        },
        rel_tol=1e-9,
    )


@dg.asset(automation_condition=dg.AutomationCondition.eager(), group_name="cells", kinds={"h3"})
def coverage_cells(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    population_cells: pd.DataFrame,
    cell_sites: pd.DataFrame,
    coverage_rasters: list[dict[str, Any]],
) -> dg.Output[pd.DataFrame]:
    """Since when each cell has had each mobile technology (none < 2G < 3G < 4G < 5G): from the
    cell sites within range, each from its ``created`` date, and from the coverage rasters, each
    from its date (TIFFTAG_DATETIME; undated rasters count for every quarter). Each quarter's
    ``gap_cells`` takes the best technology of the sites and rasters that existed by its end."""
    context.log.info(f"coverage from {len(cell_sites):,} sites and {len(coverage_rasters)} rasters")
    history = coverage_history(
        population_cells["cell"].to_numpy(),
        settings.h3_resolution,
        sites=cell_sites,
        rasters=[(r["path"], r["tech_rank"], r.get("since", ALWAYS)) for r in coverage_rasters],
    )
    cov = coverage_at(history, None)
    counts = cov["best_tech_rank"].value_counts().sort_index()
    created = (
        pd.to_numeric(cell_sites["created"], errors="coerce")
        if "created" in cell_sites
        else pd.Series(dtype=float)
    )
    return dg.Output(
        history,
        metadata={
            "n_cells": len(cov),
            "cells_by_best_tech_rank": dg.MetadataValue.json(
                {str(k): int(v) for k, v in counts.items()}
            ),
            "sites_used": len(cell_sites),
            "sites_without_created_date": int(created.isna().sum())
            if len(created)
            else len(cell_sites),
            "site_range_caps": dg.MetadataValue.json(
                range_cap_counts(cell_sites["range"], cell_sites["tech_rank"])
                if len(cell_sites)
                else {}
            ),
            "rasters_used": len(coverage_rasters),
            "rasters_as_of": dg.MetadataValue.json(
                {r["path"].rsplit("/", 1)[-1]: r.get("as_of", "undated") for r in coverage_rasters}
            ),
        },
    )


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="cells",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"h3", "geoparquet"},
    check_specs=[dg.AssetCheckSpec("cell_table_schema", asset="gap_cells")],
)
@spans_quarters()
def gap_cells(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    province_boundaries: dict[str, gpd.GeoDataFrame],
    population_cells: pd.DataFrame,
    coverage_cells: pd.DataFrame,
    speed_tiles: dict[str, pd.DataFrame],
    adoption_statistics: pd.DataFrame,
):
    """Per-cell gap table of one quarter: population, tests-weighted fixed and mobile speeds, best
    technology, service class (served / underserved / unserved / no data) and the province adoption
    statistics disaggregated to cells (rates as-is, counts by population share), written as GeoParquet
    at the base resolution and rolled up to coarser ones."""
    inv = inputs.inventory()
    quarter = context.partition_key
    res = settings.h3_resolution
    fixed = speed_by_cell(speed_tiles["fixed"], res, "fixed")
    mobile = speed_by_cell(speed_tiles["mobile"], res, "mobile")
    # mobile coverage as it was at the quarter's end: sites created (rasters dated) by then
    coverage = coverage_at(coverage_cells, quarter_end_unix(quarter))
    table = build_cell_table(population_cells, fixed, mobile, coverage, province_boundaries)
    table.attrs.pop("cells_outside_vietnam")
    outside = table.attrs.pop("outside")
    extra = {}
    if len(outside):
        dest = write_csv(outside, outputs.file("outside_study_area", f"gap_cells_{quarter}.csv"))
        extra["outside_study_area_file"] = dg.MetadataValue.path(str(dest))
        context.log.warning(
            f"{len(outside):,} cells with speed tests lie outside the study area "
            f"({outside['fixed_tests'].sum():,.0f} fixed and {outside['mobile_tests'].sum():,.0f} "
            f"mobile tests): in no province, listed in {dest}"
        )
    table = classify_cells(table, settings.service_thresholds())
    table = table.join(adoption_by_cell(table, adoption_statistics, quarter_start(quarter)))
    context.log.info(f"{quarter}: {len(table):,} cells classified")
    prov = provenance_record(
        inv, quarter=quarter, h3_resolution=res, thresholds=settings.service_thresholds()
    )
    written = {}
    detail = settings.is_detail_quarter(quarter, inv.quarters)
    if detail:
        dest = outputs.file("cells", f"gap_cells_{quarter}_res{res}.parquet")
        write_cells_geoparquet(table, dest, provenance=prov)
        written[res] = dest
    else:
        context.log.info(
            f"{quarter} is a history quarter (before the latest {settings.detail_quarters}): "
            "no cell files, its summaries feed the trends and the scorecard"
        )
    for r in settings.rollup_resolutions if detail else []:
        coarse = rollup_cell_table(table, r)
        dest = outputs.file("cells", f"gap_cells_{quarter}_res{r}.parquet")
        write_cells_geoparquet(coarse, dest, provenance={**prov, "h3_resolution": r})
        written[r] = dest
    people = table.groupby("service_class", observed=False)["population"].sum()
    yield dg.Output(
        table,
        metadata=provenance_metadata(
            inv,
            quarter=quarter,
            h3_resolution=res,
            n_cells=len(table),
            outside_study_area_cells=len(outside),
            outside_study_area_fixed_tests=float(outside["fixed_tests"].sum()),
            outside_study_area_mobile_tests=float(outside["mobile_tests"].sum()),
            population=float(table["population"].sum()),
            people_by_service_class=dg.MetadataValue.json(
                {str(k): float(v) for k, v in people.items()}
            ),
            thresholds=settings.service_thresholds().name,
            files=dg.MetadataValue.json({f"res{r}": str(p) for r, p in written.items()}),
            **extra,
        ),
    )
    required = {
        "cell",
        "population",
        "code_63",
        "code_34",
        "region_id",
        "best_tech_rank",
        "fixed_d_mbps",
        "mobile_d_mbps",
        "service_class",
    }
    missing = sorted(required - set(table.columns))
    unassigned = int(table["code_34"].isna().sum() + table["code_63"].isna().sum())
    yield dg.AssetCheckResult(
        check_name="cell_table_schema",
        passed=not missing and unassigned == 0 and table["cell"].is_unique,
        metadata={
            "missing_columns": ", ".join(missing) or "none",
            "cells_without_province": unassigned,
            "cells_unique": bool(table["cell"].is_unique),
        },
    )
