"""`make scale-test`: the refresh on Dagster's distributed machinery equals `make run`'s, file by file.

    python deploy/scale_test.py [--provinces 04,08 | --provinces all] [--periods 2026Q2,2026Q3]

1. Generates the synthetic sample for the chosen provinces and quarters (default: a slice of two
   provinces and two quarters, a few minutes; ``--provinces all`` for the whole country).
2. Starts a local PostgreSQL, Redis and an S3-compatible server (moto), on loopback ports
   (deploy/services.py; the Debian packages are installed when missing).
3. Reference: ``python -m dagster_project.run`` as ``make run`` runs it (in-process executor,
   SQLite instance, values and outputs on the local disk).
4. Distributed: two Celery workers (``dagster_celery``), each in its own working folder with none
   of the pipeline's paths in its environment, and the same refresh launched with
   ``GAP_MONITOR_EXECUTOR=celery``: runs, events and schedules in Postgres (deploy/dagster.yaml),
   asset values on S3 (``GAP_MONITOR_STORAGE``), the published generation on S3 behind its pointer
   (``GAP_MONITOR_PUBLISH_URL``).
5. Checks: the distributed generation and the copy mirrored back from S3 equal the reference
   byte for byte apart from run timestamps (geodata.publishing.compare); both workers ran steps;
   every run succeeded. Prints the timings; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
RUN_TIMEOUT = 3600.0


def _load_services():
    """deploy/services.py, loaded by path once (this folder is not a package)."""
    if "gap_monitor_services" in sys.modules:
        return sys.modules["gap_monitor_services"]
    spec = importlib.util.spec_from_file_location("gap_monitor_services", HERE / "services.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _clean_env() -> dict[str, str]:
    """This process's environment without any of the pipeline's own settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GAP_MONITOR_", "DAGSTER_", "AWS_")) and k != "PYTHONPATH"
    }


def _refresh(label: str, env: dict[str, str], log: Path) -> float:
    """``python -m dagster_project.run`` with ``env``; returns the wall time."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(
            [PY, "-m", "dagster_project.run"],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
        )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{label} refresh failed (exit {proc.returncode}); log {log}:\n{_tail(log)}")
    print(f"{label}: refresh done in {wall:.1f} s (log {log})")
    return wall


def _tail(path: Path) -> str:
    return _load_services().log_tail(path, lines=30)


def _start_worker(i: int, workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    folder = workdir / f"worker{i}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = workdir / f"worker{i}.log"
    celery = Path(PY).with_name("celery")
    cmd = [
        str(celery) if celery.exists() else "celery",
        "-A",
        "dagster_celery.app",
        "worker",
        "-Q",
        "dagster",
        "--concurrency=1",
        "--prefetch-multiplier=1",
        f"--hostname=gapworker{i}@%h",
        "--loglevel=INFO",
    ]
    proc = subprocess.Popen(
        cmd, cwd=folder, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT
    )
    return proc, log


def _wait_ready(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    for proc, log in procs:
        while "ready." not in (log.read_text(errors="replace") if log.exists() else ""):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"a Celery worker did not start; log {log}:\n{_tail(log)}")
            time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tasks_run(log: Path) -> int:
    """Steps a worker finished, from its log ("Task dagster.execute_plan[...] succeeded")."""
    text = log.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if "execute_plan" in line and "succeeded" in line)


def _province_steps(env: dict[str, str]) -> dict[str, list[str]]:
    """The successful steps keyed quarter x province of the distributed refresh's runs, by op
    (``province_sums.sums_piece`` -> ``["2026Q2_04", ...]``), read from its Postgres instance."""
    code = (
        "import json, dagster as dg\n"
        "inst = dg.DagsterInstance.get()\n"
        "out = {}\n"
        "for run in inst.get_runs():\n"
        "    for s in inst.get_run_step_stats(run.run_id):\n"
        "        if '[' in s.step_key and s.status.value == 'SUCCESS':\n"
        "            op, key = s.step_key.rstrip(']').split('[')\n"
        "            out.setdefault(op, []).append(key)\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [PY, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", default="04,08", help="34-system codes, or 'all'")
    parser.add_argument("--periods", default="2026Q2,2026Q3")
    parser.add_argument("--workdir", default=str(ROOT / ".cache" / "scale-test"))
    args = parser.parse_args(argv)
    work = Path(args.workdir).resolve()
    for sub in ("ref", "ref_home", "dist", "dist_home", "mirror"):
        shutil.rmtree(work / sub, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)

    inputs = work / "inputs"
    gen = [PY, "-m", "geodata.sample", "--out", str(inputs), "--periods", args.periods, "--reuse"]
    if args.provinces != "all":
        gen += ["--provinces", args.provinces]
    subprocess.run(gen, cwd=ROOT, check=True, env=_clean_env(), stdout=subprocess.DEVNULL)
    print(f"inputs: {inputs} (SYNTHETIC; provinces {args.provinces}; quarters {args.periods})")

    base = {**_clean_env(), "GAP_MONITOR_INPUT_DIR": str(inputs)}
    (work / "ref_home").mkdir()
    (work / "ref_home" / "dagster.yaml").touch()
    ref_env = {
        **base,
        "DAGSTER_HOME": str(work / "ref_home"),
        "GAP_MONITOR_OUTPUT_DIR": str(work / "ref"),
    }
    t_ref = _refresh("reference (in-process, make run)", ref_env, work / "ref.log")

    services = _load_services()
    with services.local_services(work / "services") as svc:
        (work / "dist_home").mkdir()
        shutil.copy(HERE / "dagster.yaml", work / "dist_home" / "dagster.yaml")
        celery_env = {
            "GAP_MONITOR_EXECUTOR": "celery",
            "GAP_MONITOR_CELERY_BROKER": svc.redis_url,
            # a step per quarter x province: the finest split, against make run's one group
            "GAP_MONITOR_PROVINCES_PER_STEP": "1",
        }
        # workers: the services and the broker, but none of the pipeline's paths (those travel
        # with each run's configuration) and no DAGSTER_HOME (the instance comes with each task)
        worker_env = {
            **_clean_env(),
            **svc.env(),
            **celery_env,
            "PYTHONPATH": str(HERE / "celery"),
        }
        workers = [_start_worker(i, work, worker_env) for i in (1, 2)]
        try:
            _wait_ready(workers)
            print("2 Celery workers ready")
            publish_url = f"s3://{svc.bucket}/published"
            dist_env = {
                **base,
                **svc.env(),
                **celery_env,
                "DAGSTER_HOME": str(work / "dist_home"),
                "GAP_MONITOR_OUTPUT_DIR": str(work / "dist"),
                "GAP_MONITOR_STORAGE": f"s3://{svc.bucket}/values",
                "GAP_MONITOR_PUBLISH_URL": publish_url,
            }
            t_dist = _refresh("distributed (Celery, Postgres, S3)", dist_env, work / "dist.log")
            steps = [_tasks_run(log) for _, log in workers]
            keyed = _province_steps(dist_env)
        finally:
            for proc, _ in workers:
                _stop(proc)

        os.environ.update(svc.env())  # the mirror below reads the S3 server
        from geodata.publishing.compare import compare_generations
        from geodata.publishing.object_store import mirror_generation, read_pointer

        pointer = read_pointer(publish_url)
        mirrored = mirror_generation(publish_url, work / "mirror")
    failures = []
    diffs = compare_generations(work / "ref" / "current", work / "dist" / "current")
    if diffs:
        failures.append(
            "distributed generation differs from the reference:\n  " + "\n  ".join(diffs[:20])
        )
    if mirrored is None:
        failures.append(f"nothing published at {publish_url}")
    elif mdiffs := compare_generations(work / "ref" / "current", mirrored):
        failures.append("the S3 copy differs from the reference:\n  " + "\n  ".join(mdiffs[:20]))
    if min(steps) == 0:
        failures.append(f"steps per worker {steps}: a worker ran nothing")
    if not keyed:
        failures.append("no step keyed quarter x province ran (dagster_project.provinces)")
    n_files = len(json.loads((work / "ref" / "current" / "manifest.json").read_text())["files"])
    print(
        f"reference {t_ref:.1f} s, distributed {t_dist:.1f} s; steps per worker {steps}; "
        f"{n_files} published files compared twice (local and S3, pointer -> {pointer and pointer['generation']})"
    )
    print(
        f"steps keyed quarter x province: {sum(len(v) for v in keyed.values())} "
        + ", ".join(
            f"{op} {len(keys)} ({', '.join(sorted(keys)[:4])}, ...)" for op, keys in keyed.items()
        )
    )
    if failures:
        print("FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    print("scale test passed: equal apart from run timestamps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
