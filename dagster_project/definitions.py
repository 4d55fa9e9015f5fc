"""The code location: every asset, check, job, schedule and sensor, and the resources.

The environment is read here and only here, when Dagster loads the definitions:
``GAP_MONITOR_INPUT_DIR`` (default: the synthetic sample, generated on first use into
``.cache/sample-inputs-SYNTHETIC``) and ``GAP_MONITOR_OUTPUT_DIR`` (default ``assets/``), ``GAP_MONITOR_THRESHOLDS`` (the service-class
threshold set: ``ntia_fcc``, the default, or ``vn_2025``), ``GAP_MONITOR_SETTLE_SECONDS`` (how long
a new input file must stay unchanged before the sensor reads it, default 120),
``GAP_MONITOR_STORAGE`` (where asset values are stored between steps: empty for the instance's
``storage/`` folder, or an fsspec URL such as ``s3://bucket/prefix``; see
:mod:`dagster_project.storage`) and ``GAP_MONITOR_EXECUTOR`` (how a run's steps are executed; see
:mod:`dagster_project.executors`) and ``GAP_MONITOR_PROVINCES_PER_STEP`` (how many provinces one
step of the per-province outputs takes; see :mod:`dagster_project.provinces`).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_project.defs.automation.refresh import REFRESH_JOB
from dagster_project.defs.automation.schedules import (
    automation_sensor,
    input_files_sensor,
    nightly_refresh,
    refresh_assets_job,
)
from dagster_project.defs.cells import assets as cells
from dagster_project.defs.inputs import assets as inputs
from dagster_project.defs.maps import assets as maps
from dagster_project.defs.priorities import assets as priorities
from dagster_project.defs.reference import assets as reference
from dagster_project.defs.summaries import assets as summaries
from dagster_project.defs.targets import assets as targets
from dagster_project.executors import executor_from_env
from dagster_project.provinces import default_provinces_per_step
from dagster_project.resources import (
    DirectoryInputs,
    InputSource,
    OutputStore,
    PipelineSettings,
    SampleInputs,
)
from dagster_project.storage import STORAGE_ENV, SharedStorageIOManager

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE_DIR = PROJECT_ROOT / ".cache" / "sample-inputs-SYNTHETIC"
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "assets"

ALL_ASSETS = dg.load_assets_from_modules(
    [reference, inputs, cells, summaries, targets, maps, priorities]
)


def resources_from_env(environ: dict[str, str] | None = None) -> dict[str, object]:
    """Resources for the local default or the directories named by the environment."""
    env = os.environ if environ is None else environ
    input_dir = env.get("GAP_MONITOR_INPUT_DIR", "").strip()
    settle = float(env.get("GAP_MONITOR_SETTLE_SECONDS", "").strip() or 120.0)
    source: InputSource = (
        DirectoryInputs(path=input_dir, settle_seconds=settle)
        if input_dir
        else SampleInputs(path=str(DEFAULT_SAMPLE_DIR), settle_seconds=settle)
    )
    output_dir = env.get("GAP_MONITOR_OUTPUT_DIR", "").strip() or str(DEFAULT_OUTPUT_DIR)
    return {
        "inputs": source,
        "outputs": OutputStore(
            path=output_dir, publish_url=env.get("GAP_MONITOR_PUBLISH_URL", "").strip()
        ),
        "settings": PipelineSettings(
            thresholds=env.get("GAP_MONITOR_THRESHOLDS", "").strip() or "ntia_fcc",
            provinces_per_step=default_provinces_per_step(env),
        ),
        "io_manager": SharedStorageIOManager(base_path=env.get(STORAGE_ENV, "").strip()),
    }


def build_definitions(
    resources: dict[str, object], executor: dg.ExecutorDefinition | None = None
) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[refresh_assets_job],
        schedules=[nightly_refresh],
        sensors=[input_files_sensor, automation_sensor],
        resources=resources,
        executor=executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(resources_from_env(), executor_from_env())


def refresh_job() -> dg.JobDefinition:
    """The refresh job as a distributed run rebuilds it in every step process (see
    ``dg.reconstructable``): the resources' values come from the run's configuration."""
    return defs().resolve_job_def(REFRESH_JOB)
