"""Eight-quarter backfill: wall time, CPU time, per-step idle time and step start overhead of each
Dagster executor the pipeline offers (``GAP_MONITOR_EXECUTOR``).

What runs
---------
1. The input: the national input (``python -m geodata.sample --national``) with the sample's whole
   eight-quarter history (``DEFAULT_PERIODS``, 2024Q4..2026Q3), generated once into
   ``.cache/bench/national-8q[-xF][-pXX_YY]-SYNTHETIC`` and reused while its SAMPLE.json marker
   matches. ``BENCH_BACKFILL_SCALE`` (default 1: national size) scales it,
   ``BENCH_BACKFILL_PROVINCES=04,08`` slices it, ``BENCH_BACKFILL_INPUT=sample`` takes the ordinary
   (small) sample generator instead (``.cache/bench/sample-8q...``; a quick trial).
2. For each executor of ``BENCH_BACKFILL_EXECUTORS`` (default
   ``in_process,multiprocess,forkserver,celery``), ``python -m dagster_project.run`` as a child,
   into a fresh output folder and ``DAGSTER_HOME`` under ``.cache/bench/backfill/<executor>/``:
   a full backfill, i.e. one Dagster run for the base inputs, one per quarter (5 assets for the
   six older quarters, all 11 for the latest two) and one for the across-quarter assets. The
   per-province work runs in steps keyed quarter x province (``dagster_project.provinces``):
   ``BENCH_BACKFILL_PROVINCES_PER_STEP`` sets ``GAP_MONITOR_PROVINCES_PER_STEP`` for every
   executor (unset: each executor's default).

   - ``in_process``: exactly ``make run`` (no ``GAP_MONITOR_EXECUTOR``), SQLite instance;
   - ``multiprocess`` / ``forkserver``: ``GAP_MONITOR_EXECUTOR`` set, ``GAP_MONITOR_MAX_CONCURRENT``
     steps at once (default: the number of cores), SQLite instance;
   - ``celery``: as ``make scale-test`` (deploy/scale_test.py, whose helpers are reused): local
     PostgreSQL (the instance, deploy/dagster.yaml), Redis (broker) and a moto S3 server (asset
     values, ``GAP_MONITOR_STORAGE``, and the publication, ``GAP_MONITOR_PUBLISH_URL``), two Celery
     workers (``--concurrency=1``) started before the refresh and stopped after it.

Measures
--------
- **wall**: the refresh child process, start to exit.
- **CPU** (user + system) of every process that did the refresh's work:

  - *launcher*: ``RUSAGE_CHILDREN`` of this process, before and after the refresh. It covers the
    launcher and every descendant that was waited for: the multiprocess executor joins its step
    processes. The forkserver is never waited for by the launcher (Python 3.11 stops it only in
    tests): when the launcher exits it is orphaned, and it reaps its own step processes. So this
    process makes itself a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``) for the
    benchmark: orphans are re-parented to it, and after the launcher exits it waits for every new
    child (the forkserver, multiprocessing's resource tracker) before reading
    ``RUSAGE_CHILDREN``; their count is reported.
  - *workers* (celery): the Celery workers live across the refresh and must be measured while
    running, so ``/proc/<pid>/stat`` of each worker and all its descendants (the pool process),
    ``utime + stime + cutime + cstime`` summed over the process tree (the c-fields hold the
    reaped descendants, e.g. a replaced pool process), read after the workers are ready and
    again when the refresh has exited: the difference is what the workers spent on the refresh,
    their start-up imports and shutdown excluded.
  - *services* (celery, shown apart, not in the CPU total): the same ``/proc`` difference for
    the PostgreSQL, Redis and moto process trees.

- From the Dagster event log of the runs the refresh made (SQLite in the ``DAGSTER_HOME``, or
  Postgres, read before the services stop; the records are kept in ``events.json``):

  - **run wall**: ``RUN_START`` -> ``RUN_SUCCESS``/``RUN_FAILURE`` (Dagster logs them as
    ``PIPELINE_*``) of each run; *outside runs* = refresh wall - sum of run walls (the
    launcher's imports, input inventory, planning, the runs' creation).
  - **step duration**: ``STEP_START`` -> ``STEP_SUCCESS``/``STEP_FAILURE``.
  - **per-step idle** = sum over runs of (run wall - time in which at least one step was between
    ``STEP_START`` and its end), divided by the number of steps. With one step at a time
    (in-process) the busy time is the sum of step durations, i.e. run wall - sum of step
    durations; with steps in parallel (multiprocess, forkserver, celery) the union of the step
    intervals is used, so overlap never makes idle time negative. *Parallelism* = sum of step
    durations / sum of busy time.
  - **step start overhead** = ``STEP_START`` - the time the step could have started, which is
    the later of

    * its *hand-over*: the engine event the executor logs when it submits the step,
      ``STEP_WORKER_STARTING`` ("Launching subprocess for ...", multiprocess and forkserver, which
      submit a step only when one of their slots is free) or the ``ENGINE_EVENT`` "Submitting
      celery task for step ..." (celery, which submits every step whose inputs are ready); the
      in-process executor logs none: its hand-over is the ``RUN_START``;
    * the end (``STEP_SUCCESS``/``STEP_FAILURE``) of the step the same process ran before it
      (the pid of the events): in-process, the previous step, i.e. the latest ``RUN_START``/step
      end before it, as every step runs in the launcher one after another; in celery, the
      worker's previous task, as a task submitted while both workers are busy waits in the
      queue; never in multiprocess/forkserver (a fresh process per step).

    Median and max over all steps. *queued* = hand-over -> that time (celery: waiting for a free
    worker; not overhead).
  - split of the overhead where the executor logs the pick-up: *launch* = that time -> the step's
    process or worker taking it (``STEP_WORKER_STARTED`` "Executing step ... in subprocess":
    process start and imports; the worker's ``ENGINE_EVENT`` "[CeleryExecutor] Executing steps
    ... in celery worker": the previous result sent, the broker, the task received, the job
    reconstructed and the step's plan built), then *init* = that -> ``STEP_START`` (resources,
    log capture).
  - **dispatch** = hand-over - the latest ``RUN_START``/step end of the run before it: how long
    the executor took to react to the event that let the step go (a dependency done or a slot
    free: a multiprocess child's exit, celery's 1 s result polling). Not in the start overhead.
    A lower bound: an unrelated step that ended in between shortens it.

Prints one table of wall / CPU / idle and one of start overhead, and writes every figure to
``.cache/bench/backfill.json``. Run: ``.venv/bin/python -m bench bench_backfill`` (part of
``make bench``); a quick trial on the small sample::

    BENCH_BACKFILL_INPUT=sample BENCH_BACKFILL_PROVINCES=04,08 .venv/bin/python -m bench bench_backfill
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from bench.full_refresh import CACHE, ROOT, machine
from geodata.sample.generate import DEFAULT_PERIODS, ensure_sample

__all__ = [
    "EXECUTORS",
    "EventRecord",
    "StepTiming",
    "RunIdle",
    "step_timings",
    "run_idle",
    "summarize_runs",
    "parse_proc_stat",
    "tree_cpu_ticks",
    "run_benchmark",
    "main",
]

EXECUTORS = ("in_process", "multiprocess", "forkserver", "celery")
WORKDIR = CACHE / "backfill"
JSON_PATH = CACHE / "backfill.json"
N_WORKERS = 2

# --- event records -> measures (pure: no Dagster, no clock) --------------------------------------

#: Dagster still logs the run's own events under their old names.
_RENAMED = {
    "PIPELINE_START": "RUN_START",
    "PIPELINE_SUCCESS": "RUN_SUCCESS",
    "PIPELINE_FAILURE": "RUN_FAILURE",
    "PIPELINE_CANCELED": "RUN_CANCELED",
}
_RUN_END = ("RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED")
_STEP_END = ("STEP_SUCCESS", "STEP_FAILURE")
_QUOTED = re.compile(r'"([^"]+)"')


class EventRecord(NamedTuple):
    """One event-log entry, reduced to what the measures need."""

    t: float  # seconds since the epoch (EventLogEntry.timestamp)
    kind: str  # DagsterEventType value, PIPELINE_* as RUN_*; "" for a plain log message
    step: str | None = None
    message: str = ""
    pid: int | None = None


def normalized_kind(value: str | None) -> str:
    return _RENAMED.get(value or "", value or "")


def _submission(r: EventRecord) -> bool:
    """The executor hands the step over: a subprocess launched, or a Celery task sent."""
    return r.kind == "STEP_WORKER_STARTING" or (
        r.kind == "ENGINE_EVENT" and r.message.startswith("Submitting celery task for step")
    )


def _pickup(r: EventRecord) -> bool:
    """The step's process (multiprocess) or a Celery worker (celery) has taken the step."""
    return r.kind == "STEP_WORKER_STARTED" or (
        r.kind == "ENGINE_EVENT"  # "[CeleryExecutor] Executing steps gap_cells in celery worker"
        and "Executing steps" in r.message
        and r.message.endswith("in celery worker")
    )


def _step_of(r: EventRecord) -> str | None:
    if r.step:
        return r.step
    m = _QUOTED.search(r.message)  # 'Submitting celery task for step "gap_cells" to queue ...'
    return m.group(1) if m and (_submission(r) or _pickup(r)) else None


@dataclass(frozen=True)
class StepTiming:
    """When one step of one run was handed over, taken, started and ended (epoch seconds)."""

    step: str
    start: float
    end: float | None
    submitted: float | None  # executor's hand-over event; None in-process
    picked: float | None  # the step's process / a Celery worker took it
    trigger: float  # latest RUN_START or step end of the run before the hand-over (or the start)
    available: float  # when the step could have started (module docstring)
    pid: int | None = None  # process that logged STEP_START

    @property
    def overhead(self) -> float:
        """Start overhead: STEP_START - the time the step could have started."""
        return self.start - self.available

    @property
    def queued(self) -> float | None:
        """Hand-over -> available: waiting for the process to finish another step (celery)."""
        return None if self.submitted is None else self.available - self.submitted

    @property
    def dispatch(self) -> float | None:
        return None if self.submitted is None else self.submitted - self.trigger

    @property
    def launch(self) -> float | None:
        return None if self.picked is None else self.picked - self.available

    @property
    def init(self) -> float | None:
        return None if self.picked is None else self.start - self.picked

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


def _run_start(records: Sequence[EventRecord]) -> float:
    starts = [r.t for r in records if r.kind == "RUN_START"]
    return min(starts) if starts else min(r.t for r in records)


def step_timings(records: Iterable[EventRecord]) -> list[StepTiming]:
    """Every step that started in one run, in start order (a retried step: its first start,
    its last end, the last hand-over before that start)."""
    recs = sorted(records, key=lambda r: r.t)
    if not recs:
        return []
    run_start = _run_start(recs)
    starts: dict[str, EventRecord] = {}
    ends: dict[str, float] = {}
    submitted: dict[str, list[float]] = {}
    picked: dict[str, list[float]] = {}
    for r in recs:
        step = _step_of(r)
        if step is None:
            continue
        if r.kind == "STEP_START":
            starts.setdefault(step, r)
        elif r.kind in _STEP_END:
            ends[step] = r.t
        elif _submission(r):
            submitted.setdefault(step, []).append(r.t)
        elif _pickup(r):
            picked.setdefault(step, []).append(r.t)
    step_ends = [(r.t, _step_of(r), r.pid) for r in recs if r.kind in _STEP_END]
    out = []
    for step, s in sorted(starts.items(), key=lambda kv: kv[1].t):
        sub = max((t for t in submitted.get(step, []) if t <= s.t), default=None)
        pick = max((t for t in picked.get(step, []) if t <= s.t), default=None)
        anchor = s.t if sub is None else sub
        trigger = max([run_start, *(t for t, _, _ in step_ends if t <= anchor)])
        if s.pid is not None:  # the process that ran this step ran another before it
            busy = [t for t, other, pid in step_ends if t <= s.t and pid == s.pid and other != step]
        elif sub is None:  # no process to tell apart, no hand-over: one step after another
            busy = [t for t, other, _ in step_ends if t <= s.t and other != step]
        else:
            busy = []
        available = max([run_start if sub is None else sub, *busy])
        out.append(StepTiming(step, s.t, ends.get(step), sub, pick, trigger, available, s.pid))
    return out


def _union_length(intervals: Iterable[tuple[float, float]]) -> float:
    total, cur_lo, cur_hi = 0.0, None, None
    for lo, hi in sorted(intervals):
        if cur_hi is None or lo > cur_hi:
            if cur_hi is not None:
                total += cur_hi - cur_lo
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    if cur_hi is not None:
        total += cur_hi - cur_lo
    return total


@dataclass(frozen=True)
class RunIdle:
    wall: float  # RUN_START -> run end
    busy: float  # time in which at least one step ran (union of step intervals, within the run)
    steps_sum: float  # sum of step durations
    n_steps: int

    @property
    def idle(self) -> float:
        return self.wall - self.busy


def run_idle(records: Sequence[EventRecord]) -> RunIdle:
    """Wall, busy time and step count of one run (see the module docstring)."""
    if not records:
        return RunIdle(0.0, 0.0, 0.0, 0)
    lo = _run_start(records)
    ends = [r.t for r in records if r.kind in _RUN_END]
    hi = max(ends) if ends else max(r.t for r in records)
    steps = step_timings(records)
    spans = [(max(s.start, lo), min(s.end, hi)) for s in steps if s.end is not None]
    spans = [(a, b) for a, b in spans if b > a]
    return RunIdle(
        wall=hi - lo,
        busy=_union_length(spans),
        steps_sum=sum(s.duration for s in steps if s.duration is not None),
        n_steps=len(steps),
    )


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median_s": None, "max_s": None}
    return {"median_s": statistics.median(values), "max_s": max(values)}


def summarize_runs(runs: Sequence[Sequence[EventRecord]]) -> dict[str, Any]:
    """Per-step idle and start overhead over all the runs of one refresh."""
    idles = [run_idle(r) for r in runs]
    timings = [(i, t) for i, r in enumerate(runs) for t in step_timings(r)]
    n_steps = sum(x.n_steps for x in idles)
    walls = sum(x.wall for x in idles)
    busy = sum(x.busy for x in idles)
    steps_sum = sum(x.steps_sum for x in idles)
    overheads = [t.overhead for _, t in timings]
    worst = max(timings, key=lambda it: it[1].overhead, default=None)
    with_sub = sum(1 for _, t in timings if t.submitted is not None)
    basis = (
        "all steps"
        if timings and with_sub == len(timings)
        else "none (sequential)"
        if with_sub == 0
        else f"{with_sub} of {len(timings)} steps"
    )
    pids = Counter(t.pid for _, t in timings if t.pid is not None)
    return {
        "runs": len(runs),
        "steps": n_steps,
        "runs_wall_s": walls,
        "busy_s": busy,
        "steps_sum_s": steps_sum,
        "idle_s": walls - busy,
        "idle_per_step_s": (walls - busy) / n_steps if n_steps else None,
        "parallelism": steps_sum / busy if busy > 0 else None,
        "overhead_basis": basis,
        "overhead": {
            **_stats(overheads),
            "max_step": None if worst is None else f"run {worst[0] + 1}: {worst[1].step}",
        },
        "queued": _stats([d for _, t in timings if (d := t.queued) is not None]),
        "dispatch": _stats([d for _, t in timings if (d := t.dispatch) is not None]),
        "launch": _stats([d for _, t in timings if (d := t.launch) is not None]),
        "init": _stats([d for _, t in timings if (d := t.init) is not None]),
        "step_processes": len(pids),
        "max_steps_per_process": max(pids.values(), default=0),
    }


# --- CPU of process trees from /proc (the parsing is pure) ---------------------------------------


def parse_proc_stat(text: str) -> tuple[int, int, int]:
    """``/proc/<pid>/stat`` -> (ppid, utime + stime, cutime + cstime) in clock ticks."""
    rest = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and ')'
    # rest[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def tree_cpu_ticks(table: dict[int, tuple[int, int, int]], root: int) -> int:
    """CPU ticks of ``root`` and all its live descendants, plus what they reaped (c-fields)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        _, own, reaped = table[pid]
        total += own + reaped
        todo.extend(children.get(pid, []))
    return total


def _proc_table() -> dict[int, tuple[int, int, int]]:
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    table[int(entry.name)] = parse_proc_stat(fh.read())
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
    return table


def _trees_cpu_s(roots: Iterable[int]) -> float:
    table = _proc_table()
    return sum(tree_cpu_ticks(table, r) for r in roots) / os.sysconf("SC_CLK_TCK")


def _children_of_me() -> set[int]:
    me = os.getpid()
    return {pid for pid, (ppid, _, _) in _proc_table().items() if ppid == me}


def _reap_orphans(known: set[int], timeout: float = 120.0) -> int:
    """Wait for every child of this process not in ``known``: descendants of the refresh that
    outlived it and were re-parented here (this process is a subreaper). Returns their count."""
    deadline, reaped = time.monotonic() + timeout, set()
    while True:
        new = _children_of_me() - known - reaped
        if not new:
            return len(reaped)
        for pid in new:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                reaped.add(pid)
        if time.monotonic() > deadline:
            print(f"  warning: descendants {sorted(new - reaped)} still running: CPU undercounted")
            return len(reaped)
        time.sleep(0.05)


_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def _subreaper() -> Iterator[bool]:
    """This process adopts orphaned descendants while the block runs (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    if not ok:
        print("  warning: not a child subreaper: a forkserver's CPU time is not counted")
    try:
        yield ok
    finally:
        if ok:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


# --- running the refreshes ------------------------------------------------------------------------


def _load_scale_test():
    """deploy/scale_test.py, loaded by path (it loads deploy/services.py the same way)."""
    name = "gap_monitor_scale_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / "scale_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def read_event_log(env: dict[str, str]) -> list[list[EventRecord]]:
    """The records of every run in the instance of ``env`` (DAGSTER_HOME, Postgres settings),
    runs in start order."""
    from dagster import DagsterInstance

    keys = [k for k in env if k == "DAGSTER_HOME" or k.startswith(("GAP_MONITOR_PG_", "AWS_"))]
    runs = []
    with _environ({k: env[k] for k in keys}), DagsterInstance.get() as instance:
        for run in instance.get_runs():
            records = []
            for e in instance.all_logs(run.run_id):
                ev = e.dagster_event
                records.append(
                    EventRecord(
                        t=e.timestamp,
                        kind=normalized_kind(ev.event_type_value if ev else ""),
                        step=e.step_key,
                        message=(ev.message if ev and ev.message else e.user_message) or "",
                        pid=ev.pid if ev else None,
                    )
                )
            if records:
                runs.append(sorted(records, key=lambda r: r.t))
    return sorted(runs, key=_run_start)


@dataclass
class ExecutorResult:
    executor: str
    wall_s: float
    cpu_s: float  # launcher (+ waited-for and orphaned descendants) + workers
    launcher_cpu_s: float
    workers_cpu_s: float | None
    services_cpu_s: float | None
    orphans_reaped: int
    log: str
    events: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def outside_runs_s(self) -> float:
        return self.wall_s - self.events.get("runs_wall_s", 0.0)


def _measured_refresh(
    st, label: str, env: dict[str, str], log: Path, workers: Sequence[int] = ()
) -> tuple[float, float, float | None, float | None, int]:
    """scale_test's ``_refresh`` with CPU accounting: (wall, launcher CPU, workers CPU,
    services CPU, orphans reaped). With workers, the services are this process's other
    children (PostgreSQL, Redis, moto)."""
    known = _children_of_me()
    services = sorted(known - set(workers)) if workers else []
    w0, s0 = _trees_cpu_s(workers), _trees_cpu_s(services)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = st._refresh(label, env, log)
    orphans = _reap_orphans(known)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w1, s1 = _trees_cpu_s(workers), _trees_cpu_s(services)
    launcher = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return (
        wall,
        launcher,
        (w1 - w0) if workers else None,
        (s1 - s0) if services else None,
        orphans,
    )


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _save_events(runs: list[list[EventRecord]], path: Path) -> None:
    path.write_text(json.dumps([[r._asdict() for r in run] for run in runs]) + "\n")


def _provinces_env() -> dict[str, str]:
    """``GAP_MONITOR_PROVINCES_PER_STEP`` for the refresh, from ``BENCH_BACKFILL_PROVINCES_PER_STEP``
    (unset: the pipeline's default for each executor)."""
    value = os.environ.get("BENCH_BACKFILL_PROVINCES_PER_STEP", "").strip()
    return {"GAP_MONITOR_PROVINCES_PER_STEP": value} if value else {}


def run_local(st, executor: str, in_dir: Path, work: Path) -> ExecutorResult:
    """in_process (``make run``), multiprocess or forkserver: SQLite instance, local values."""
    folder = _fresh_dir(work / executor)
    (folder / "home").mkdir()
    (folder / "home" / "dagster.yaml").touch()
    env = {
        **st._clean_env(),
        "DAGSTER_HOME": str(folder / "home"),
        "GAP_MONITOR_INPUT_DIR": str(in_dir),
        "GAP_MONITOR_OUTPUT_DIR": str(folder / "out"),
        "PYTHONWARNINGS": "ignore",
        **_provinces_env(),
    }
    if executor != "in_process":  # make run sets nothing
        env["GAP_MONITOR_EXECUTOR"] = executor
    log = work / f"{executor}.log"
    wall, launcher, _, _, orphans = _measured_refresh(st, executor, env, log)
    runs = read_event_log(env)
    _save_events(runs, folder / "events.json")
    return ExecutorResult(
        executor=executor,
        wall_s=wall,
        cpu_s=launcher,
        launcher_cpu_s=launcher,
        workers_cpu_s=None,
        services_cpu_s=None,
        orphans_reaped=orphans,
        log=str(log),
        events=summarize_runs(runs),
    )


def run_celery(st, in_dir: Path, work: Path) -> ExecutorResult:
    """Two Celery workers, Postgres instance, Redis broker, values and publication on moto S3."""
    folder = _fresh_dir(work / "celery")
    (folder / "home").mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", folder / "home" / "dagster.yaml")
    log = work / "celery.log"
    services = st._load_services()
    with services.local_services(folder / "services") as svc:
        celery_env = {
            "GAP_MONITOR_EXECUTOR": "celery",
            "GAP_MONITOR_CELERY_BROKER": svc.redis_url,
            **_provinces_env(),
        }
        # as the scale test's workers, with this checkout first on the path: the launcher runs
        # the code of ROOT (its working directory), so do the workers
        worker_env = {
            **st._clean_env(),
            **svc.env(),
            **celery_env,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "deploy" / "celery"), str(ROOT)]),
            "PYTHONWARNINGS": "ignore",
        }
        workers = [st._start_worker(i, folder, worker_env) for i in range(1, N_WORKERS + 1)]
        try:
            st._wait_ready(workers)
            env = {
                **st._clean_env(),
                **svc.env(),
                **celery_env,
                "DAGSTER_HOME": str(folder / "home"),
                "GAP_MONITOR_INPUT_DIR": str(in_dir),
                "GAP_MONITOR_OUTPUT_DIR": str(folder / "out"),
                "GAP_MONITOR_STORAGE": f"s3://{svc.bucket}/values",
                "GAP_MONITOR_PUBLISH_URL": f"s3://{svc.bucket}/published",
                "PYTHONWARNINGS": "ignore",
            }
            pids = [proc.pid for proc, _ in workers]
            wall, launcher, workers_cpu, services_cpu, orphans = _measured_refresh(
                st, f"celery ({N_WORKERS} workers)", env, log, pids
            )
            tasks = [st._tasks_run(wlog) for _, wlog in workers]
        finally:
            for proc, _ in workers:
                st._stop(proc)
        runs = read_event_log(env)  # Postgres: before the services stop
    _save_events(runs, folder / "events.json")
    return ExecutorResult(
        executor="celery",
        wall_s=wall,
        cpu_s=launcher + (workers_cpu or 0.0),
        launcher_cpu_s=launcher,
        workers_cpu_s=workers_cpu,
        services_cpu_s=services_cpu,
        orphans_reaped=orphans,
        log=str(log),
        events=summarize_runs(runs),
        notes=[f"steps per worker (worker logs) {tasks}"],
    )


# --- input, tables, entry point ---------------------------------------------------------------


def input_dir_for(
    kind: str, scale: float, provinces_34: Sequence[str] | None, cache: Path = CACHE
) -> Path:
    """``.cache/bench/national-8q[-xF][-pXX_YY]-SYNTHETIC`` (``sample-8q...`` for the sample)."""
    name = f"{kind}-8q" + ("" if scale == 1.0 else f"-x{scale:g}")
    if provinces_34:
        name += "-p" + "_".join(sorted(provinces_34))
    return cache / f"{name}-SYNTHETIC"


def _fmt(value: float | None, unit: str = " s", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def print_results(results: list[ExecutorResult]) -> None:
    print(
        f"\n  {'executor':<13} {'wall':>9} {'CPU':>9} {'launcher':>9} {'workers':>9} "
        f"{'runs':>4} {'steps':>5} {'run wall':>9} {'busy':>9} {'idle/step':>10} "
        f"{'parallel':>8} {'outside runs':>12}"
    )
    for r in results:
        e = r.events
        print(
            f"  {r.executor:<13} {_fmt(r.wall_s, ' s', 1):>9} {_fmt(r.cpu_s, ' s', 1):>9} "
            f"{_fmt(r.launcher_cpu_s, ' s', 1):>9} {_fmt(r.workers_cpu_s, ' s', 1):>9} "
            f"{e['runs']:>4} {e['steps']:>5} {_fmt(e['runs_wall_s'], ' s', 1):>9} "
            f"{_fmt(e['busy_s'], ' s', 1):>9} {_fmt(e['idle_per_step_s']):>10} "
            f"{_fmt(e['parallelism'], 'x'):>8} {_fmt(r.outside_runs_s, ' s', 1):>12}"
        )
    for r in results:
        extra = []
        if r.orphans_reaped:
            extra.append(f"{r.orphans_reaped} orphaned process(es) reaped and counted")
        if r.services_cpu_s is not None:
            extra.append(
                f"services (Postgres, Redis, moto) {r.services_cpu_s:.1f} s CPU, not in CPU"
            )
        extra += r.notes
        if extra:
            print(f"  {r.executor}: {'; '.join(extra)}")
    print(
        "\n  step start overhead: STEP_START - when the step could have started (its hand-over, "
        "or the end of the step its process ran before);\n  median / max over the steps"
    )
    print(
        f"  {'executor':<13} {'overhead':>15} {'worst step':<26} {'launch':>15} {'init':>15} "
        f"{'queued':>15} {'dispatch':>15}  hand-over events"
    )
    for r in results:
        e = r.events

        def mm(key: str, ev: dict = e) -> str:
            s = ev[key]
            return "-" if s["median_s"] is None else f"{s['median_s']:.2f} / {s['max_s']:.2f} s"

        print(
            f"  {r.executor:<13} {mm('overhead'):>15} {e['overhead']['max_step'] or '-':<26} "
            f"{mm('launch'):>15} {mm('init'):>15} {mm('queued'):>15} {mm('dispatch'):>15}  "
            f"{e['overhead_basis']}"
        )


def run_benchmark(
    executors: Sequence[str] = EXECUTORS,
    *,
    kind: str = "national",
    scale: float = 1.0,
    provinces_34: Sequence[str] | None = None,
    cache: Path = CACHE,
    work: Path = WORKDIR,
    json_path: Path | None = JSON_PATH,
) -> dict[str, Any]:
    """Generate (or reuse) the 8-quarter input, refresh it on each executor, print and return."""
    unknown = [e for e in executors if e not in EXECUTORS]
    if unknown:
        raise ValueError(f"unknown executors {unknown}: expected some of {', '.join(EXECUTORS)}")
    if kind not in ("national", "sample"):
        raise ValueError(f"BENCH_BACKFILL_INPUT={kind!r}: expected national or sample")
    info = machine()
    t0 = time.perf_counter()
    in_dir, generated = ensure_sample(
        input_dir_for(kind, scale, provinces_34, cache),
        scale=scale,
        provinces_34=list(provinces_34) if provinces_34 else None,
        national=kind == "national",
        periods=DEFAULT_PERIODS,
    )
    gen_s = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in in_dir.rglob("*") if p.is_file()) / 1e6
    max_conc = os.environ.get("GAP_MONITOR_MAX_CONCURRENT") or str(os.cpu_count())
    print(
        f"\nbackfill benchmark: {len(DEFAULT_PERIODS)} quarters ({DEFAULT_PERIODS[0]}.."
        f"{DEFAULT_PERIODS[-1]}), {kind} input x{scale:g}"
        f"{' provinces ' + ','.join(provinces_34) if provinces_34 else ''} ({in_dir}, "
        f"{size_mb:,.1f} MB; {'generated in ' + format(gen_s, '.1f') + ' s' if generated else 'cached'})"
    )
    print(
        f"  on {info.get('cpu', '?')}, {info['cores']} cores, load "
        f"{' '.join(info.get('loadavg', []))}; multiprocess/forkserver {max_conc} steps at once, "
        f"celery {N_WORKERS} workers x 1; provinces per step "
        f"{os.environ.get('BENCH_BACKFILL_PROVINCES_PER_STEP', '') or 'default (2 groups per slot)'}"
    )
    st = _load_scale_test()
    work.mkdir(parents=True, exist_ok=True)
    results = []
    with _subreaper():
        for executor in executors:
            if executor == "celery":
                results.append(run_celery(st, in_dir, work))
            else:
                results.append(run_local(st, executor, in_dir, work))
    print_results(results)
    figures = {
        "machine": info,
        "input": {"dir": str(in_dir), "kind": kind, "scale": scale, "mb": size_mb,
                  "provinces_34": list(provinces_34 or []), "periods": list(DEFAULT_PERIODS)},
        "max_concurrent": max_conc,
        "provinces_per_step": os.environ.get("BENCH_BACKFILL_PROVINCES_PER_STEP", "") or "default",
        "executors": [
            {**asdict(r), "outside_runs_s": r.outside_runs_s} for r in results
        ],
    }  # fmt: skip
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {json_path}; event records in {work}/<executor>/events.json")
    return figures


def main() -> None:
    executors = [
        e.strip()
        for e in os.environ.get("BENCH_BACKFILL_EXECUTORS", ",".join(EXECUTORS)).split(",")
        if e.strip()
    ]
    provinces = [
        p.strip() for p in os.environ.get("BENCH_BACKFILL_PROVINCES", "").split(",") if p.strip()
    ]
    run_benchmark(
        executors,
        kind=os.environ.get("BENCH_BACKFILL_INPUT", "national").strip() or "national",
        scale=float(os.environ.get("BENCH_BACKFILL_SCALE", "1") or 1),
        provinces_34=provinces or None,
    )


if __name__ == "__main__":
    main()
