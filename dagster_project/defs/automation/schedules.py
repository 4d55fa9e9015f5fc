"""Jobs, the nightly schedules (02:00 Asia/Ho_Chi_Minh) and the input-directory sensor."""

import json

import dagster as dg

from dagster_project.defs.automation.refresh import (
    ROOT_ASSETS,
    add_new_quarters,
    base_request,
    input_state,
    materialized_state,
    quarter_requests,
)
from dagster_project.partitions import quarters
from dagster_project.resources import InputSource
from geodata.inputs import settling_files

NIGHTLY_CRON = "0 2 * * *"
#: Cursor key of the input files seen still settling (relative path -> [size, mtime_ns]).
PENDING_KEY = "settling"
TIMEZONE = "Asia/Ho_Chi_Minh"

refresh_inputs_job = dg.define_asset_job(
    "refresh_inputs_job",
    selection=dg.AssetSelection.assets(*ROOT_ASSETS),
    description="Reads and validates the unpartitioned inputs (boundaries, population, sites, "
    "coverage, adoption); downstream assets follow by automation.",
)
refresh_quarter_job = dg.define_asset_job(
    "refresh_quarter_job",
    selection=dg.AssetSelection.assets("speed_tiles"),
    partitions_def=quarters,
    description="Reads and validates one quarter's speed tiles; downstream assets follow.",
)


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    job=refresh_inputs_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly refresh of the base inputs; skipped by run key when nothing changed.",
)
def nightly_refresh(context: dg.ScheduleEvaluationContext, inputs: InputSource):
    state = input_state(inputs.inventory())
    if materialized_state(context.instance, []).get("base") == state["base"]:
        return dg.SkipReason("base inputs unchanged since their last materialisation")
    return [base_request(state)]


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    job=refresh_quarter_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly refresh of every quarter's speed tiles whose files changed.",
)
def nightly_speed_tiles_refresh(context: dg.ScheduleEvaluationContext, inputs: InputSource):
    state = input_state(inputs.inventory())
    add_new_quarters(context.instance, [q for q in state if q != "base"])
    done = materialized_state(context.instance, [q for q in state if q != "base"])
    requests = quarter_requests(
        state, only={q for q in state if q != "base" and done.get(q) != state[q]}
    )
    return requests or dg.SkipReason(
        "no quarter's speed tiles changed since their last materialisation"
    )


@dg.sensor(
    jobs=[refresh_inputs_job, refresh_quarter_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notices new or changed files in the input directory (cursor = fingerprints).",
)
def input_files_sensor(context: dg.SensorEvaluationContext, inputs: InputSource):
    cursor = json.loads(context.cursor) if context.cursor else None
    # a file still being copied is neither read nor counted: size and mtime only, no hashing
    report = settling_files(
        inputs.root(), inputs.settle_seconds, seen=(cursor or {}).get(PENDING_KEY)
    )
    if report.settling:
        names = "; ".join(f"{k}: {why}" for k, why in sorted(report.settling.items())[:5])
        more = f" and {len(report.settling) - 5} more" if len(report.settling) > 5 else ""
        return dg.SensorResult(
            skip_reason=f"waiting for {len(report.settling)} input file(s) to stay unchanged "
            f"for {inputs.settle_seconds:g} s: {names}{more}",
            cursor=json.dumps({**(cursor or {}), PENDING_KEY: report.pending}, sort_keys=True),
        )
    state = input_state(inputs.inventory())  # unchanged files come from the hash memo
    previous: dict[str, str] = (
        cursor
        if cursor is not None and "base" in cursor  # a cursor of settling files only: no state
        else materialized_state(context.instance, [q for q in state if q != "base"])
    )
    changed = {k for k, v in state.items() if previous.get(k) != v}
    if not changed:
        return dg.SensorResult(
            skip_reason="no new or changed input files", cursor=json.dumps(state, sort_keys=True)
        )
    requests = []
    if "base" in changed:
        requests.append(base_request(state).with_replaced_attrs(job_name=refresh_inputs_job.name))
    new = sorted(q for q in changed - {"base"} if q not in previous)
    for req in quarter_requests(state, only=changed - {"base"}):
        requests.append(req.with_replaced_attrs(job_name=refresh_quarter_job.name))
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(state, sort_keys=True),
        dynamic_partitions_requests=[quarters.build_add_request(new)] if new else [],
    )


automation_sensor = dg.AutomationConditionSensorDefinition(
    "gap_monitor_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materialises downstream assets once their inputs are refreshed (eager).",
)
