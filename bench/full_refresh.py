"""Full national refresh: wall time, CPU time and peak RSS of the whole refresh and of each asset.

For each fraction of the national input (default 1/4, 1/2, 1; ``BENCH_SCALES=0.25,1`` to choose):

1. the national input (``python -m geodata.sample --national --scale F``) is generated once into
   ``.cache/bench/national[-xF]-SYNTHETIC`` and reused while its SAMPLE.json marker matches;
   the fraction scales the tile and cell counts *and* the raster pixel counts (population split
   10x10 / 7x7 / 5x5 per 1 km pixel, coverage at 250 / 354 / 500 m);
2. ``python -m dagster_project.run`` (``make run``) runs as a child process into a fresh output
   directory and ``DAGSTER_HOME``; ``os.wait4`` gives its wall time, user + system CPU time and peak
   RSS; the instance's ``dagster.yaml`` attaches :class:`dagster_project.profiling.StepProfileHandler`,
   which records wall / CPU / peak RSS per asset step;
3. the same command again on the unchanged input: the no-change nightly rerun (must do no step).

Prints a table per scale and a summary against the targets (full refresh <= 3 min and <= 4 GB,
rerun <= 15 s, time(1) / time(1/4) <= 4.4, memory flat as the raster grows: the population raster
-> cells step alone in a fresh process, its peak RSS less that of the imports, at 1 vs 1/4), and
writes every figure to ``.cache/bench/full_refresh.json``.

Run: ``.venv/bin/python -m bench full_refresh`` (part of ``make bench``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geodata.sample.generate import ensure_sample, national_grids

#: The national benchmark refreshes two quarters at national size (both published in full): the
#: sample's eight-quarter history would multiply the input without measuring anything new.
BENCH_PERIODS = ("2026Q2", "2026Q3")

__all__ = ["RefreshRun", "ScaleResult", "main", "machine", "run_scale", "run_benchmark"]

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
DEFAULT_SCALES = (0.25, 0.5, 1.0)
TARGETS = {"wall_s": 180.0, "peak_rss_mb": 4096.0, "rerun_s": 15.0, "growth_4x": 4.4}
_NOTHING_NEW = "nothing new since the last refresh"
_DAGSTER_YAML = """python_logs:
  dagster_handler_config:
    handlers:
      step_profile:
        class: dagster_project.profiling.StepProfileHandler
        level: DEBUG
        path: {path}
"""


@dataclass
class RefreshRun:
    """One ``python -m dagster_project.run`` child process."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    steps: list[dict[str, Any]]
    nothing_new: bool
    log: str


@dataclass
class ScaleResult:
    """Everything measured at one fraction of the national input."""

    scale: float
    input_dir: str
    input_mb: float
    input_counts: dict[str, int]
    generated_s: float | None
    refresh: RefreshRun
    rerun: RefreshRun
    output_mb: float
    per_asset: list[dict[str, Any]] = field(default_factory=list)
    raster_alone: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    """CPU model, cores, memory and load: the figures depend on them."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "model name" in line),
            "?",
        )
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gb"] = round(int(mem) / 1024**2, 1)
        info["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    return info


def input_dir_for(scale: float, provinces_34: list[str] | None = None, cache: Path = CACHE) -> Path:
    """Cache directory of the national input at ``scale`` (and province slice, for tests)."""
    name = "national" + ("" if scale == 1.0 else f"-x{scale:g}")
    if provinces_34:
        name += "-p" + "_".join(sorted(provinces_34))
    return cache / f"{name}-SYNTHETIC"


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


_TIME = Path("/usr/bin/time")


def _measured(cmd: list[str], peak_file: Path) -> list[str]:
    """``cmd`` run under GNU time writing the child's own peak RSS (KB) to ``peak_file``.

    ``ru_maxrss`` from ``wait4`` also counts the memory image the child had before ``exec`` (a
    copy of this process: several GB once the kernel benchmarks ran), so the peak is taken from
    GNU time, whose child is forked from a small process. Without GNU time, ``wait4`` is used.
    """
    if not _TIME.exists():
        return cmd
    return [str(_TIME), "-q", "-f", "%M", "-o", str(peak_file), *cmd]


def _peak_mb(peak_file: Path, usage: Any) -> float:
    try:
        return int(peak_file.read_text().split()[-1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return usage.ru_maxrss / 1024.0  # kilobytes on Linux
    finally:
        peak_file.unlink(missing_ok=True)


def _run_refresh(env: dict[str, str], log_path: Path, profile: Path) -> RefreshRun:
    """Run ``make run``'s command once as a child; wall, CPU and peak RSS from ``os.wait4``."""
    before = profile.read_text().splitlines() if profile.exists() else []
    with open(log_path, "w", encoding="utf-8") as log:
        t0 = time.perf_counter()
        peak_file = log_path.with_suffix(".maxrss")
        proc = subprocess.Popen(
            _measured([sys.executable, "-m", "dagster_project.run"], peak_file),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    after = profile.read_text().splitlines() if profile.exists() else []
    steps = [json.loads(line) for line in after[len(before) :]]
    text = log_path.read_text(encoding="utf-8", errors="replace")
    # the step profiler resets the process's high-water mark before each step, and the kernel
    # reports the mark at exit as ru_maxrss: the whole run's peak is the largest of both
    peak = max([_peak_mb(peak_file, usage), *(s["peak_rss_mb"] or 0.0 for s in steps)])
    return RefreshRun(
        wall_s=round(wall, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mb=round(peak, 1),
        exit_code=proc.returncode,
        steps=steps,
        nothing_new=_NOTHING_NEW in text,
        log=str(log_path),
    )


_RASTER_ALONE = """
import sys
from geodata.kernels.raster import raster_to_cells
if sys.argv[1] != "-":
    rc = raster_to_cells(sys.argv[1], 8)
    print(rc.n_valid_pixels, rc.cells.size, rc.mode)
"""


def _child_usage(args: list[str]) -> tuple[float, float, str]:
    """Run ``python -c`` ``args`` as a child: (wall s, peak RSS MB, stdout)."""
    t0 = time.perf_counter()
    fd, name = tempfile.mkstemp(suffix=".maxrss")
    os.close(fd)
    peak_file = Path(name)
    proc = subprocess.Popen(
        _measured([sys.executable, "-c", *args], peak_file),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[1:]} failed with exit code {proc.returncode}")
    return time.perf_counter() - t0, _peak_mb(peak_file, usage), out.strip()


def raster_alone(path: Path) -> dict[str, Any]:
    """The population raster -> H3 res 8 alone in a fresh process: wall and peak RSS, and the
    peak RSS of the same imports without the raster (so the raster's own share is visible)."""
    wall, rss, out = _child_usage([_RASTER_ALONE, str(path)])
    _, base, _ = _child_usage([_RASTER_ALONE, "-"])
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(rss, 1),
        "imports_rss_mb": round(base, 1),
        "result": out,
    }


def _per_asset(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps summed per asset (partitions together): wall, CPU, max peak RSS, step count."""
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"steps": 0, "wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0}
    )
    for s in steps:
        # a graph-backed asset's steps (province_downloads.downloads_write[2026Q3_04]) count
        # for the asset
        a = acc[s["step"].split(".", 1)[0].split("[", 1)[0]]
        a["steps"] += 1
        a["wall_s"] += s["wall_s"]
        a["cpu_s"] += s["cpu_s"]
        a["peak_rss_mb"] = max(a["peak_rss_mb"], s["peak_rss_mb"] or 0.0)
    rows = [{"asset": k, **v} for k, v in acc.items()]
    return sorted(rows, key=lambda r: -r["wall_s"])


def run_scale(
    scale: float,
    *,
    provinces_34: list[str] | None = None,
    keep_outputs: bool = False,
    cache: Path = CACHE,
) -> ScaleResult:
    """Generate (or reuse) the input at ``scale``, then time a full refresh and a no-change rerun."""
    t0 = time.perf_counter()
    in_dir, generated = ensure_sample(
        input_dir_for(scale, provinces_34, cache),
        scale=scale,
        provinces_34=provinces_34,
        national=True,
        periods=BENCH_PERIODS,
    )
    gen_s = round(time.perf_counter() - t0, 1) if generated else None
    marker = json.loads((in_dir / "SAMPLE.json").read_text(encoding="utf-8"))
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"refresh-x{scale:g}-", dir=cache))
    try:
        home, out, profile = work / "dagster_home", work / "out", work / "steps.jsonl"
        home.mkdir()
        (home / "dagster.yaml").write_text(_DAGSTER_YAML.format(path=json.dumps(str(profile))))
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "GAP_MONITOR_INPUT_DIR": str(in_dir),
            "GAP_MONITOR_OUTPUT_DIR": str(out),
            "PYTHONWARNINGS": "ignore",
        }
        first = _run_refresh(env, cache / f"refresh-x{scale:g}.log", profile)
        if first.exit_code != 0:
            raise RuntimeError(f"refresh at scale {scale:g} failed: see {first.log}")
        again = _run_refresh(env, cache / f"rerun-x{scale:g}.log", profile)
        output_mb = _du_mb(out)
        (pop,) = (in_dir / "population").glob("*.tif")
        alone = raster_alone(pop)
    finally:
        if not keep_outputs:
            shutil.rmtree(work, ignore_errors=True)
    return ScaleResult(
        scale=scale,
        input_dir=str(in_dir),
        input_mb=round(_du_mb(in_dir), 1),
        input_counts=marker["counts"],
        generated_s=gen_s,
        refresh=first,
        rerun=again,
        output_mb=round(output_mb, 1),
        per_asset=_per_asset(first.steps),
        raster_alone=alone,
    )


def print_scale(r: ScaleResult) -> None:
    c = r.input_counts
    tiles = {
        q: c.get(f"speed_tiles_fixed_{q}", 0) + c.get(f"speed_tiles_mobile_{q}", 0)
        for q in sorted({k.rsplit("_", 1)[1] for k in c if k.startswith("speed_tiles_")})
    }
    split, res_deg, res_m = national_grids(r.scale)
    print(f"\nfull refresh, national input x{r.scale:g}  ({r.input_dir}, {r.input_mb:,.0f} MB)")
    print(
        f"  input: tiles per quarter {', '.join(f'{q} {n:,}' for q, n in tiles.items())}; "
        f"cells {c.get('cells', 0):,}; population {c.get('population_pixels', 0):,} px "
        f"({c.get('population_valid_pixels', 0):,} valid, 1 km split {split}x{split}); "
        f"coverage {res_deg} deg / {res_m:g} m"
        + (f"; generated in {r.generated_s:.1f} s" if r.generated_s is not None else "; cached")
    )
    f, g = r.refresh, r.rerun
    print(
        f"  whole refresh: wall {f.wall_s:8.1f} s   CPU {f.cpu_s:8.1f} s   "
        f"peak RSS {f.peak_rss_mb:8,.0f} MB   outputs {r.output_mb:,.0f} MB"
    )
    print(
        f"  no-change rerun: wall {g.wall_s:6.1f} s   CPU {g.cpu_s:6.1f} s   peak RSS "
        f"{g.peak_rss_mb:,.0f} MB   steps run {len(g.steps)}"
        f"{'  (nothing new)' if g.nothing_new else '  (DID WORK)'}"
    )
    a = r.raster_alone
    print(
        f"  population raster -> cells alone (fresh process): wall {a['wall_s']:.1f} s, "
        f"peak RSS {a['peak_rss_mb']:,.0f} MB (imports alone {a['imports_rss_mb']:,.0f} MB)"
    )
    print(f"  {'asset':<22} {'steps':>5} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for a in r.per_asset:
        print(
            f"  {a['asset']:<22} {a['steps']:>5} {a['wall_s']:>8.1f} {a['cpu_s']:>8.1f} "
            f"{a['peak_rss_mb']:>12,.0f}"
        )
    steps_wall = sum(a["wall_s"] for a in r.per_asset)
    print(f"  {'(sum of steps)':<22} {'':>5} {steps_wall:>8.1f}   rest: Dagster runs, imports")


def summary(results: list[ScaleResult]) -> dict[str, Any]:
    """Targets met or missed, printed and returned."""
    out: dict[str, Any] = {}
    print("\nsummary")
    print(f"  {'scale':>6} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'rerun s':>8}")
    for r in results:
        print(
            f"  {r.scale:>6g} {r.refresh.wall_s:>8.1f} {r.refresh.cpu_s:>8.1f} "
            f"{r.refresh.peak_rss_mb:>12,.0f} {r.rerun.wall_s:>8.1f}"
        )
    by = {r.scale: r for r in results}
    full = by.get(1.0)
    checks: list[tuple[str, bool, str]] = []
    if full is not None:
        f = full.refresh
        checks.append(("full refresh <= 180 s", f.wall_s <= TARGETS["wall_s"], f"{f.wall_s:.1f} s"))
        checks.append(
            (
                "full refresh peak RSS <= 4 GB",
                f.peak_rss_mb <= TARGETS["peak_rss_mb"],
                f"{f.peak_rss_mb:,.0f} MB",
            )
        )
    for r in results:
        checks.append(
            (
                f"no-change rerun x{r.scale:g} <= 15 s, no step",
                r.rerun.wall_s <= TARGETS["rerun_s"] and not r.rerun.steps and r.rerun.nothing_new,
                f"{r.rerun.wall_s:.1f} s, {len(r.rerun.steps)} steps",
            )
        )
    if 0.25 in by and full is not None:
        growth = full.refresh.wall_s / by[0.25].refresh.wall_s
        out["growth_4x"] = round(growth, 2)
        checks.append(
            ("time(1) / time(1/4) <= 4.4", growth <= TARGETS["growth_4x"], f"{growth:.2f}x")
        )

        def raster_mb(r: ScaleResult) -> float:  # the raster's own memory, imports excluded
            return r.raster_alone["peak_rss_mb"] - r.raster_alone["imports_rss_mb"]

        mb_q, mb_1 = raster_mb(by[0.25]), raster_mb(full)
        px_q = by[0.25].input_counts.get("population_pixels", 0)
        px_1 = full.input_counts.get("population_pixels", 0)
        checks.append(
            (
                "raster -> cells memory flat as the raster grows 4x (<= 1.5x)",
                mb_1 <= 1.5 * mb_q,
                f"{mb_q:,.0f} MB at {px_q / 1e6:,.0f} M px -> {mb_1:,.0f} MB at {px_1 / 1e6:,.0f} M px",
            )
        )
    for name, ok, value in checks:
        print(f"  {'met   ' if ok else 'MISSED'} {name:<62} {value}")
    out["targets"] = [{"target": n, "met": ok, "value": v} for n, ok, v in checks]
    return out


def run_benchmark(
    scales: tuple[float, ...] = DEFAULT_SCALES,
    *,
    provinces_34: list[str] | None = None,
    cache: Path = CACHE,
    json_path: Path | None = CACHE / "full_refresh.json",
) -> dict[str, Any]:
    """Run every scale, print the tables and the summary, write the JSON; returns the figures."""
    info = machine()
    print(
        f"\nfull-refresh benchmark on {info.get('cpu', '?')}, {info['cores']} cores, "
        f"{info.get('memory_gb', '?')} GB, load {' '.join(info.get('loadavg', []))}"
    )
    results = []
    for s in scales:
        r = run_scale(s, provinces_34=provinces_34, cache=cache)
        print_scale(r)
        results.append(r)
    figures = {
        "machine": info,
        "scales": [asdict(r) for r in results],
        **summary(results),
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {json_path}")
    return figures


def main() -> None:
    scales = tuple(
        float(s) for s in os.environ.get("BENCH_SCALES", "0.25,0.5,1").split(",") if s.strip()
    )
    run_benchmark(scales)


if __name__ == "__main__":
    main()
