"""Timing and a uniform ratio table for the benchmarks.

Every benchmark times the product's kernel and each alternative on the same input in the same
run, then prints one line per engine: seconds, rate, and the ratio of the fastest alternative's
time to this engine's time (>= 1.0 means at least as fast as the best library measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


def report(kernel: str, n: int, unit: str, ours: str, timings: dict[str, float]) -> float:
    """Print the table for one kernel and return ours' ratio to the fastest alternative.

    ``timings`` maps engine name -> best seconds; ``ours`` names the product's kernel in it.
    """
    alternatives = {k: v for k, v in timings.items() if k != ours}
    fastest_alt = min(alternatives.values()) if alternatives else timings[ours]
    print(f"\n{kernel}  (n = {n:,} {unit})")
    print(f"  {'engine':<34} {'seconds':>9} {'rate ' + unit + '/s':>18} {'ratio':>7}")
    for name, sec in sorted(timings.items(), key=lambda kv: kv[1]):
        mark = "  <- ours" if name == ours else ""
        ratio = fastest_alt / sec if sec > 0 else float("inf")
        print(f"  {name:<34} {sec:>9.3f} {n / sec:>18,.0f} {ratio:>6.2f}x{mark}")
    return fastest_alt / timings[ours]
