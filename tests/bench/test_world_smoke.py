"""Smoke test of the global-inputs benchmark (``bench/bench_world.py``) at a tiny scale.

The same harness as ``make bench``: world files generated from a sample in the publishers'
layouts (Ookla hive folders, OpenCelliD's world dump), the readers against a bare polars filter,
and a full refresh on the world input compared with one on the plain sample. No timing is
asserted: only that the readers accept exactly the rows in the study area, nothing is
quarantined, every check passes and the published tables are those of the plain sample.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from bench.bench_world import run_benchmark

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bench")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        fig = run_benchmark(
            0.004,
            cache=cache,
            sample_dir=cache / "sample-SYNTHETIC",
            sample_kwargs={"scale": 0.2, "provinces_34": ["04"], "periods": ["2026Q3"]},
            json_path=cache / "world.json",
        )
    return fig, cache, printed.getvalue()


def test_world_input_is_laid_out_as_published_and_labelled(figures):
    _, cache, _ = figures
    (world,) = cache.glob("world-*-SYNTHETIC")
    marker = json.loads((world / "WORLD.json").read_text(encoding="utf-8"))
    assert marker["synthetic"] is True
    files = set(marker["files"])
    assert {
        "speed_tiles/type=fixed/year=2026/quarter=3/SYNTHETIC-world_2026-07-01_performance_fixed_tiles.parquet",
        "speed_tiles/type=mobile/year=2026/quarter=3/SYNTHETIC-world_2026-07-01_performance_mobile_tiles.parquet",
        "cell_sites/SYNTHETIC-world_cell_towers.csv.gz",
    } == files
    assert (world / "adoption").is_dir() and (world / "coverage").is_dir()


def test_readers_accept_exactly_the_study_area(figures):
    fig, _, printed = figures
    readers = fig["readers"]
    assert set(readers) == {
        "fixed tiles, rows shuffled",
        "fixed tiles, quadkey order",
        "cell dump",
    }
    for label, f in readers.items():
        assert f["exact"], label
        assert f["quarantined"] == 0 and f["accepted"] > 0, label
        assert f["reader_s"] > 0 and f["ratio"] > 0 and f["reader_peak_rss_mb"] > 0, label
    assert "reader time / polars time" in printed


def test_refresh_on_world_files_publishes_what_the_sample_publishes(figures):
    fig, _, printed = figures
    r = fig["refresh"]
    assert r["quarantined_rows"] == 0
    assert r["failed_checks"] == []
    assert r["tables"] > 0 and r["tables_differ"] == []
    assert "summary (issue 11 targets)" in printed
