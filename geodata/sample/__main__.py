"""Command line: ``python -m geodata.sample [--out DIR] [--seed N] [--scale X] [--provinces 79,01]
[--national] [--reuse]``.

Writes the synthetic sample input directory and prints what it wrote. ``--national`` writes the
national-size benchmark input (default ``--out .cache/bench/national-SYNTHETIC``; ``--scale 0.25``
a quarter of it); ``--reuse`` keeps an existing directory whose SAMPLE.json records the same
arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from geodata.sample.generate import DEFAULT_PERIODS, DEFAULT_SEED, ensure_sample, generate_sample

__all__ = ["main"]


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, generate the sample, print a summary; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m geodata.sample",
        description="Generate the deterministic SYNTHETIC sample input directory "
        "(speed tiles, cell sites, coverage rasters, adoption tables) shaped by real population data.",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output directory, replaced whole (default .cache/sample-inputs-SYNTHETIC, "
        "or .cache/bench/national-SYNTHETIC with --national)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies tile and cell counts (default 1.0)"
    )
    parser.add_argument(
        "--provinces",
        type=_csv_list,
        default=None,
        help="34-system province codes, e.g. 79,01 (default: all)",
    )
    parser.add_argument(
        "--periods",
        type=_csv_list,
        default=list(DEFAULT_PERIODS),
        help="quarters, e.g. 2026Q2,2026Q3",
    )
    parser.add_argument(
        "--national",
        action="store_true",
        help="national-size benchmark input: ~1 M tiles per quarter, 500 k cells, 250 m coverage, "
        "~100 m population (all times --scale)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep an existing output whose SAMPLE.json records the same arguments",
    )
    args = parser.parse_args(argv)
    out = args.out or (
        ".cache/bench/national-SYNTHETIC" if args.national else ".cache/sample-inputs-SYNTHETIC"
    )
    kwargs = {
        "seed": args.seed,
        "scale": args.scale,
        "provinces_34": args.provinces,
        "periods": args.periods,
        "national": args.national,
    }
    start = time.perf_counter()
    try:
        if args.reuse:
            path, generated = ensure_sample(out, **kwargs)
            if not generated:
                print(f"SYNTHETIC sample in {path} is current (same arguments): reused")
                return 0
        else:
            generate_sample(out, **kwargs)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    marker = json.loads((Path(out) / "SAMPLE.json").read_text(encoding="utf-8"))
    files = [*marker["files"], "SAMPLE.json"]
    size = sum((Path(out) / f).stat().st_size for f in files)
    print(
        f"SYNTHETIC sample written to {Path(out).absolute()} in {seconds:.1f} s: "
        f"{len(files)} files, {size / 1e6:.1f} MB"
    )
    for key, value in marker["counts"].items():
        print(f"  {key}: {value:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
