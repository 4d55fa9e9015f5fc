"""Shared pieces of the reliability tests: a sample slice, refreshes run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from geodata.provenance import sha256_file
from geodata.sample import generate_sample

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: the quarter whose mobile tiles :func:`change_input` rewrites (only it and the manifest rerun)
CHANGED_TILES = "speed_tiles/sample_2026-07-01_performance_mobile_tiles.parquet"


def refresh_env(inputs: Path, outputs: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GAP_MONITOR_INPUT_DIR": str(inputs),
        "GAP_MONITOR_OUTPUT_DIR": str(outputs),
        "PYTHONUNBUFFERED": "1",
    }


def start_refresh(env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -m dagster_project.run`` in its own process; stdout piped, stderr to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "dagster_project.run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),  # noqa: SIM115 - closed with the process
        text=True,
    )


def run_refresh(env: dict[str, str], log: Path) -> subprocess.CompletedProcess:
    with open(log, "ab") as err:
        return subprocess.run(
            [sys.executable, "-m", "dagster_project.run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=600,
        )


def tree_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder`` (symlinks resolved), by relative path."""
    return {
        str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def change_input(inputs: Path, factor: int) -> None:
    """Rewrite one quarter's mobile tiles with download speeds times ``factor`` (a new input)."""
    path = inputs / CHANGED_TILES
    table = pq.read_table(path)
    i = table.schema.get_field_index("avg_d_kbps")
    speeds = pc.cast(pc.multiply(table["avg_d_kbps"], factor), table.schema.field(i).type)
    pq.write_table(table.set_column(i, "avg_d_kbps", speeds), path)


@pytest.fixture(scope="module")
def refreshed_slice(tmp_path_factory):
    """A one-province sample slice refreshed once, completely, by a real ``make run`` process."""
    base = tmp_path_factory.mktemp("reliability")
    inputs, outputs, home = base / "inputs", base / "out", base / "dagster_home"
    generate_sample(inputs, scale=0.2, provinces_34=["04"])
    env = refresh_env(inputs, outputs, home)
    done = run_refresh(env, base / "first_run.log")
    assert done.returncode == 0, (base / "first_run.log").read_text()[-3000:]
    return {"inputs": inputs, "out": outputs, "env": env, "base": base}
