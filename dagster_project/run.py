"""`make run`: materialise every asset from the command line, then say where the outputs are.

Uses a persistent Dagster instance in ``.dagster_home`` (unless ``DAGSTER_HOME`` is set), so the
runs, checks and maps appear afterwards in ``dagster dev``. A second run with no changed input
file does no work: the fingerprints of the last complete refresh are kept in the output
directory and compared first.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from dagster_project.definitions import ALL_ASSETS, PROJECT_ROOT, refresh_job, resources_from_env
from dagster_project.defs.automation.refresh import add_new_quarters, input_state
from dagster_project.executors import executor_name
from dagster_project.resources import detail_quarters, resource_run_config
from dagster_project.stale_runs import fail_runs_of_dead_processes, process_tags
from geodata.errors import InputError
from geodata.provenance import atomic_write_json, fingerprint, sha256_file
from geodata.publishing.generations import (
    CURRENT,
    RefreshLocked,
    current_generation,
    probe_writable,
    refresh_lock,
    sweep_leftovers,
)

UNPARTITIONED_INPUTS = [
    "province_boundaries",
    "population_cells",
    "cell_sites",
    "coverage_rasters",
    "adoption_statistics",
    "coverage_cells",
]
PER_QUARTER = [
    "speed_tiles",
    "gap_cells",
    "gap_clusters",
    "investment_plan",
    "province_plan_maps",
    "province_sums",
    "province_summaries",
    "inequality",
    "gap_maps",
    "province_downloads",
]
#: What an older quarter (before the latest ``PipelineSettings.detail_quarters``) needs: the
#: scorecard's and the trends' inputs, not the maps, plans and downloads of the latest ones.
HISTORY_QUARTER = [
    "speed_tiles",
    "gap_cells",
    "province_sums",
    "province_summaries",
    "inequality",
]
ACROSS_QUARTERS = ["gap_trends", "targets_scorecard", "investment_priorities", "output_manifest"]
STATE_FILE = ".refresh_state.json"
#: The local instance's configuration, written when DAGSTER_HOME has none (``make run``,
#: ``make ui``): runs, events and storage under DAGSTER_HOME (SQLite), and a run queue that lets
#: the schedule's and the sensor's refresh runs (tag ``gap_monitor/inputs``) run one at a time.
#: deploy/dagster.yaml is the configuration for several machines.
LOCAL_INSTANCE_YAML = """\
# written by dagster_project.run (make run / make ui); see deploy/dagster.yaml for Postgres
concurrency:
  runs:
    max_concurrent_runs: 2
    tag_concurrency_limits:
      - key: gap_monitor/inputs
        value: {applyLimitPerUniqueValue: true}
        limit: 1
telemetry:
  enabled: false
"""


def ensure_home(home: Path | None = None) -> Path:
    """DAGSTER_HOME (default ``.dagster_home``) with a ``dagster.yaml``: an existing non-empty one
    is kept, else :data:`LOCAL_INSTANCE_YAML` is written."""
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    home = home or Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or not config.read_text().strip():
        config.write_text(LOCAL_INSTANCE_YAML)
    return home


def _materialize(
    instance: dg.DagsterInstance,
    resources: dict,
    selection: list[str],
    partition_key: str | None = None,
) -> list[str]:
    """Materialise ``selection``; returns the names of the checks that did not pass.

    In this process by default; with ``GAP_MONITOR_EXECUTOR`` set (multiprocess, forkserver,
    celery), as a run of :data:`REFRESH_JOB` on that executor. The run's configuration carries
    every resource's settings, so each step uses the launcher's paths wherever it runs."""
    run_config = {
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        **resource_run_config(resources),
    }
    tags = process_tags()  # who runs it: the next refresh fails it if this process is killed
    if executor_name() in ("", "in_process"):
        result = dg.materialize(
            ALL_ASSETS,
            selection=selection,
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags=tags,
            run_config=run_config,
            partition_key=partition_key,
        )
    else:
        if partition_key is not None:
            tags = {**tags, "dagster/partition": partition_key}
        result = dg.execute_job(
            dg.reconstructable(refresh_job),
            instance=instance,
            run_config=run_config,
            tags=tags,
            asset_selection=[dg.AssetKey(name) for name in selection],
            raise_on_error=False,
        )
    failed = []
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()} / {evaluation.check_name}"
        print(f"  check {'passed' if evaluation.passed else 'FAILED'}: {name}")
        if not evaluation.passed:
            failed.append(name)
    if not result.success:
        reasons = [_user_error(e) for e in result.get_step_failure_events()]
        more = f" (and {len(reasons) - 1} more failed steps)" if len(reasons) > 1 else ""
        raise SystemExit(
            f"error: run {result.run_id} failed: {reasons[0] if reasons else 'see the log'}{more}"
        )
    return failed


def _user_error(event: dg.DagsterEvent) -> str:
    """One line: the error the step's own code raised (e.g. a disk-full OutputWriteError)."""
    error = event.step_failure_data.error
    if error is not None and error.cls_name == "DagsterExecutionStepExecutionError" and error.cause:
        error = error.cause
    if error is None:
        return f"step {event.step_key} failed"
    return f"{event.step_key}: {error.message.strip().splitlines()[0]}"


def code_fingerprint() -> str:
    """Hash of the pipeline's own source: a changed kernel or asset refreshes everything."""
    packages = (PROJECT_ROOT / "geodata", PROJECT_ROOT / "dagster_project")
    return fingerprint(
        f"{p.relative_to(PROJECT_ROOT)}:{sha256_file(p)}"
        for pkg in packages
        for p in pkg.rglob("*.py")
    )


def refresh(
    instance: dg.DagsterInstance,
    resources: dict,
    previous: dict[str, str] | None = None,
    failed_checks: list[str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Materialise what changed since ``previous`` (everything when None), in dependency order.

    Returns the new input state and the list of steps run (empty when nothing changed); the
    names of checks that did not pass are appended to ``failed_checks`` when it is given.
    """
    failed = failed_checks if failed_checks is not None else []
    inv = resources["inputs"].inventory()
    detail = detail_quarters(inv.quarters, resources["settings"].detail_quarters)
    state = {**input_state(inv), "code": code_fingerprint(), "detail": detail}
    previous = previous or {}
    steps: list[str] = []
    if previous == state:
        return state, steps
    add_new_quarters(instance, inv.quarters)
    base_changed = previous.get("base") != state["base"] or previous.get("code") != state["code"]
    if base_changed:
        print("materialising reference, inputs, population and coverage cells ...")
        failed += _materialize(instance, resources, UNPARTITIONED_INPUTS)
        steps.append("base")
    for q in inv.quarters:
        # a quarter that just left the detail window keeps what it published; one that entered
        # it (a new quarter arrived) is refreshed in full
        entered = q in detail and q not in previous.get("detail", [])
        if base_changed or previous.get(q) != state[q] or entered:
            full = q in detail
            print(
                f"materialising quarter {q}{'' if full else ' (history: trends and scorecard)'} ..."
            )
            selection = PER_QUARTER if full else HISTORY_QUARTER
            failed += _materialize(instance, resources, selection, partition_key=q)
            steps.append(q)
    print("materialising trends and manifest ...")
    failed += _materialize(instance, resources, ACROSS_QUARTERS)
    steps.append("trends")
    return state, steps


def main() -> int:
    ensure_home()
    resources = resources_from_env()
    t0 = time.perf_counter()
    try:
        inv = resources["inputs"].inventory()
    except (OSError, InputError) as exc:
        print(f"error: inputs: {exc}", file=sys.stderr)
        return 2
    print(
        f"inputs: {inv.root} ({'SYNTHETIC sample' if inv.sample else 'user data'}; "
        f"{len(inv.files)} files; quarters {', '.join(inv.quarters) or 'none'})"
    )
    for rel, why in inv.skipped_report().items():
        print(f"  skipped {rel}: {why}")
    try:
        out_root = resources["outputs"].root()
        with refresh_lock(out_root):  # held for the whole refresh, released if the process dies
            instance = dg.DagsterInstance.get()
            if swept := sweep(out_root, instance):  # what a killed refresh left, before any work
                print(swept)
            probe_writable(out_root)  # a read-only or full output folder: one line, before any work
            return _refresh_and_report(instance, resources, out_root, t0)
    except RefreshLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:  # unwritable output directory, disk full, ...
        print(f"error: output directory {resources['outputs'].path}: {exc}", file=sys.stderr)
        return 2


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def sweep(out_root: Path, instance: dg.DagsterInstance) -> str:
    """Remove what a killed refresh left: the writers' temporary files, unfinished and orphan
    generations (:func:`geodata.publishing.generations.sweep_leftovers`), and mark failed the
    Dagster runs whose process is gone. Call it holding the refresh lock. One line saying what
    was swept, or "" when there was nothing."""
    found = sweep_leftovers(out_root)
    try:
        runs = fail_runs_of_dead_processes(instance)
    except Exception as exc:  # noqa: BLE001 - the instance's storage; never stops a refresh
        print(f"warning: could not check the Dagster runs left unfinished: {exc}", file=sys.stderr)
        runs = []
    for error in found["errors"]:
        print(f"warning: could not remove {error}", file=sys.stderr)
    parts = []
    if found["temp_files"]:
        mb = found["temp_bytes"] / 1e6
        parts.append(f"{_plural(found['temp_files'], 'temp file')} ({mb:.1f} MB)")
    if found["unfinished_generations"]:
        parts.append(_plural(found["unfinished_generations"], "unfinished generation"))
    if found["orphan_generations"]:
        parts.append(_plural(found["orphan_generations"], "never-served generation"))
    if runs:
        parts.append(f"{_plural(len(runs), 'run')} left STARTED by a killed refresh")
    return f"swept {', '.join(parts)}" if parts else ""


def _refresh_and_report(
    instance: dg.DagsterInstance, resources: dict, out_root: Path, t0: float
) -> int:
    state_path = out_root / STATE_FILE
    previous = json.loads(state_path.read_text()) if state_path.exists() else None
    if not (out_root / "manifest.json").exists() or current_generation(out_root) is None:
        previous = None  # nothing published yet: refresh and publish
    state, steps = refresh(instance, resources, previous)
    if not steps:
        print(f"nothing new since the last refresh: outputs in {out_root} are current")
        return 0
    atomic_write_json(state_path, state)
    print(f"\ndone in {time.perf_counter() - t0:.1f} s. Outputs in {out_root}:")
    if (generation := current_generation(out_root)) is not None:
        print(f"  published generation: {out_root / CURRENT} -> {generation.name}")
    for sub in (
        "maps",
        "geojson",
        "downloads",
        "tables",
        "cells",
        "quarantine",
        "outside_study_area",
    ):
        folder = out_root / sub
        if folder.is_dir():
            print(f"  {folder}/  ({sum(1 for _ in folder.iterdir())} files)")
    print(f"  {out_root / 'manifest.json'}")
    print(
        "Browse the graph, checks, schedules and maps: make ui  (dagster dev on http://127.0.0.1:3000)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
