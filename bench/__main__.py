"""`make bench`: run every benchmark module in turn (python -m bench [name ...])."""

from __future__ import annotations

import importlib
import os
import platform
import sys

MODULES = ["bench_points", "bench_groupby", "bench_raster", "bench_polygons", "bench_coverage"]


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
