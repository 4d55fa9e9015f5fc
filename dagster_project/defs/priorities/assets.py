"""Investment priorities: gap clusters ranked by people per km of extension, and their change."""

import time
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from dagster_project.metadata import png_md, provenance_metadata
from dagster_project.partitions import (
    AllQuarters,
    by_quarter,
    merge_quarter_metadata,
    quarters,
    spans_quarters,
)
from dagster_project.provinces import (
    mapping_key,
    one_group,
    parts_by_quarter,
    province_groups,
    provinces_of_key,
    quarter_of,
    quarter_value,
    run_value,
)
from dagster_project.resources import InputSource, OutputStore, PipelineSettings, detail_quarters
from geodata.indicators.clusters import FIXED_GAP, gap_mask
from geodata.planning.changes import route_plan_changes, site_plan_changes, write_plan_changes
from geodata.planning.costs import PlanCosts
from geodata.planning.routes import national_road_graph, plan_routes
from geodata.planning.sites import mobile_targets, plan_sites
from geodata.provenance import atomic_write_bytes
from geodata.publishing.outputs import provenance_record
from geodata.publishing.plans import (
    curve_headline,
    plan_rule,
    route_curve,
    route_rule,
    write_cost_curve,
    write_province_plan_maps,
    write_route_plan,
    write_site_plan,
)
from geodata.publishing.priorities import (
    PRIORITIES_DIR,
    TOP_N,
    find_priorities,
    priority_changes,
    top_records,
    write_priorities,
    write_priority_changes,
)
from geodata.reference import in_provinces, load_provinces

#: Columns of the top-20 table shown in the UI.
_UI_COLUMNS = {
    "rank": "rank",
    "province_34_name": "province (34)",
    "province_63_name": "province (63)",
    "population": "people",
    "area_km2": "km²",
    "distance_km": "km to served",
    "mean_distance_km": "mean km",
    "people_per_km": "people per km",
}


_KIND_VI = {"mobile": "di động", "fixed": "cố định"}


def _top_md(records: list[dict]) -> dg.MetadataValue:
    if not records:
        return dg.MetadataValue.md("_no gap clusters_")
    df = pd.DataFrame(records)
    for col in ("population", "people_per_km"):
        df[col] = df[col].round(0).astype("Int64")
    return _md(df, _UI_COLUMNS, "no gap clusters")


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="priorities",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"geojson", "csv", "png"},
    check_specs=[dg.AssetCheckSpec("gap_population_in_clusters", asset="gap_clusters")],
)
@spans_quarters(detail_only=True)
def gap_clusters(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    gap_cells: pd.DataFrame,
):
    """Where to act first: connected groups of populated res-8 cells without 4G (mobile) or with
    measured fixed broadband below 25/3 Mbps (fixed), one province of both versions each, ranked by
    people per km from the nearest served cell. National and per-province CSV + GeoJSON outlines."""
    from geodata.publishing.maps import priority_map_png, source_line

    t0 = time.perf_counter()
    inv = inputs.inventory()
    quarter = context.partition_key
    results = find_priorities(gap_cells)
    found = time.perf_counter() - t0
    prov = provenance_record(
        inv,
        quarter=quarter,
        h3_resolution=settings.h3_resolution,
        thresholds=settings.service_thresholds(),
    )
    listing, outlines = write_priorities(results, quarter, outputs.root(), prov)
    provinces = load_provinces("34", simplified=True)
    meta: dict = provenance_metadata(inv, quarter=quarter)
    for kind, res in results.items():
        png = priority_map_png(
            outlines[kind],
            provinces,
            title=f"{TOP_N} vùng thiếu {_KIND_VI[kind]} ưu tiên nhất / Top {TOP_N} {kind} gap clusters "
            f"by people per km, {quarter}",
            sample=inv.sample,
            source=source_line(inv.sample),
            top=TOP_N,
        )
        atomic_write_bytes(outputs.file("maps", f"{kind}_priorities_{quarter}.png"), png)
        meta[f"{kind}_rule"] = res.rule.description
        meta[f"{kind}_clusters"] = len(res.clusters)
        meta[f"{kind}_people_in_clusters"] = round(res.people)
        meta[f"{kind}_top{TOP_N}"] = _top_md(top_records(res))
        meta[f"{kind}_map"] = png_md(png, f"top {TOP_N} {kind} gap clusters")
        meta[f"{kind}_national_csv"] = dg.MetadataValue.path(
            str(outputs.file(PRIORITIES_DIR, f"{kind}_priorities_{quarter}.csv"))
        )
    meta["files"] = len(listing)
    meta["bytes_total"] = int(listing["bytes"].sum())
    meta["seconds_clusters"] = round(found, 2)
    meta["seconds_total"] = round(time.perf_counter() - t0, 2)
    yield dg.Output(results, metadata=meta)

    # conservation: every gap cell is in exactly one cluster of its own province
    worst = 0.0
    checked: dict[str, float] = {}
    for kind, res in results.items():
        in_gap = gap_cells.loc[gap_mask(gap_cells, res.rule)]
        for version in ("34", "63"):
            want = in_gap.groupby(f"code_{version}", observed=True)["population"].sum()
            got = res.clusters.groupby(f"code_{version}", observed=True)["population"].sum()
            diff = (want - got.reindex(want.index).fillna(0.0)).abs()
            worst = max(worst, float(diff.max()) if len(diff) else 0.0)
        checked[kind] = float(in_gap["population"].sum())
        worst = max(worst, abs(len(in_gap) - len(res.members)))
    yield dg.AssetCheckResult(
        check_name="gap_population_in_clusters",
        passed=bool(worst <= 1e-6 * max(1.0, max(checked.values(), default=1.0))),
        metadata={
            "gap_population": dg.MetadataValue.json({k: round(v) for k, v in checked.items()}),
            "largest_province_difference": worst,
        },
    )


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="priorities",
    kinds={"csv", "json"},
    # clusters and plans exist for the latest (detail) quarters only: older ones are history
    ins={
        "gap_clusters": dg.AssetIn(metadata={"allow_missing_partitions": True}),
        "investment_plan": dg.AssetIn(metadata={"allow_missing_partitions": True}),
    },
)
def investment_priorities(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    gap_clusters: AllQuarters,
    investment_plan: AllQuarters,
) -> dg.Output[dict]:
    """The national top 20 of the latest quarter for each gap kind, and change over time: gap
    clusters that closed, shrank, grew or are new since the previous quarter, and the plans:
    the last plan's sites now served, what the new plan adds, fibre units connected (CSV per
    pair)."""
    inv = inputs.inventory()
    gap_clusters = by_quarter(context, "gap_clusters", gap_clusters)
    plans = by_quarter(context, "investment_plan", investment_plan)
    # the detail quarters that have clusters (a stale older one left in storage is not compared)
    periods = detail_quarters(sorted(gap_clusters), settings.detail_quarters)
    gap_clusters = {p: gap_clusters[p] for p in periods}
    plans = {p: v for p, v in plans.items() if p in periods}
    latest = periods[-1]
    summary: dict = {"period": latest, "sample": inv.sample, "kinds": {}}
    meta: dict = {"periods": dg.MetadataValue.json(periods), "latest": latest}
    for kind, res in gap_clusters[latest].items():
        entry: dict = {
            "rule": res.rule.as_dict(),
            "clusters": len(res.clusters),
            "people": round(res.people),
            "top": top_records(res),
            "files": {
                ext: f"{PRIORITIES_DIR}/{kind}_priorities_{latest}.{ext}"
                for ext in ("csv", "geojson")
            },
        }
        for prev, cur in zip(periods, periods[1:], strict=False):
            if kind not in gap_clusters[prev]:
                continue
            changes = priority_changes(gap_clusters[prev][kind], gap_clusters[cur][kind])
            path = write_priority_changes(changes, kind, prev, cur, outputs.root())
            if cur == latest:
                counts = changes["status"].value_counts()
                entry["change"] = {
                    "since": prev,
                    "counts": {str(k): int(v) for k, v in counts.items()},
                    "people_in_closed": round(
                        float(
                            changes.loc[changes["status"] == "closed", "population_previous"].sum()
                        )
                    ),
                    "file": str(path.relative_to(outputs.root())),
                }
                meta[f"{kind}_change_since_{prev}"] = dg.MetadataValue.json(entry["change"])
        summary["kinds"][kind] = entry
        meta[f"{kind}_top{TOP_N}_{latest}"] = _top_md(entry["top"])
        meta[f"{kind}_clusters"] = entry["clusters"]
        png = outputs.file("maps", f"{kind}_priorities_{latest}.png")
        if png.exists():
            meta[f"{kind}_map_{latest}"] = png_md(png.read_bytes(), f"{kind} priorities")
    for prev, cur in zip(periods, periods[1:], strict=False):
        if prev not in plans or cur not in plans:
            continue
        a, b = plans[prev], plans[cur]
        sites = site_plan_changes(a["sites"], b["sites"], b["targets"], b["people"], b["radius_km"])
        routes = route_plan_changes(a["routes"], b["routes"])
        files = write_plan_changes(sites, routes, prev, cur, outputs.root())
        if cur == latest:
            plan_change = {
                "since": prev,
                "mobile_sites": {str(k): int(v) for k, v in sites["status"].value_counts().items()},
                "people_still_in_need_at_previous_sites": round(
                    float(sites.loc[sites["status"] == "still needed", "people_in_need_now"].sum())
                ),
                "fixed_units": {str(k): int(v) for k, v in routes["status"].value_counts().items()},
                "files": files,
            }
            summary["plan_change"] = plan_change
            meta["plan_change"] = dg.MetadataValue.json(plan_change)
    if len(periods) < 2:
        summary["change"] = meta["change"] = "no previous quarter: no change since one to report"
    context.log.info(
        "; ".join(f"{k}: {v['clusters']} clusters" for k, v in summary["kinds"].items())
    )
    return dg.Output(summary, metadata=meta)


#: Columns of the site plan's top-20 table in the UI.
_SITE_UI = {
    "rank": "rank",
    "place": "near",
    "province_34_name": "province (34)",
    "province_63_name": "province (63)",
    "lat": "lat",
    "lng": "lng",
    "people_new": "people reached",
    "people_cumulative": "cumulative",
    "cost_cumulative": "cumulative USD",
}


#: Columns of the fibre plan's top-20 table in the UI.
_ROUTE_UI = {
    "rank": "rank",
    "place": "near",
    "province_34_name": "province (34)",
    "province_63_name": "province (63)",
    "people": "people",
    "km": "km of fibre",
    "people_per_km": "people per km",
    "route": "route",
    "cost_cumulative": "cumulative USD",
}


def _md(table: pd.DataFrame, columns: dict[str, str], empty: str) -> dg.MetadataValue:
    if table.empty:
        return dg.MetadataValue.md(f"_{empty}_")
    shown = table[list(columns)].rename(columns=columns)
    return dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=",.1f", intfmt=","))


@dg.asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="priorities",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"geojson", "csv", "png"},
    check_specs=[
        dg.AssetCheckSpec("site_plan_reconciles", asset="investment_plan"),
        dg.AssetCheckSpec("fibre_plan_holds_every_gap_person", asset="investment_plan"),
    ],
)
@spans_quarters(detail_only=True)
def investment_plan(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    gap_cells: pd.DataFrame,
):
    """Where the next towers and fibre runs go. Mobile: up to `plan_sites` sites (default
    1,000), each where it reaches the most people still without 4G that earlier sites do not
    reach (exact lazy greedy, named radius and unit cost). Fixed: every gap area split into
    res-6 units within one province, each connected to the served network along the roads (or
    straight x a detour factor), chained by a minimum spanning tree, ranked by people per km.
    Both with place, provinces of both versions, people and cost; the cost curves nationally and
    per province."""
    from geodata.publishing.maps import (
        cost_curve_chart_png,
        route_plan_map_png,
        site_plan_map_png,
        source_line,
    )

    t0 = time.perf_counter()
    inv = inputs.inventory()
    quarter = context.partition_key
    costs = PlanCosts(site_technology=settings.plan_technology)
    targets, people = mobile_targets(gap_cells, below=costs.site_technology)
    plan = plan_sites(targets, people, n_sites=settings.plan_sites, costs=costs)
    t_sites = time.perf_counter() - t0
    t1 = time.perf_counter()
    routes = plan_routes(gap_cells, national_road_graph())
    t_routes = time.perf_counter() - t1
    prov = provenance_record(
        inv,
        quarter=quarter,
        h3_resolution=settings.h3_resolution,
        thresholds=settings.service_thresholds(),
    )
    labelled, curve, listing = write_site_plan(plan, quarter, outputs.root(), prov, gap_cells)
    fibre, fibre_listing = write_route_plan(routes, quarter, outputs.root(), prov)
    fcurve = route_curve(fibre)
    write_cost_curve([curve, fcurve], quarter, outputs.root())
    source = source_line(inv.sample)
    provinces = load_provinces("34", simplified=True)
    png = site_plan_map_png(
        labelled,
        provinces,
        title=f"Kế hoạch trạm di động / Mobile plan: {len(labelled):,} sites ranked by people "
        f"reached, {quarter}",
        sample=inv.sample,
        source=source,
    )
    atomic_write_bytes(outputs.file("maps", f"mobile_sites_{quarter}.png"), png)
    rpng = route_plan_map_png(
        fibre,
        routes.lines,
        provinces,
        title=f"Kế hoạch cáp quang / Fixed plan: {len(fibre):,} fibre extensions by people per km, "
        f"{quarter}",
        sample=inv.sample,
        source=source,
    )
    atomic_write_bytes(outputs.file("maps", f"fixed_routes_{quarter}.png"), rpng)
    chart = cost_curve_chart_png(
        pd.concat([curve, fcurve], ignore_index=True),
        title=f"Số người được phục vụ theo kế hoạch / People reached by the plans, {quarter}",
        sample=inv.sample,
        source=source,
    )
    atomic_write_bytes(outputs.file("maps", f"cost_curve_{quarter}.png"), chart)
    meta: dict = provenance_metadata(inv, quarter=quarter)
    meta.update(
        {
            "mobile_rule": dg.MetadataValue.json(plan_rule(plan)),
            "mobile_sites": len(labelled),
            "mobile_people_in_need": round(plan.people_in_need),
            "mobile_people_reached": round(plan.people_reached),
            "mobile_cost_curve": curve_headline(labelled),
            f"mobile_top{TOP_N}": _md(labelled.head(TOP_N), _SITE_UI, "no site reaches anyone"),
            "mobile_map": png_md(png, "planned mobile sites"),
            "fixed_rule": dg.MetadataValue.json(route_rule(routes)),
            "fixed_units": len(fibre),
            "fixed_people": round(float(fibre["people"].sum())),
            "fixed_km": round(float(fibre["km"].sum()), 1),
            "fixed_cost_usd": round(float(fibre["cost"].sum())),
            f"fixed_top{TOP_N}": _md(fibre.head(TOP_N), _ROUTE_UI, "no fixed gap"),
            "fixed_map": png_md(rpng, "planned fibre extensions"),
            "cost_curve_chart": png_md(chart, "cost curves"),
            "mobile_csv": dg.MetadataValue.path(
                str(outputs.file(PRIORITIES_DIR, f"mobile_sites_{quarter}.csv"))
            ),
            "fixed_csv": dg.MetadataValue.path(
                str(outputs.file(PRIORITIES_DIR, f"fixed_routes_{quarter}.csv"))
            ),
            "files": len(listing) + len(fibre_listing) + 1,
            "seconds_sites": round(t_sites, 2),
            "seconds_routes": round(t_routes, 2),
            "seconds_total": round(time.perf_counter() - t0, 2),
        }
    )
    yield dg.Output(
        {
            "sites": labelled,
            "routes": fibre,
            "route_lines": routes.lines,  # each fibre row's line, in the same order
            "targets": targets,
            "people": people,
            "radius_km": plan.costs.site_radius_km,
        },
        metadata=meta,
    )

    # the plan's people are the targets' people it reaches; each target is reached at most once
    reached = float(people[plan.reached_by > 0].sum())
    listed = float(labelled["people_new"].sum())
    ok = abs(reached - listed) <= 0.05 * max(1, len(labelled)) and bool(
        (labelled["people_new"].diff().fillna(0) <= 1e-9).all()
    )
    yield dg.AssetCheckResult(
        check_name="site_plan_reconciles",
        passed=ok,
        metadata={
            "people_reached_by_targets": round(reached, 1),
            "people_listed": round(listed, 1),
        },
    )
    gap_people = float(gap_cells.loc[gap_mask(gap_cells, FIXED_GAP), "population"].sum())
    in_units = float(routes.routes["people"].sum()) if len(routes.routes) else 0.0
    yield dg.AssetCheckResult(
        check_name="fibre_plan_holds_every_gap_person",
        passed=abs(gap_people - in_units) <= 1e-6 * max(1.0, gap_people),
        metadata={"fixed_gap_people": round(gap_people, 1), "people_in_units": round(in_units, 1)},
    )


@dg.op(
    out={"parts": dg.DynamicOut(dict), "drawn": dg.Out(list)},
    # plans exist for the detail quarters only: a range run's history quarters have none
    ins={"investment_plan": dg.In(metadata={"allow_missing_partitions": True})},
)
def plan_maps_split(
    context: dg.OpExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    investment_plan: Any,
):
    """The latest quarter's planned sites and fibre of each group of provinces
    (``settings.provinces_per_step``), for the steps that draw their maps; with one group,
    every map drawn here."""
    inv = inputs.inventory()
    latest = max(inv.quarters, default=None)
    drawn: list[dict] = []
    if latest not in context.partition_keys:
        context.log.info(f"province plan maps are drawn for the latest quarter ({latest}) only")
        yield dg.Output(drawn, output_name="drawn")
        return
    plan = quarter_value(context, "investment_plan", investment_plan, latest)
    sites, routes = plan["sites"], plan["routes"]
    lines = np.asarray(list(plan["route_lines"]), dtype=object)
    if one_group(settings.provinces_per_step):
        part = {"sites": sites, "routes": routes, "lines": lines, "sample": inv.sample}
        drawn.append(_draw_plan_maps(outputs, latest, None, part))
    else:
        for codes in province_groups(settings.provinces_per_step):
            s_in = in_provinces(sites, codes, "province")
            r_in = in_provinces(routes, codes, "province")
            yield dg.DynamicOutput(
                {
                    "sites": sites.loc[s_in],
                    "routes": routes.loc[r_in],
                    "lines": lines[r_in],
                    "sample": inv.sample,
                },
                mapping_key=mapping_key(latest, codes),
                output_name="parts",
            )
    yield dg.Output(drawn, output_name="drawn")


def _draw_plan_maps(
    outputs: OutputStore, quarter: str, codes: tuple[str, ...] | None, part: dict
) -> dict:
    from geodata.publishing.maps import source_line

    t0 = time.perf_counter()
    sample = part["sample"]
    written = write_province_plan_maps(
        part["sites"],
        part["routes"],
        part["lines"],
        quarter,
        outputs.root(),
        sample=sample,
        source=source_line(sample),
        provinces_34=codes,
    )
    return {"quarter": quarter, "paths": written, "seconds": time.perf_counter() - t0}


@dg.op
def plan_maps_draw(context: dg.OpExecutionContext, outputs: OutputStore, part: dict) -> dict:
    """One map per province of one group (both versions): its planned sites and fibre."""
    codes = provinces_of_key(context.get_mapping_key())
    return _draw_plan_maps(outputs, quarter_of(context), codes, part)


@dg.op
def plan_maps_gather(context: dg.OpExecutionContext, parts: list[dict], drawn: list[dict]):
    """The maps drawn, per quarter (none but for the latest quarter)."""
    values: dict[str, list[str]] = {}
    metadata: dict[str, dict] = {}
    for quarter, done in parts_by_quarter([*drawn, *parts]):
        values[quarter] = [path for part in done for path in part["paths"]]
        metadata[quarter] = {
            "quarter": quarter,
            "province_maps": len(values[quarter]),
            "province_steps": len(done),
            "seconds_drawing": round(sum(part["seconds"] for part in done), 2),
        }
    merged = merge_quarter_metadata(metadata) if metadata else {"province_maps": 0}
    value = run_value(context, values)  # a one-quarter run of an older quarter: no maps
    return dg.Output([] if value is None else value, metadata=merged)


@dg.graph_asset(
    automation_condition=dg.AutomationCondition.eager(),
    group_name="priorities",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"png"},
    ins={"investment_plan": dg.AssetIn(dagster_type=Any)},
)
def province_plan_maps(investment_plan):
    """``downloads/{version}/{code}_{slug}/{quarter}_plan.png``: every province's map of the
    planned sites and fibre (national ranks), both versions, latest quarter. One step per group
    of provinces (``dagster_project.provinces``); the value is the paths drawn."""
    parts, drawn = plan_maps_split(investment_plan)
    return plan_maps_gather(parts.map(plan_maps_draw).collect(), drawn)
