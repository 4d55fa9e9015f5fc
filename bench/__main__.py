"""`make bench`: run every benchmark module in turn (python -m bench [name ...]).

The kernel benchmarks (points, group-by, raster, polygons, coverage: ratios against the fastest
library measured beside them) and then the full national refresh (``full_refresh``: 1/4, 1/2 and
the whole national input; ``BENCH_SCALES=1`` for one scale). ``python -m bench full_refresh``
runs only the refresh. ``bench_backfill``: an eight-quarter backfill on each executor
(in-process, multiprocess, forkserver, 2 Celery workers): wall, CPU, per-step idle and step start
overhead.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

MODULES = [
    "bench_points",
    "bench_groupby",
    "bench_raster",
    "bench_polygons",
    "bench_coverage",
    "bench_world",
    "bench_plans",
    "full_refresh",
    "bench_backfill",
]


def main(argv: list[str]) -> int:
    names = argv or MODULES
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"\n[{name}] not available: {exc}")
            continue
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
