"""Dagster runs left unfinished by a refresh that was killed (``kill -9``, power loss).

A run executed in process by ``make run`` stays ``STARTED`` (or ``NOT_STARTED``) in the instance
forever when its process dies: nothing else will ever end it. :func:`fail_runs_of_dead_processes`
finds the unfinished runs whose process is gone and marks them failed through the instance
(``report_run_failed``), so the UI and the asset health show the truth.

Which process ran a run:

* runs started by ``make run`` carry the tag :data:`PROCESS_TAG` = ``host:pid:start`` (start =
  the process's start time in clock ticks since boot, from ``/proc``, so that a reused pid is not
  taken for the dead process);
* other runs (``dagster dev``, older refreshes) are judged by the pid their executor recorded in
  its first engine event ("Executing steps in process (pid: ...)"); a run with neither, or
  started on another host, is left alone.
"""

from __future__ import annotations

import os
import socket
from functools import cache

import dagster as dg

__all__ = ["PROCESS_TAG", "fail_runs_of_dead_processes", "process_tags"]

PROCESS_TAG = "gap_monitor/refresh_process"
#: Unfinished states; QUEUED and NOT_STARTED only for runs tagged by a refresh (a queued run of
#: the daemon has no process yet, by design).
_RUNNING = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING)
_WAITING = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED)


def _start_ticks(pid: int) -> str | None:
    """Start time of process ``pid`` (field 22 of ``/proc/<pid>/stat``); "" when ``/proc`` is
    not available and the process may exist; None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else _exists_by_signal(pid)
    except (OSError, IndexError):
        return _exists_by_signal(pid)


def _exists_by_signal(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


def _alive(pid: int, start: str = "") -> bool:
    now = _start_ticks(pid)
    return now is not None and (not start or not now or now == start)


@cache
def process_tags() -> dict[str, str]:
    """Tags for every run this process starts: who runs it, for the sweep of a later refresh."""
    pid = os.getpid()
    return {PROCESS_TAG: f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"}


def _owner(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, str] | None:
    """(pid, start) of the process that ran ``run`` on this host, or None if unknown."""
    if tag := run.tags.get(PROCESS_TAG):
        host, pid, start = (tag.rsplit(":", 2) + ["", ""])[:3]
        if host != socket.gethostname() or not pid.isdigit():
            return None
        return int(pid), start
    if run.status not in _RUNNING:
        return None
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event is not None else None
        recorded = data.metadata.get("pid") if data is not None else None
        if recorded is not None and str(recorded.value).isdigit():
            return int(str(recorded.value)), ""
    return None


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run of ``instance`` whose process is gone; their run ids.

    Never touches a run whose process is alive (this one's included), a run of another host, or
    a queued run of the daemon.
    """
    swept = []
    records = instance.get_run_records(dg.RunsFilter(statuses=[*_RUNNING, *_WAITING]))
    for record in records:
        run = record.dagster_run
        owner = _owner(instance, run)
        if owner is None or _alive(*owner):
            continue
        pid = owner[0]
        instance.report_run_failed(
            run,
            message=(
                f"Marked failed by the next refresh: the process that ran it (pid {pid}) is "
                f"gone (killed?) and left it {run.status.value}."
            ),
        )
        swept.append(run.run_id)
    return swept
