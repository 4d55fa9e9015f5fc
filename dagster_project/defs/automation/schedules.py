"""The refresh job, the nightly schedule (02:00 Asia/Ho_Chi_Minh) and the input-directory sensor.

Both launch at most ONE run per detected change (:mod:`dagster_project.defs.automation.refresh`):
the assets the change affects, over the quarters it affects, published once.
"""

import json

import dagster as dg

from dagster_project.defs.automation.refresh import (
    REFRESH_JOB,
    add_new_quarters,
    input_state,
    materialized_state,
    plan_refresh,
    refresh_request,
)
from dagster_project.partitions import quarters
from dagster_project.resources import InputSource, OutputStore, PipelineSettings
from geodata.inputs import settling_files

NIGHTLY_CRON = "0 2 * * *"
#: Cursor key of the input files seen still settling (relative path -> [size, mtime_ns]).
PENDING_KEY = "settling"
TIMEZONE = "Asia/Ho_Chi_Minh"

refresh_assets_job = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.all(),
    description="Every asset. The nightly schedule and the sensor launch it with the assets a "
    "change affects and the quarters it covers (one run, one publication); a refresh on "
    "several executors (dagster_project.run) launches it per step group.",
)


def _plan(instance: dg.DagsterInstance, inputs: InputSource, settings: PipelineSettings, previous):
    inv = inputs.inventory()
    state = input_state(inv)
    add_new_quarters(instance, inv.quarters)
    if previous is None:
        previous = materialized_state(instance, inv.quarters)
    order = instance.get_dynamic_partitions(quarters.name)
    return state, plan_refresh(state, previous, order, settings.detail_quarters)


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    job_name=REFRESH_JOB,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly refresh: one run for whatever changed since the last materialisations "
    "(base inputs, speed tiles of any quarter); nothing when nothing changed.",
)
def nightly_refresh(
    context: dg.ScheduleEvaluationContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
):
    _, plan = _plan(context.instance, inputs, settings, None)
    if plan is None:
        return dg.SkipReason("no input changed since the last materialisation")
    return [refresh_request(plan, {"inputs": inputs, "outputs": outputs, "settings": settings})]


@dg.sensor(
    job_name=REFRESH_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notices new or changed files in the input directory once they have settled "
    "(cursor = fingerprints) and launches one run for them.",
)
def input_files_sensor(
    context: dg.SensorEvaluationContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
):
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
    # a cursor of settling files only holds no state: the last materialisations tell then
    previous = cursor if cursor is not None and "base" in cursor else None
    state, plan = _plan(context.instance, inputs, settings, previous)
    if plan is None:
        return dg.SensorResult(
            skip_reason="no new or changed input files", cursor=json.dumps(state, sort_keys=True)
        )
    request = refresh_request(plan, {"inputs": inputs, "outputs": outputs, "settings": settings})
    return dg.SensorResult(run_requests=[request], cursor=json.dumps(state, sort_keys=True))


automation_sensor = dg.AutomationConditionSensorDefinition(
    "gap_monitor_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materialises downstream assets of a manual materialisation (eager); the "
    "refresh runs already cover their downstream assets, so it finds nothing to do after them.",
)
