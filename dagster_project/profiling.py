"""Per-step wall time, CPU time and peak RSS of a refresh, for the benchmark (``bench/``).

A ``logging.Handler`` that Dagster attaches to every run when the instance's ``dagster.yaml``
names it (the benchmark writes this into its own ``DAGSTER_HOME``; nothing else uses it)::

    python_logs:
      dagster_handler_config:
        handlers:
          step_profile:
            class: dagster_project.profiling.StepProfileHandler
            level: DEBUG
            path: /tmp/steps.jsonl

Dagster hands the handler every event of a run, in the step's own thread (the in-process
executor of ``dg.materialize`` runs steps one after another). On ``STEP_START`` it notes the wall
clock and process CPU time and resets the process's peak RSS (Linux: writing ``5`` to
``/proc/self/clear_refs``); on ``STEP_SUCCESS`` / ``STEP_FAILURE`` it appends one JSON line:
``{"step", "partition", "status", "wall_s", "cpu_s", "peak_rss_mb", "run_id"}``. The peak is the
process's high-water mark during the step (VmHWM), so it includes what was held before the step.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

__all__ = ["StepProfileHandler", "peak_rss_mb", "reset_peak_rss"]

_STARTS: dict[tuple[str, str], tuple[float, float]] = {}  # shared: Dagster makes a handler per run


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """This process's peak resident set size (VmHWM) in MB, None where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class StepProfileHandler(logging.Handler):
    """Append one JSON line per finished step to ``path`` (or ``$GAP_MONITOR_PROFILE_STEPS``)."""

    def __init__(self, path: str | None = None, level: int | str = logging.DEBUG) -> None:
        super().__init__(level)
        self.path = path or os.environ.get("GAP_MONITOR_PROFILE_STEPS", "")

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None or not self.path:
            return
        kind = getattr(event, "event_type_value", "")
        key = (str(meta.get("run_id")), str(meta.get("step_key")))
        if kind == "STEP_START":
            reset_peak_rss()
            _STARTS[key] = (time.perf_counter(), time.process_time())
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and key in _STARTS:
            wall0, cpu0 = _STARTS.pop(key)
            line = {
                "step": key[1],
                "partition": (meta.get("job_tags") or {}).get("dagster/partition"),
                "status": "success" if kind == "STEP_SUCCESS" else "failure",
                "wall_s": round(time.perf_counter() - wall0, 3),
                "cpu_s": round(time.process_time() - cpu0, 3),
                "peak_rss_mb": peak_rss_mb(),
                "run_id": key[0],
            }
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
