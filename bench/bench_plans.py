"""The investment plans on a national cell table: 1,000 mobile sites and every fibre unit.

Input: the res-8 gap cells of a refresh of the national benchmark input (the same input as
``bench/full_refresh.py`` at scale 1: ~1 M tiles per quarter, 500 k cell sites, a 100 m population
raster), made once into ``.cache/bench/plans-input-national/``; ``BENCH_PLANS_INPUT=sample`` uses
the default sample instead (``.cache/bench/plans-input/``). Prints, per quarter, the wall time of each step of the plans
(candidate pairs, lazy greedy, road graph, routes) against the issue's target (both plans < 20 s
together on the 2-core machine), and the national top 10 of each.

Run: ``.venv/bin/python -m bench bench_plans`` (part of ``make bench``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.full_refresh import CACHE, ROOT, machine

__all__ = ["main", "gap_cells_for_bench"]

TARGET_S = 20.0


def gap_cells_for_bench(cache: Path = CACHE, national: bool = True) -> list[Path]:
    """res-8 gap cell GeoParquet files of a finished refresh (made once into the cache)."""
    out = cache / ("plans-input-national" if national else "plans-input")
    found = sorted((out / "cells").glob("gap_cells_*_res8.parquet"))
    if found:
        return found
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="plans-home-", dir=cache))
    (home / "dagster.yaml").write_text("")
    env = {**os.environ, "DAGSTER_HOME": str(home), "GAP_MONITOR_OUTPUT_DIR": str(out)}
    env.pop("GAP_MONITOR_INPUT_DIR", None)  # the default sample
    if national:
        from bench.full_refresh import BENCH_PERIODS, input_dir_for
        from geodata.sample.generate import ensure_sample

        in_dir, _ = ensure_sample(
            input_dir_for(1.0, None, cache), scale=1.0, national=True, periods=BENCH_PERIODS
        )
        env["GAP_MONITOR_INPUT_DIR"] = str(in_dir)
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.run"], cwd=ROOT, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the refresh for the plans' input failed:\n{done.stderr[-3000:]}")
    return sorted((out / "cells").glob("gap_cells_*_res8.parquet"))


def main() -> None:
    from geodata.planning.routes import build_road_graph, plan_routes
    from geodata.planning.sites import mobile_targets, plan_sites
    from geodata.publishing.plans import label_routes, label_sites
    from geodata.reference import load_roads

    info = machine()
    print(
        f"\ninvestment plans on {info.get('cpu', '?')}, {info['cores']} cores, "
        f"load {' '.join(info.get('loadavg', []))}"
    )
    t0 = time.perf_counter()
    graph = build_road_graph(load_roads().geometry.to_numpy())
    t_graph = time.perf_counter() - t0
    print(
        f"  road graph: {graph.lat.size:,} vertices, {graph.edges.nnz // 2:,} edges, {t_graph:.2f} s"
    )
    national = os.environ.get("BENCH_PLANS_INPUT", "national") != "sample"
    print(f"  input: {'the national benchmark input' if national else 'the default sample'}")
    for path in gap_cells_for_bench(national=national):
        cells = pd.read_parquet(path)
        quarter = path.name.split("_")[2]
        t0 = time.perf_counter()
        targets, people = mobile_targets(cells)
        plan = plan_sites(targets, people, n_sites=1000)
        t_sites = time.perf_counter() - t0
        t0 = time.perf_counter()
        routes = plan_routes(cells, graph)
        t_routes = time.perf_counter() - t0
        total = t_sites + t_routes + t_graph
        print(
            f"\n  {quarter}: {len(cells):,} res-8 cells; mobile {targets.size:,} target cells, "
            f"{plan.candidates:,} candidates; fixed {len(routes.routes):,} units"
        )
        print(
            f"    1,000 sites {t_sites:.2f} s + every fibre unit {t_routes:.2f} s + road graph "
            f"{t_graph:.2f} s = {total:.2f} s  ({'met' if total < TARGET_S else 'MISSED'}: "
            f"< {TARGET_S:.0f} s)"
        )
        sites = label_sites(plan).head(10)
        fibre = label_routes(routes).head(10)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print("    mobile top 10:")
            print(sites[["rank", "place", "province_34_name", "province_63_name", "people_new",
                         "people_cumulative", "cost_cumulative"]].to_string(index=False))  # fmt: skip
            print("    fixed top 10:")
            print(fibre[["rank", "place", "province_34_name", "people", "km", "people_per_km",
                         "route", "cost_cumulative"]].to_string(index=False))  # fmt: skip


if __name__ == "__main__":
    main()
