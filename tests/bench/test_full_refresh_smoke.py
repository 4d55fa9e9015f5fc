"""Smoke test of the full-refresh benchmark (``bench/full_refresh.py``) on a tiny national input.

The same harness as ``make bench`` (national mode of the generator, refresh as a child process,
per-step profile, no-change rerun) on a one-province slice at a small scale. No timing is
asserted: only that every figure was produced and the rerun did no work.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import rasterio

from bench.full_refresh import BENCH_PERIODS, run_benchmark
from geodata.sample.generate import national_grids

pytestmark = pytest.mark.slow

PROVINCES = ["04"]  # Cao Bằng: small
SCALE = 0.04  # split 2x2 of the 1 km grid, ~1.5 k tiles, ~400 cells


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bench")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        fig = run_benchmark(
            (SCALE,), provinces_34=PROVINCES, cache=cache, json_path=cache / "figures.json"
        )
    return fig, cache, printed.getvalue()


def test_national_input_is_labelled_and_windowed(figures) -> None:
    fig, _, _ = figures
    scale = fig["scales"][0]
    marker = json.loads((Path(scale["input_dir"]) / "SAMPLE.json").read_text(encoding="utf-8"))
    assert marker["synthetic"] is True and marker["national"] is True
    assert marker["population_split"] == national_grids(SCALE)[0] == 2
    (pop,) = (Path(scale["input_dir"]) / "population").glob("*.tif")
    with rasterio.open(pop) as ds:
        assert ds.tags()["SYNTHETIC"] == "true"
        assert ds.profile["tiled"] and ds.dtypes[0] == "float32"
        assert ds.width * ds.height == scale["input_counts"]["population_pixels"]


def test_refresh_is_profiled_per_asset(figures) -> None:
    fig, cache, printed = figures
    scale = fig["scales"][0]
    refresh = scale["refresh"]
    assert refresh["exit_code"] == 0
    assert refresh["wall_s"] > 0 and refresh["cpu_s"] > 0 and refresh["peak_rss_mb"] > 0
    assets = {a["asset"]: a for a in scale["per_asset"]}
    assert {"population_cells", "gap_cells", "province_downloads", "output_manifest"} <= set(assets)
    assert assets["gap_cells"]["steps"] == len(BENCH_PERIODS)  # one per quarter
    assert all(a["peak_rss_mb"] > 0 and a["wall_s"] >= 0 for a in assets.values())
    alone = scale["raster_alone"]
    assert alone["peak_rss_mb"] > 0 and alone["imports_rss_mb"] > 0
    assert int(alone["result"].split()[0]) == scale["input_counts"]["population_valid_pixels"]
    assert json.loads((cache / "figures.json").read_text())["scales"][0]["scale"] == SCALE
    table = printed[printed.index("peak RSS MB") :]  # the per-asset table, then the summary
    assert all(name in table for name in assets) and "summary" in table


def test_no_change_rerun_does_no_work(figures) -> None:
    fig, _, _ = figures
    rerun = fig["scales"][0]["rerun"]
    assert rerun["exit_code"] == 0
    assert rerun["nothing_new"] is True
    assert rerun["steps"] == []
    rerun_target = [t for t in fig["targets"] if t["target"].startswith("no-change rerun")]
    assert len(rerun_target) == 1
