"""Timing and a uniform ratio table for the benchmarks.

Every benchmark times the product's kernel and each alternative on the same input in the same
run, then prints one line per engine: seconds, rate, and the ratio of the fastest alternative's
time to this engine's time (>= 1.0 means at least as fast as the best library measured).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["best_time", "report"]


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (seconds), after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def report(
    kernel: str,
    n: int,
    unit: str,
    ours: str,
    timings: dict[str, float],
    different: Mapping[str, tuple[float, str]] | None = None,
    *,
    no_alternative: str = "no library measured does this work",
) -> float:
    """Print the table for one kernel and return ours' ratio to the fastest alternative.

    ``timings`` maps engine name -> best seconds for engines doing the same work; ``ours`` names
    the product's kernel in it. ``different`` maps engine name -> (seconds, why): engines shown
    for scale that do different work, printed with the reason instead of a ratio and never
    counted as the fastest alternative. With no same-work alternative the ratio column says
    ``no_alternative`` and NaN is returned.
    """
    alternatives = {k: v for k, v in timings.items() if k != ours}
    fastest_alt = min(alternatives.values()) if alternatives else math.nan
    rows = {k: (v, None) for k, v in timings.items()} | dict(different or {})
    print(f"\n{kernel}  (n = {n:,} {unit})")
    print(f"  {'engine':<34} {'seconds':>9} {'rate ' + unit + '/s':>18} {'ratio':>7}")
    for name, (sec, why) in sorted(rows.items(), key=lambda kv: kv[1][0]):
        mark = "  <- ours" if name == ours else ""
        if why is not None:
            ratio = f"  -  {why}"
        elif not alternatives:
            ratio = f"  -  {no_alternative}"
        else:
            ratio = f"{fastest_alt / sec if sec > 0 else float('inf'):>6.2f}x"
        rate = n / sec if sec > 0 else float("inf")
        print(f"  {name:<34} {sec:>9.3f} {rate:>18,.0f} {ratio}{mark}")
    return fastest_alt / timings[ours]
