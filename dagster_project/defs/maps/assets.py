"""Gap maps (PNG in the UI, GeoJSON for download), trends across quarters, and the manifest."""

import json
from typing import Any

import dagster as dg
import pandas as pd

from dagster_project.metadata import png_md, provenance_metadata, table_md
from dagster_project.partitions import (
    AllQuarters,
    by_quarter,
    merge_quarter_metadata,
    quarters,
    spans_quarters,
)
from dagster_project.provinces import (
    one_group,
    parts_by_quarter,
    pieces,
    provinces_of_key,
    quarter_of,
    quarter_value,
    run_value,
    split_quarters,
)
from dagster_project.resources import (
    InputSource,
    OutputStore,
    PipelineSettings,
    detail_quarters,
)
from geodata.indicators.summaries import change_since
from geodata.kernels.cells import cells_to_latlng
from geodata.provenance import atomic_write_bytes
from geodata.publishing.downloads import province_summary_geodataframe, write_province_downloads
from geodata.publishing.generations import publication_lock, publish_generation
from geodata.publishing.outputs import build_manifest, provenance_record, write_manifest_hints
from geodata.reference import BOUNDARY_VERSIONS, in_provinces, load_provinces
from geodata.writers import write_csv, write_geojson


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="maps",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"png", "geojson"},
)
@spans_quarters(detail_only=True)
def gap_maps(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    gap_cells: pd.DataFrame,
    province_summaries: dict[str, pd.DataFrame],
) -> dg.MaterializeResult:
    """Maps of the gap for one quarter: share of people unserved per province (63 and 34) and
    service class per cell, as PNG (shown here) and national province GeoJSON for download."""
    from geodata.publishing.maps import cell_class_map_png, province_choropleth_png, source_line

    inv = inputs.inventory()
    quarter = context.partition_key
    source = source_line(inv.sample)
    meta: dict = provenance_metadata(inv, quarter=quarter)
    for version in BOUNDARY_VERSIONS:
        summary = province_summaries[version]
        gdf = province_summary_geodataframe(summary, version, simplified=True)
        png = province_choropleth_png(
            gdf,
            "share_unserved",
            title=f"Tỷ lệ dân chưa được phục vụ / Share of people unserved, {quarter}, "
            f"{version} tỉnh / provinces",
            legend_label="tỷ lệ dân chưa được phục vụ / share of population unserved",
            sample=inv.sample,
            source=source,
            vmax=1.0,
            percent=True,
        )
        atomic_write_bytes(outputs.file("maps", f"unserved_share_{version}_{quarter}.png"), png)
        meta[f"map_unserved_share_{version}"] = png_md(png, f"unserved share {version}")
        prov = provenance_record(
            inv,
            quarter=quarter,
            h3_resolution=settings.h3_resolution,
            boundary_version=version,
            thresholds=settings.service_thresholds(),
        )
        write_geojson(
            gdf, outputs.file("geojson", f"provinces_{version}_{quarter}.geojson"), provenance=prov
        )
    lat, lng = cells_to_latlng(gap_cells["cell"].to_numpy())
    png = cell_class_map_png(
        lat,
        lng,
        gap_cells["service_class"].astype(str).to_numpy(),
        load_provinces("34", simplified=True),
        title=f"Mức phục vụ theo ô H3 / Service class per H3 cell (res {settings.h3_resolution}), "
        f"{quarter}",
        sample=inv.sample,
        source=source,
    )
    atomic_write_bytes(outputs.file("maps", f"service_class_cells_{quarter}.png"), png)
    meta["map_service_class_cells"] = png_md(png, "service class per cell")
    meta["maps_dir"] = dg.MetadataValue.path(str(outputs.file("maps")))
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(), group_name="maps", kinds={"png", "csv"}
)
def gap_trends(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    province_summaries: AllQuarters,
    inequality: AllQuarters,
) -> dg.MaterializeResult:
    """Is the gap closing? People unserved by region per quarter, inequality indices per quarter,
    and each province's change since the previous quarter (both boundary versions).

    With a single quarter (a first run) the charts show that quarter and no change table is
    written: the metadata says there is no previous quarter."""
    from geodata.publishing.maps import (
        inequality_chart_png,
        source_line,
        unserved_by_region_chart_png,
    )

    inv = inputs.inventory()
    province_summaries = by_quarter(context, "province_summaries", province_summaries)
    inequality = by_quarter(context, "inequality", inequality)
    periods = sorted(province_summaries)
    source = source_line(inv.sample)
    regions = pd.concat(
        [province_summaries[p]["region"].assign(period=p) for p in periods], ignore_index=True
    ).rename(columns={"region_name_en": "region"})
    chart = unserved_by_region_chart_png(regions, periods=periods, sample=inv.sample, source=source)
    atomic_write_bytes(outputs.file("maps", "unserved_by_region.png"), chart)
    ineq = pd.concat([inequality[p] for p in periods], ignore_index=True)
    ineq34 = ineq[ineq["boundary_version"] == "34"]
    index_cols = [c for c in ineq34.columns if c.startswith(("gini", "theil"))]
    ichart = inequality_chart_png(ineq34[["period", *index_cols]], sample=inv.sample, source=source)
    atomic_write_bytes(outputs.file("maps", "inequality_by_period.png"), ichart)
    write_csv(ineq, outputs.file("tables", "inequality_by_period.csv"))
    meta: dict = {
        "periods": dg.MetadataValue.json(periods),
        "chart_unserved_by_region": png_md(chart, "unserved by region"),
        "chart_inequality": png_md(ichart, "inequality by period"),
    }
    if len(periods) >= 2:
        prev, cur = periods[-2], periods[-1]
        for version in BOUNDARY_VERSIONS:
            delta = change_since(
                province_summaries[cur][version], province_summaries[prev][version]
            )
            write_csv(delta, outputs.file("tables", f"change_{version}_{prev}_to_{cur}.csv"))
            if version == "34":
                meta["change_34_preview"] = table_md(delta)
    else:
        meta["change"] = "no previous quarter: change tables need two quarters of speed tiles"
        context.log.info(f"one quarter ({', '.join(periods)}): no change since a previous quarter")
    return dg.MaterializeResult(metadata=meta)


def _download_provenance(inv, settings: PipelineSettings, quarter: str) -> dict:
    return provenance_record(
        inv,
        quarter=quarter,
        h3_resolution=settings.h3_resolution,
        thresholds=settings.service_thresholds(),
    )


@dg.op(out={"parts": dg.DynamicOut(pd.DataFrame), "national": dg.Out(dict)})
def downloads_split(
    context: dg.OpExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    gap_cells: Any,
    province_summaries: Any,
):
    """Each quarter's national coarse files (they need every cell), then the cells of each group
    of provinces (``settings.provinces_per_step``) for the steps that write their files; with
    one group, every province's files here."""
    inv = inputs.inventory()
    national: dict[str, dict] = {}
    detail = detail_quarters(inv.quarters, settings.detail_quarters)
    inline = one_group(settings.provinces_per_step)
    for quarter in split_quarters(context, detail):
        cells = quarter_value(context, "gap_cells", gap_cells, quarter)
        summaries = quarter_value(context, "province_summaries", province_summaries, quarter)
        prov = _download_provenance(inv, settings, quarter)
        hints: list[dict] = []
        listing = write_province_downloads(
            cells,
            summaries,
            quarter,
            outputs.root(),
            prov,
            manifest_hints=hints,
            provinces_34=None if inline else (),
        )
        # what the province steps share: the summaries and the provenance, computed once
        national[quarter] = {
            "listing": listing,
            "hints": hints,
            "summaries": summaries,
            "provenance": prov,
        }
        if not inline:
            yield from pieces(quarter, cells, settings.provinces_per_step, in_provinces)
    yield dg.Output(national, output_name="national")


@dg.op
def downloads_write(
    context: dg.OpExecutionContext, outputs: OutputStore, cells: pd.DataFrame, national: dict
) -> dict:
    """One quarter's files of one group of provinces (both versions)."""
    quarter = quarter_of(context)
    codes = provinces_of_key(context.get_mapping_key())
    hints: list[dict] = []
    listing = write_province_downloads(
        cells,
        national[quarter]["summaries"],
        quarter,
        outputs.root(),
        national[quarter]["provenance"],
        manifest_hints=hints,
        provinces_34=codes,
        national=False,
    )
    context.log.info(f"{quarter}: {len(listing)} files of provinces {', '.join(codes)}")
    return {"quarter": quarter, "listing": listing, "hints": hints}


@dg.op
def downloads_gather(
    context: dg.OpExecutionContext,
    outputs: OutputStore,
    settings: PipelineSettings,
    parts: list[dict],
    national: dict,
):
    """Every quarter's listing (national files first), its manifest hints, the metadata."""
    values: dict[str, pd.DataFrame] = {}
    metadata: dict[str, dict] = {}
    steps = dict(parts_by_quarter(parts))
    for quarter, nat in sorted(national.items()):
        done = steps.get(quarter, [])
        listing = pd.concat([nat["listing"], *(p["listing"] for p in done)], ignore_index=True)
        hints = [h for part in [nat, *done] for h in part["hints"]]
        write_manifest_hints(outputs.root(), f"downloads_{quarter}", hints)
        largest = listing.sort_values("bytes").iloc[-1]
        coarser = listing[
            (listing["kind"] == "cells") & (listing["resolution"] < settings.h3_resolution)
        ]
        values[quarter] = listing
        metadata[quarter] = {
            "quarter": quarter,
            "files": len(listing),
            "bytes_total": int(listing["bytes"].sum()),
            "largest_file": f"{largest['path']} ({largest['bytes'] / 1e6:.2f} MB)",
            "provinces_at_coarser_resolution": dg.MetadataValue.json(
                {f"{r.version}/{r.code}": int(r.resolution) for r in coarser.itertuples()}
            ),
            "province_steps": len(done),
            "downloads_dir": dg.MetadataValue.path(str(outputs.file("downloads"))),
        }
    return dg.Output(run_value(context, values), metadata=merge_quarter_metadata(metadata))


@dg.graph_asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="downloads",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"geojson"},
    ins={
        "gap_cells": dg.AssetIn(dagster_type=Any),
        "province_summaries": dg.AssetIn(dagster_type=Any),
    },
)
def province_downloads(gap_cells, province_summaries):
    """One RFC 7946 GeoJSON per province and boundary version (63 and 34) for provincial
    officials: its H3 cells with the indicators and its summary, each under 10 MB (a coarser
    resolution where needed, recorded in the file), plus national coarse cells. Written by one
    step per quarter and group of provinces (``dagster_project.provinces``); the value is the
    listing of the files."""
    parts, national = downloads_split(gap_cells, province_summaries)
    written = parts.map(lambda cells: downloads_write(cells, national))
    return downloads_gather(written.collect(), national)


#: The concurrency pool of the publishing step: size 1 in deploy/dagster.yaml, so however many
#: runs and workers there are, one publication at a time.
PUBLICATION_POOL = "gap_monitor_publication"


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="maps",
    deps=[
        gap_maps,
        gap_trends,
        province_downloads,
        "investment_plan",
        "province_plan_maps",
        "targets_scorecard",
    ],
    kinds={"json"},
    pool=PUBLICATION_POOL,
)
def output_manifest(
    outputs: OutputStore, inputs: InputSource, investment_priorities: dict
) -> dg.MaterializeResult:
    """manifest.json: every published file with its size and sha256 (and features and period for
    GeoJSON), so downloads can be verified, and the national investment priorities (top 20);
    then the set is published as a new generation (``current`` -> ``published/<generation>``,
    see geodata.publishing.generations) and, when ``GAP_MONITOR_PUBLISH_URL`` names an object
    store, put there behind the pointer ``current.json`` written last
    (geodata.publishing.object_store)."""
    inv = inputs.inventory()
    with publication_lock(outputs.root()):  # one publisher at a time, whatever the process
        path = build_manifest(
            outputs.root(), extra={"sample": inv.sample, "priorities": investment_priorities}
        )
        generation = publish_generation(outputs.root())
        pointer = None
        if outputs.publish_url:
            from geodata.publishing.object_store import upload_generation

            pointer = upload_generation(generation, outputs.publish_url)
    n = len(json.loads(path.read_text(encoding="utf-8"))["files"])
    meta = {
        "manifest": dg.MetadataValue.path(str(path)),
        "files_in_manifest": n,
        "generation": generation.name,
        "published": dg.MetadataValue.path(str(generation)),
    }
    if pointer is not None:
        meta["object_store"] = dg.MetadataValue.url(
            f"{outputs.publish_url.rstrip('/')}/published/{generation.name}/"
        )
    return dg.MaterializeResult(metadata=meta)
