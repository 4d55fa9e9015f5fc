"""How a run's steps are executed: Dagster's own executors, chosen by ``GAP_MONITOR_EXECUTOR``.

- ``in_process`` (what ``make run`` uses when nothing is set): every step in the refresh's
  process, one after another; nothing to set up.
- ``multiprocess``: one process per step on this host, ``GAP_MONITOR_MAX_CONCURRENT`` at once
  (default: the number of cores).
- ``forkserver``: the same, but steps fork from a server that has already imported the
  pipeline (``dagster_project``, ``geodata``, numpy, pandas, geopandas, h3): a step starts in
  well under a second instead of paying the imports again.
- ``celery``: steps go to Celery workers on any number of machines (``dagster_celery``), through
  the broker ``GAP_MONITOR_CELERY_BROKER`` (e.g. ``redis://host:6379/0``; results through
  ``GAP_MONITOR_CELERY_BACKEND``, default the broker). Workers need the same code installed,
  and reach the run's storage (Postgres), the IO manager's store (``GAP_MONITOR_STORAGE``) and
  the input and output folders at the same paths; see ``deploy/README.md``.

The Kubernetes job executor (``dagster_k8s.k8s_job_executor``) is configured in
``deploy/k8s/``; it is not importable here unless ``dagster-k8s`` is installed.
Integration libraries are imported only when chosen, so loading the code location stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

__all__ = ["EXECUTOR_ENV", "EXECUTORS", "executor_name", "executor_from_env", "PRELOAD_MODULES"]

EXECUTOR_ENV = "GAP_MONITOR_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "forkserver", "celery")
#: What the forkserver imports once, before forking a step.
PRELOAD_MODULES = [
    "numpy",
    "pandas",
    "pyarrow",
    "geopandas",
    "h3",
    "geodata",
    "dagster_project.definitions",
]


def executor_name(environ: Mapping[str, str] | None = None) -> str:
    """The executor ``GAP_MONITOR_EXECUTOR`` names (one of :data:`EXECUTORS`), or "" when unset."""
    env = os.environ if environ is None else environ
    name = env.get(EXECUTOR_ENV, "").strip().lower()
    if name and name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected one of {', '.join(EXECUTORS)}")
    return name


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor named by ``GAP_MONITOR_EXECUTOR``; None (Dagster's default) when unset."""
    env = os.environ if environ is None else environ
    name = executor_name(env)
    if not name:
        return None
    if name == "in_process":
        return dg.in_process_executor
    max_concurrent = int(env.get("GAP_MONITOR_MAX_CONCURRENT", "").strip() or os.cpu_count() or 1)
    if name == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": max_concurrent})
    if name == "forkserver":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": max_concurrent,
                "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}},
            }
        )
    broker = env.get("GAP_MONITOR_CELERY_BROKER", "").strip()
    if not broker:
        raise ValueError(
            f"{EXECUTOR_ENV}=celery needs GAP_MONITOR_CELERY_BROKER (e.g. redis://host:6379/0)"
        )
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError(
            f'{EXECUTOR_ENV}=celery needs dagster-celery: pip install -e ".[distributed]"'
        ) from exc
    backend = env.get("GAP_MONITOR_CELERY_BACKEND", "").strip() or broker
    return celery_executor.configured({"broker": broker, "backend": backend})
