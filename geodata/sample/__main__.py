"""Command line: ``python -m geodata.sample [--out DIR] [--seed N] [--scale X] [--provinces 79,01]``.

Writes the synthetic sample input directory and prints what it wrote.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from geodata.sample.generate import DEFAULT_PERIODS, DEFAULT_SEED, generate_sample

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
        "--out", default=".cache/sample-inputs-SYNTHETIC", help="output directory (replaced whole)"
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
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = generate_sample(
            args.out,
            seed=args.seed,
            scale=args.scale,
            provinces_34=args.provinces,
            periods=args.periods,
        )
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    size = sum((manifest.out_dir / f).stat().st_size for f in manifest.files)
    print(
        f"SYNTHETIC sample written to {manifest.out_dir} in {seconds:.1f} s: {len(manifest.files)} files, {size / 1e6:.1f} MB"
    )
    for key, value in manifest.counts.items():
        print(f"  {key}: {value:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
