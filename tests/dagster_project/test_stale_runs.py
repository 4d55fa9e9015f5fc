"""Runs left STARTED by a killed refresh are marked failed; runs of live processes are not."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
from dagster._core.events import EngineEventData

from dagster_project.stale_runs import (
    PROCESS_TAG,
    _start_ticks,
    fail_runs_of_dead_processes,
    process_tags,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
Status = dg.DagsterRunStatus


@dg.op
def _noop() -> None:
    pass


@dg.job
def _job() -> None:
    _noop()


def _dead_process() -> tuple[int, str]:
    """(pid, start) of a process that existed and was killed -9."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = _start_ticks(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.pid, start or ""


def _run(instance, status, tags=None, pid=None) -> str:
    run = instance.create_run_for_job(_job, status=status, tags=tags or {})
    if pid is not None:  # what the in-process executor records first
        instance.report_engine_event(
            f"Executing steps in process (pid: {pid})", run, EngineEventData.in_process(pid)
        )
    return run.run_id


def test_runs_of_dead_processes_are_failed_and_the_others_left_alone():
    host = socket.gethostname()
    dead, dead_start = _dead_process()
    me = os.getpid()
    with dg.instance_for_test() as instance:
        ours_dead = {PROCESS_TAG: f"{host}:{dead}:{dead_start}"}
        failed = {
            _run(instance, Status.STARTED, ours_dead),
            _run(instance, Status.NOT_STARTED, ours_dead),  # killed before its first step
            _run(instance, Status.STARTING, ours_dead),
            _run(instance, Status.STARTED, pid=dead),  # untagged: the executor's pid
            # a pid now used by another process (this one) that started at another time
            _run(instance, Status.STARTED, {PROCESS_TAG: f"{host}:{me}:1"}),
        }
        left = {
            _run(instance, Status.STARTED, process_tags()): Status.STARTED,  # alive: this one
            _run(instance, Status.STARTED, pid=me): Status.STARTED,
            _run(instance, Status.STARTED): Status.STARTED,  # no pid known
            _run(instance, Status.NOT_STARTED): Status.NOT_STARTED,  # not ours: no owner known
            _run(instance, Status.STARTED, {PROCESS_TAG: f"elsewhere:{dead}:"}): Status.STARTED,
            _run(instance, Status.SUCCESS, ours_dead): Status.SUCCESS,
            _run(instance, Status.FAILURE, ours_dead): Status.FAILURE,
        }
        assert set(fail_runs_of_dead_processes(instance)) == failed
        for run_id in failed:
            run = instance.get_run_by_id(run_id)
            assert run.status == Status.FAILURE
            (log,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert log.dagster_event.message.startswith("Marked failed by the next refresh")
        for run_id, status in left.items():
            assert instance.get_run_by_id(run_id).status == status
        assert fail_runs_of_dead_processes(instance) == []  # a second sweep finds nothing


_MATERIALIZE_AND_HANG = textwrap.dedent(
    """
    import time
    import dagster as dg
    from dagster_project.stale_runs import process_tags

    @dg.asset
    def slow() -> None:
        print("step started", flush=True)
        time.sleep(120)

    dg.materialize([slow], instance=dg.DagsterInstance.get(), tags=process_tags())
    """
)


def test_a_materialize_killed_9_is_failed_by_the_next_sweep(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").touch()
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", _MATERIALIZE_AND_HANG],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("step started"):
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == Status.STARTED  # what a kill -9 leaves
        assert fail_runs_of_dead_processes(instance) == [record.dagster_run.run_id]
        assert instance.get_run_by_id(record.dagster_run.run_id).status == Status.FAILURE
        assert fail_runs_of_dead_processes(instance) == []
    finally:
        instance.dispose()
