"""Shared pieces of the reliability tests: a sample slice, refreshes run as real subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from geodata.provenance import sha256_file
from geodata.sample import generate_sample

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BAD_INPUTS = PROJECT_ROOT / "tests" / "fixtures" / "bad_inputs"
#: corpus folder -> (input folder, file-name prefix the pipeline needs: speed type and quarter,
#: technology of a coverage raster)
_CORPUS_PLACES = {
    "speed_tiles": ("speed_tiles", "bad_fixed_2026Q3_"),
    "cell_sites": ("cell_sites", "bad_"),
    "rasters": ("coverage", "bad_4g_"),
    "adoption": ("adoption", "bad_"),
}
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


def add_bad_corpus(inputs: Path) -> dict[str, Path]:
    """Copy every file of the malformed-input corpus into the input folder where the pipeline
    reads its kind; returns the copied file name -> corpus file."""
    placed = {}
    for src in sorted(BAD_INPUTS.rglob("*")):
        if not src.is_file() or src.suffix == ".md":
            continue
        folder, prefix = _CORPUS_PLACES[src.parent.name]
        dest = inputs / folder / f"{prefix}{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        placed[dest.name] = src
    return placed


@pytest.fixture(scope="module")
def refreshed_slice(tmp_path_factory):
    """A one-province sample slice plus the whole malformed-input corpus, refreshed once,
    completely, by a real ``make run`` process."""
    base = tmp_path_factory.mktemp("reliability")
    inputs, outputs, home = base / "inputs", base / "out", base / "dagster_home"
    generate_sample(inputs, scale=0.2, provinces_34=["04"])
    placed = add_bad_corpus(inputs)  # a province sends every kind of broken file at once
    env = refresh_env(inputs, outputs, home)
    done = run_refresh(env, base / "first_run.log")
    assert done.returncode == 0, (base / "first_run.log").read_text()[-3000:]
    return {
        "inputs": inputs,
        "out": outputs,
        "env": env,
        "base": base,
        "home": home,
        "corpus": placed,
        "first_stdout": done.stdout,
        "first_log": base / "first_run.log",
    }
