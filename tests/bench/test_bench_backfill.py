"""The measures of the backfill benchmark (``bench/bench_backfill.py``) on hand-made event records:
no Dagster run, no process."""

from __future__ import annotations

import pytest

from bench.bench_backfill import (
    EventRecord,
    input_dir_for,
    normalized_kind,
    parse_proc_stat,
    run_idle,
    step_timings,
    summarize_runs,
    tree_cpu_ticks,
)

T0 = 1_700_000_000.0  # epoch seconds, as EventLogEntry.timestamp


def ev(t: float, kind: str, step: str | None = None, message: str = "", pid: int | None = None):
    return EventRecord(T0 + t, kind, step, message, pid)


def in_process_run() -> list[EventRecord]:
    """Two steps one after the other, as the in-process executor logs them."""
    return [
        ev(0.0, "ASSET_MATERIALIZATION_PLANNED", "a"),
        ev(0.2, "RUN_START"),
        ev(0.3, "ENGINE_EVENT", None, "Executing steps in process (pid: 7)"),
        ev(0.7, "STEP_START", "a", pid=7),
        ev(1.0, "", "a", "a user log line"),
        ev(2.2, "STEP_SUCCESS", "a", pid=7),
        ev(2.5, "STEP_START", "b", pid=7),
        ev(3.0, "STEP_SUCCESS", "b", pid=7),
        ev(3.7, "RUN_SUCCESS"),
    ]


def multiprocess_run() -> list[EventRecord]:
    """a and b launched at once and overlapping; c launched when a's process is gone."""
    return [
        ev(0.0, "RUN_START"),
        ev(0.1, "STEP_WORKER_STARTING", "a", 'Launching subprocess for "a".'),
        ev(0.1, "STEP_WORKER_STARTING", "b", 'Launching subprocess for "b".'),
        ev(1.1, "STEP_WORKER_STARTED", "b", 'Executing step "b" in subprocess.', pid=11),
        ev(1.0, "STEP_WORKER_STARTED", "a", 'Executing step "a" in subprocess.', pid=10),
        ev(1.2, "STEP_START", "a", pid=10),
        ev(1.3, "STEP_START", "b", pid=11),
        ev(2.0, "STEP_SUCCESS", "b", pid=11),
        ev(3.0, "STEP_SUCCESS", "a", pid=10),
        ev(3.4, "STEP_WORKER_STARTING", "c", 'Launching subprocess for "c".'),
        ev(4.0, "STEP_WORKER_STARTED", "c", 'Executing step "c" in subprocess.', pid=12),
        ev(4.2, "STEP_START", "c", pid=12),
        ev(5.0, "STEP_SUCCESS", "c", pid=12),
        ev(5.5, "RUN_SUCCESS"),
    ]


def submit(t: float, step: str | None, name: str) -> EventRecord:
    return ev(t, "ENGINE_EVENT", step, f'Submitting celery task for step "{name}" to queue "d".', 9)


def pickup(t: float, step: str) -> EventRecord:  # logged by the worker, without a pid
    return ev(t, "ENGINE_EVENT", step, f"[CeleryExecutor] Executing steps {step} in celery worker")


def celery_run() -> list[EventRecord]:
    """The launcher's submissions (x's step named only in the message), the workers' pick-ups;
    z is submitted with y but waits for worker process 21, busy with y."""
    return [
        ev(0.0, "RUN_START", pid=9),
        submit(0.1, None, "x"),
        pickup(0.5, "x"),
        ev(1.5, "STEP_START", "x", pid=21),
        ev(2.5, "STEP_SUCCESS", "x", pid=21),
        submit(3.2, "y", "y"),
        submit(3.2, "z", "z"),
        pickup(3.3, "y"),
        ev(3.6, "STEP_START", "y", pid=21),
        ev(4.0, "STEP_SUCCESS", "y", pid=21),
        pickup(4.3, "z"),
        ev(4.5, "STEP_START", "z", pid=21),
        ev(4.7, "STEP_SUCCESS", "z", pid=21),
        ev(5.0, "RUN_SUCCESS", pid=9),
    ]


def by_step(records):
    return {t.step: t for t in step_timings(records)}


def test_dagster_run_event_names_are_normalised() -> None:
    assert normalized_kind("PIPELINE_START") == "RUN_START"
    assert normalized_kind("PIPELINE_SUCCESS") == "RUN_SUCCESS"
    assert normalized_kind("PIPELINE_FAILURE") == "RUN_FAILURE"
    assert normalized_kind("STEP_START") == "STEP_START"
    assert normalized_kind(None) == ""


def test_in_process_overhead_is_from_the_previous_step_end_or_run_start() -> None:
    t = by_step(in_process_run())
    assert list(t) == ["a", "b"]
    assert t["a"].submitted is None and t["a"].dispatch is None and t["a"].launch is None
    assert t["a"].queued is None
    assert t["a"].overhead == pytest.approx(0.5)  # RUN_START 0.2 -> 0.7
    assert t["b"].overhead == pytest.approx(0.3)  # a's end 2.2 -> 2.5
    assert t["a"].duration == pytest.approx(1.5)


def test_in_process_idle_is_run_wall_minus_step_durations() -> None:
    idle = run_idle(in_process_run())
    assert idle.wall == pytest.approx(3.5)  # RUN_START -> RUN_SUCCESS
    assert idle.busy == pytest.approx(2.0) == pytest.approx(idle.steps_sum)
    assert idle.idle == pytest.approx(1.5)
    assert idle.n_steps == 2


def test_multiprocess_overhead_from_submission_with_launch_and_dispatch() -> None:
    records = multiprocess_run()
    t = by_step(list(reversed(records)))  # order of the input does not matter
    assert t["a"].overhead == pytest.approx(1.1)  # launched 0.1 -> STEP_START 1.2
    assert t["b"].overhead == pytest.approx(1.2)
    assert t["c"].overhead == pytest.approx(0.8)
    assert t["a"].launch == pytest.approx(0.9) and t["a"].init == pytest.approx(0.2)
    assert t["a"].queued == pytest.approx(0.0)  # a fresh process per step: never busy
    assert t["a"].dispatch == pytest.approx(0.1)  # after RUN_START
    assert t["c"].dispatch == pytest.approx(0.4)  # a ended at 3.0, c launched at 3.4
    assert t["c"].pid == 12


def test_parallel_steps_count_once_in_busy_time() -> None:
    idle = run_idle(multiprocess_run())
    assert idle.wall == pytest.approx(5.5)
    assert idle.steps_sum == pytest.approx(1.8 + 0.7 + 0.8)
    assert idle.busy == pytest.approx(1.8 + 0.8)  # [1.2, 3.0] covers b's [1.3, 2.0]
    assert idle.idle == pytest.approx(5.5 - 2.6)


def test_celery_submission_and_pickup_events() -> None:
    t = by_step(celery_run())
    assert t["x"].submitted == pytest.approx(T0 + 0.1)  # step key read from the message
    assert t["x"].overhead == pytest.approx(1.4)
    assert t["x"].launch == pytest.approx(0.4) and t["x"].init == pytest.approx(1.0)
    assert t["y"].dispatch == pytest.approx(0.7)  # x ended 2.5, y submitted 3.2
    assert t["y"].overhead == pytest.approx(0.4)
    assert t["y"].queued == pytest.approx(0.0)  # the worker was free since 2.5
    z = t["z"]  # submitted at 3.2 behind y: could start when y ended on the same process, 4.0
    assert z.available == pytest.approx(T0 + 4.0) and z.queued == pytest.approx(0.8)
    assert z.overhead == pytest.approx(0.5)
    assert z.launch == pytest.approx(0.3) and z.init == pytest.approx(0.2)
    assert z.dispatch == pytest.approx(0.7)


def test_sequential_rule_when_processes_are_unknown() -> None:
    records = [
        ev(0.0, "RUN_START"),
        ev(0.4, "STEP_START", "a"),
        ev(1.0, "STEP_SUCCESS", "a"),
        ev(1.1, "STEP_START", "b"),
        ev(1.5, "STEP_SUCCESS", "b"),
    ]
    t = by_step(records)
    assert t["a"].overhead == pytest.approx(0.4) and t["b"].overhead == pytest.approx(0.1)
    idle = run_idle(records)  # no run end event: the last event ends the run
    assert idle.wall == pytest.approx(1.5) and idle.idle == pytest.approx(0.5)


def test_failed_and_retried_steps() -> None:
    records = [
        ev(0.0, "RUN_START"),
        ev(0.1, "STEP_WORKER_STARTING", "a"),
        ev(0.5, "STEP_START", "a"),
        ev(1.0, "STEP_FAILURE", "a"),  # retried:
        ev(1.2, "STEP_WORKER_STARTING", "a"),
        ev(1.6, "STEP_START", "a"),
        ev(1.9, "STEP_START", "c"),  # in parallel with a
        ev(2.05, "STEP_SUCCESS", "a"),
        ev(2.1, "STEP_WORKER_STARTING", "b"),
        ev(2.2, "STEP_SUCCESS", "c"),  # after b's hand-over: does not delay b
        ev(2.4, "STEP_START", "b"),  # never ended: the run failed
        ev(3.0, "RUN_FAILURE"),
    ]
    t = by_step(records)
    assert t["a"].start == pytest.approx(T0 + 0.5) and t["a"].end == pytest.approx(T0 + 2.05)
    assert t["a"].submitted == pytest.approx(T0 + 0.1)  # the hand-over before the first start
    assert t["b"].end is None and t["b"].duration is None
    assert t["b"].dispatch == pytest.approx(0.05)
    assert t["b"].available == pytest.approx(T0 + 2.1)  # its hand-over: no process known
    assert t["b"].overhead == pytest.approx(0.3)
    idle = run_idle(records)
    assert idle.n_steps == 3 and idle.wall == pytest.approx(3.0)
    assert idle.busy == pytest.approx(2.2 - 0.5)  # a and c overlap; b never ended


def test_summary_over_runs() -> None:
    s = summarize_runs([in_process_run(), multiprocess_run()])
    assert s["runs"] == 2 and s["steps"] == 5
    assert s["runs_wall_s"] == pytest.approx(3.5 + 5.5)
    assert s["idle_s"] == pytest.approx(1.5 + 2.9)
    assert s["idle_per_step_s"] == pytest.approx((1.5 + 2.9) / 5)
    assert s["parallelism"] == pytest.approx((2.0 + 3.3) / (2.0 + 2.6))
    assert s["overhead"]["median_s"] == pytest.approx(0.8)  # 0.5 0.3 1.1 1.2 0.8
    assert s["overhead"]["max_s"] == pytest.approx(1.2)
    assert s["overhead"]["max_step"] == "run 2: b"
    assert s["overhead_basis"] == "3 of 5 steps"
    assert s["dispatch"]["max_s"] == pytest.approx(0.4)
    assert s["step_processes"] == 4 and s["max_steps_per_process"] == 2  # pid 7 ran a and b

    assert summarize_runs([in_process_run()])["overhead_basis"] == "none (sequential)"
    c = summarize_runs([celery_run()])
    assert c["overhead_basis"] == "all steps"
    assert c["max_steps_per_process"] == 3 and c["step_processes"] == 1
    assert c["queued"]["max_s"] == pytest.approx(0.8)
    assert c["overhead"]["median_s"] == pytest.approx(0.5)  # 1.4 0.4 0.5
    assert c["launch"]["median_s"] == pytest.approx(0.3)  # 0.4 0.1 0.3


def test_empty_summary() -> None:
    s = summarize_runs([])
    assert s["steps"] == 0 and s["idle_per_step_s"] is None
    assert s["overhead"]["median_s"] is None and s["overhead"]["max_step"] is None


def test_proc_stat_and_process_tree_cpu() -> None:
    # field 2 (comm) may hold spaces and parentheses; ppid is field 4, utime..cstime 14..17
    line = "42 (celery (worker) x) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 3 0 1 2 3"
    assert parse_proc_stat(line) == (7, 300, 50)
    table = {
        1: (0, 1000, 0),  # not in the tree
        7: (1, 10, 5),  # the worker's main process: 10 own, 5 of reaped children
        42: (7, 300, 50),  # its pool process
        43: (42, 4, 0),  # a grandchild
        50: (1, 99, 0),
    }
    assert tree_cpu_ticks(table, 7) == 10 + 5 + 300 + 50 + 4
    assert tree_cpu_ticks(table, 43) == 4
    assert tree_cpu_ticks(table, 999) == 0


def test_input_dir_names(tmp_path) -> None:
    assert input_dir_for("national", 1.0, None, tmp_path).name == "national-8q-SYNTHETIC"
    assert input_dir_for("national", 0.25, None, tmp_path).name == "national-8q-x0.25-SYNTHETIC"
    name = input_dir_for("sample", 1.0, ["08", "04"], tmp_path).name
    assert name == "sample-8q-p04_08-SYNTHETIC"
