"""Global inputs as their publishers distribute them: the readers against a bare polars filter,
then a full refresh whose speed tiles and cell sites are the global files.

Input (made once into ``.cache/bench/world-SYNTHETIC/``, reused while ``WORLD.json`` matches):
the default sample (``.cache/sample-inputs-SYNTHETIC``: two quarters, 63/34 provinces) with its
speed tiles and cell sites replaced by SYNTHETIC world files of the published size
(:mod:`geodata.sample.world`): per quarter a global fixed file (6.5 M tiles) and a global mobile
file (3.5 M tiles), Parquet in Ookla's hive layout ``type=fixed/year=2026/quarter=3/``, rows
shuffled (no row group can be skipped by its statistics: the layout where the issue measured a
bare polars filter at 1.1 s); and OpenCelliD's world dump ``cell_towers.csv.gz`` (10 M rows, all
MCCs, header line). The sample's adoption tables and coverage rasters are copied beside them.

1. **Readers.** ``read_speed_tiles`` on the fixed file (shuffled, and the same rows in quadkey
   order) and ``read_cell_sites`` on the world dump, against the bare polars filter to Vietnam's
   box (``scan_parquet(...).filter(tile_x, tile_y in box)``; ``scan_csv(...).filter(mcc == 452,
   lon, lat in box)``): best of 3 after a warm-up, in this process, the sha256 memo cleared before
   every reader call (each call hashes its file, as a refresh does once). Peak RSS of each, alone
   in a fresh process. Checks: the reader accepts exactly the tiles/sites in the study area
   (known by construction), quarantines none, and counts reconcile.
2. **Full refresh** on the world input: ``python -m dagster_project.run`` as a child (wall, CPU,
   peak RSS, per asset), then its published tables compared with a refresh of the plain sample:
   the foreign rows must change nothing.

Targets (issue 11): reader time <= 1.5x the bare filter, reader peak RSS < 1.5 GB, refresh < 180 s
and < 3 GB, empty quarantine, all checks passing. ``BENCH_WORLD_SCALE=0.1`` shrinks every world
file (tests use it); figures go to ``.cache/bench/world.json``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bench.full_refresh import (
    _DAGSTER_YAML,
    BENCH_PERIODS,
    CACHE,
    ROOT,
    _child_usage,
    _per_asset,
    _run_refresh,
    machine,
)
from bench.report import report
from geodata.inputs import quarter_from_name
from geodata.provenance import sha256_file
from geodata.sample.generate import ensure_sample
from geodata.sample.world import (
    read_text_table,
    write_world_cell_towers,
    write_world_speed_tiles,
)

__all__ = ["WORLD_ROWS", "ensure_world_input", "bench_readers", "bench_refresh", "main"]

#: Rows of the published world files at scale 1: Ookla fixed and mobile per quarter, OpenCelliD.
WORLD_ROWS = {"fixed": 6_500_000, "mobile": 3_500_000, "cells": 10_000_000}
TARGETS = {"ratio": 1.5, "reader_rss_mb": 1536.0, "wall_s": 180.0, "peak_rss_mb": 3072.0}
_VN_BOX = (102.0, 6.5, 117.5, 23.6)
_GENERATOR_VERSION = 1
_SAMPLE_DIR = ROOT / ".cache" / "sample-inputs-SYNTHETIC"


def _world_dir(scale: float, cache: Path) -> Path:
    return cache / ("world-SYNTHETIC" if scale == 1.0 else f"world-x{scale:g}-SYNTHETIC")


def ensure_world_input(
    scale: float = 1.0,
    *,
    cache: Path = CACHE,
    sample_dir: Path = _SAMPLE_DIR,
    sample_kwargs: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The world input at ``scale`` (made once; reused while its ``WORLD.json`` matches).

    Returns the directory and its marker: per file the rows, and the rows inside the study area
    (what a reader must accept).
    """
    sample, _ = ensure_sample(sample_dir, **{"periods": BENCH_PERIODS, **(sample_kwargs or {})})
    sample_marker = json.loads((sample / "SAMPLE.json").read_text(encoding="utf-8"))
    key = {
        "generator": "geodata.sample.world",
        "version": _GENERATOR_VERSION,
        "scale": scale,
        "sample": hashlib.sha256(json.dumps(sample_marker, sort_keys=True).encode()).hexdigest(),
    }
    out = _world_dir(scale, cache)
    marker_path = out / "WORLD.json"
    if marker_path.exists():
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
        if marker.get("key") == key and all((out / f).is_file() for f in marker["files"]):
            return out, marker
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=".world-", dir=cache if cache.exists() else None))
    files: dict[str, dict[str, Any]] = {}
    for sub in ("adoption", "coverage", "population"):
        if (sample / sub).is_dir():
            shutil.copytree(sample / sub, tmp / sub)
    for src in sorted((sample / "speed_tiles").glob("*.parquet")):
        kind = "fixed" if "_fixed_" in src.name else "mobile"
        period = quarter_from_name(src)
        assert period is not None
        year, q = period.split("Q")
        date = src.name.split("_")[1]  # sample_2026-07-01_performance_...
        hive = f"speed_tiles/type={kind}/year={year}/quarter={q}"
        rel = f"{hive}/SYNTHETIC-world_{date}_performance_{kind}_tiles.parquet"
        truth = write_world_speed_tiles(
            pq.read_table(src),
            tmp / rel,
            max(int(WORLD_ROWS[kind] * scale), 1),
            kind=kind,
            seed=int(q),
            order="shuffled",
        )
        files[rel] = {"rows": truth.rows, "inside": truth.inside, "kind": kind, "period": period}
    (cells_src,) = (sample / "cell_sites").glob("*.csv")
    rel = "cell_sites/SYNTHETIC-world_cell_towers.csv.gz"
    truth = write_world_cell_towers(
        read_text_table(cells_src), tmp / rel, max(int(WORLD_ROWS["cells"] * scale), 1)
    )
    files[rel] = {"rows": truth.rows, "inside": truth.inside, "kind": "cells"}
    marker = {
        "key": key,
        "synthetic": True,
        "note": "SYNTHETIC world files: the sample's Vietnamese rows among random foreign rows, "
        "in the publishers' layouts (geodata.sample.world)",
        "files": files,
        "generated_s": round(time.perf_counter() - t0, 1),
    }
    (tmp / "WORLD.json").write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o755)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out, marker


def _sorted_copy(src: Path) -> Path:
    """The same rows in quadkey order, beside the input (not in it: a refresh would read both)."""
    dst = src.parents[4] / "layouts" / f"quadkey-order_{src.name}"
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(src)
    table = table.sort_by("quadkey")
    pq.write_table(table, dst.with_suffix(".tmp"), row_group_size=1 << 20)
    os.replace(dst.with_suffix(".tmp"), dst)
    return dst


def _best(fn, repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls after a warm-up; the sha256 memo cleared each time."""
    from geodata import provenance

    provenance._SHA_MEMO.clear()
    result = fn()
    times = []
    for _ in range(repeat):
        provenance._SHA_MEMO.clear()
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


_CHILD = """
import sys
what, path = sys.argv[1], sys.argv[2]
if what == "tiles":
    from geodata.readers.ookla import read_speed_tiles
    r = read_speed_tiles(path)
    print(r.n_accepted)
elif what == "sites":
    from geodata.readers.opencellid import read_cell_sites
    r = read_cell_sites(path)
    print(r.n_accepted)
elif what == "polars_tiles":
    import polars as pl
    w, s, e, n = (float(v) for v in sys.argv[3:7])
    df = pl.scan_parquet(path).filter(
        pl.col("tile_x").is_between(w, e) & pl.col("tile_y").is_between(s, n)).collect()
    print(df.height)
elif what == "polars_sites":
    import polars as pl
    w, s, e, n = (float(v) for v in sys.argv[3:7])
    df = pl.scan_csv(path, comment_prefix="#").filter(
        (pl.col("mcc") == 452) & pl.col("lon").is_between(w, e)
        & pl.col("lat").is_between(s, n)).collect()
    print(df.height)
"""


def _compare(
    title: str,
    ours: tuple[str, Any, list[str]],
    alternative: tuple[str, Any, list[str]],
    inside: int,
    sha_of: Path | None = None,
) -> dict[str, Any]:
    """One reader against the bare polars filter on the same file: best times, the ratio, each
    one's peak RSS alone in a fresh process, and whether it accepted exactly the rows inside.
    ``ours``/``alternative``: (name, call, arguments of the ``_CHILD`` script)."""
    (name, run, child), (alt_name, alt_run, alt_child) = ours, alternative
    t_ours, res = _best(run)
    t_pl, df = _best(alt_run)
    ratio = t_ours / t_pl
    report(title, res.n_read, "rows", name, {name: t_ours, alt_name: t_pl})
    _, rss_ours, _ = _child_usage([_CHILD, *child])
    _, rss_pl, _ = _child_usage([_CHILD, *alt_child])
    exact = res.n_accepted == inside and res.n_quarantined == 0 and res.reconciles()
    out: dict[str, Any] = {
        "rows": res.n_read,
        "reader_s": round(t_ours, 3),
        "polars_s": round(t_pl, 3),
        "ratio": round(ratio, 3),
        "reader_peak_rss_mb": round(rss_ours, 1),
        "polars_peak_rss_mb": round(rss_pl, 1),
        "accepted": res.n_accepted,
        "inside": inside,
        "quarantined": res.n_quarantined,
        "outside": res.n_outside,
        "exact": exact,
    }
    if sha_of is not None:
        t_sha, _ = _best(lambda: sha256_file(sha_of))
        out["sha256_s"] = round(t_sha, 3)
        print(
            f"  sha256 of the file alone (provenance; the reader hashes on a second thread): "
            f"{t_sha:.3f} s = {t_sha / t_pl:.2f}x the polars filter"
        )
    print(
        f"  reader time / polars time = {ratio:.2f}x (target <= {TARGETS['ratio']}x); peak RSS "
        f"alone: reader {rss_ours:,.0f} MB, polars {rss_pl:,.0f} MB; accepted "
        f"{res.n_accepted:,} = in the study area {inside:,}: {exact}; rows the filter kept "
        f"{df.height:,}; outside skipped {res.n_outside:,}"
    )
    return out


def bench_readers(world: Path, marker: dict[str, Any]) -> dict[str, Any]:
    """Reader vs bare polars filter on the fixed file (both layouts) and the cell dump."""
    import polars as pl

    from geodata.readers.ookla import read_speed_tiles
    from geodata.readers.opencellid import read_cell_sites
    from geodata.study_area import study_area

    study_area()  # built or loaded once per process, as in a refresh
    w, s, e, n = _VN_BOX
    box = [str(v) for v in _VN_BOX]
    figures: dict[str, Any] = {}
    fixed = max(
        (f for f, m in marker["files"].items() if m["kind"] == "fixed"),
        key=lambda f: marker["files"][f]["period"],
    )
    src = world / fixed
    cases = [("fixed tiles, rows shuffled", src, marker["files"][fixed]["inside"])]
    cases.append(("fixed tiles, quadkey order", _sorted_copy(src), cases[0][2]))
    for label, path, inside in cases:
        figures[label] = _compare(
            f"global Ookla Parquet -> Vietnam ({label})",
            ("read_speed_tiles", lambda p=path: read_speed_tiles(p), ["tiles", str(path)]),
            (
                "polars box filter",
                lambda p=path: (
                    pl.scan_parquet(p)
                    .filter(pl.col("tile_x").is_between(w, e) & pl.col("tile_y").is_between(s, n))
                    .collect()
                ),
                ["polars_tiles", str(path), *box],
            ),
            inside,
            sha_of=path,
        )
    cells = next(f for f, m in marker["files"].items() if m["kind"] == "cells")
    path = world / cells
    figures["cell dump"] = _compare(
        "OpenCelliD world dump (.csv.gz) -> Vietnam",
        ("read_cell_sites", lambda: read_cell_sites(path), ["sites", str(path)]),
        (
            "polars MCC + box filter",
            lambda: (
                pl.scan_csv(path, comment_prefix="#")
                .filter(
                    (pl.col("mcc") == 452)
                    & pl.col("lon").is_between(w, e)
                    & pl.col("lat").is_between(s, n)
                )
                .collect()
            ),
            ["polars_sites", str(path), *box],
        ),
        marker["files"][cells]["inside"],
    )
    return figures


def _tables_differ(ours: Path, theirs: Path, rtol: float = 1e-9) -> tuple[int, list[str]]:
    """Published tables (``tables/*.csv``) of two outputs compared: text exactly, numbers to
    ``rtol`` (the world files hold the tiles in another row order, so sums round differently in
    the last digit). Returns (tables compared, names that differ)."""
    names = sorted({p.name for p in (ours / "tables").glob("*.csv")})
    differ = [n for n in names if not (theirs / "tables" / n).exists()]
    for name in names:
        if name in differ:
            continue
        # `sample` records where the inputs came from (world files vs the sample), not a figure
        a = pd.read_csv(ours / "tables" / name, dtype=str, keep_default_na=False)
        b = pd.read_csv(theirs / "tables" / name, dtype=str, keep_default_na=False)
        a, b = (t.drop(columns=["sample"], errors="ignore") for t in (a, b))
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            differ.append(name)
            continue
        for col in a.columns:
            x = pd.to_numeric(a[col], errors="coerce").to_numpy(dtype=float)
            y = pd.to_numeric(b[col], errors="coerce").to_numpy(dtype=float)
            numeric = ~np.isnan(x) & ~np.isnan(y)
            same_text = (a[col].to_numpy() == b[col].to_numpy()) | numeric
            close = np.isclose(x, y, rtol=rtol, atol=0.0) | ~numeric
            if not (same_text.all() and close.all()):
                differ.append(name)
                break
    return len(names), sorted(differ)


def _refresh(input_dir: Path, work: Path, name: str) -> tuple[Any, Path]:
    home, out = work / f"{name}_home", work / f"{name}_out"
    home.mkdir(parents=True)
    profile = work / f"{name}_steps.jsonl"
    (home / "dagster.yaml").write_text(_DAGSTER_YAML.format(path=json.dumps(str(profile))))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GAP_MONITOR_INPUT_DIR": str(input_dir),
        "GAP_MONITOR_OUTPUT_DIR": str(out),
        "PYTHONWARNINGS": "ignore",
    }
    run = _run_refresh(env, work / f"{name}.log", profile)
    return run, out


def bench_refresh(world: Path, sample: Path, cache: Path = CACHE) -> dict[str, Any]:
    """Full refresh on the world input, then on the plain sample; compare the published tables."""
    work = Path(tempfile.mkdtemp(prefix="world-refresh-", dir=cache))
    try:
        run, out = _refresh(world, work, "world")
        if run.exit_code != 0:
            log = Path(run.log).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"refresh on the world input failed:\n{log}")
        base, base_out = _refresh(sample, work, "sample")
        quarantine = {
            p.name: max(sum(1 for _ in p.open(encoding="utf-8")) - 1, 0)
            for p in sorted((out / "quarantine").glob("*.csv"))
        }
        log = Path(run.log).read_text(errors="replace")
        failed = [line.strip() for line in log.splitlines() if "check FAILED" in line]
        n_tables, differ = _tables_differ(out, base_out)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nfull refresh, sample with its speed tiles and cell sites replaced by world files ({world})"
    )
    print(
        f"  whole refresh: wall {run.wall_s:.1f} s (target < {TARGETS['wall_s']:.0f}), CPU "
        f"{run.cpu_s:.1f} s, peak RSS {run.peak_rss_mb:,.0f} MB (target < {TARGETS['peak_rss_mb']:,.0f})"
    )
    print(
        f"  the plain sample, same command: wall {base.wall_s:.1f} s, peak RSS "
        f"{base.peak_rss_mb:,.0f} MB"
    )
    rows = sum(quarantine.values())
    print(f"  quarantined rows: {rows} ({', '.join(f'{k} {v}' for k, v in quarantine.items())})")
    print(f"  failed checks in the log: {len(failed)}" + ("".join(f"\n    {f}" for f in failed)))
    print(
        f"  published tables equal to the plain sample's (numbers to 1e-9): "
        f"{n_tables - len(differ)} of {n_tables}"
        + (f"; differ: {', '.join(differ)}" if differ else "")
    )
    for a in _per_asset(run.steps)[:8]:
        print(f"    {a['asset']:<22} {a['wall_s']:>7.1f} s {a['peak_rss_mb']:>8,.0f} MB")
    return {
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "peak_rss_mb": run.peak_rss_mb,
        "sample_wall_s": base.wall_s,
        "sample_peak_rss_mb": base.peak_rss_mb,
        "quarantined_rows": rows,
        "failed_checks": failed,
        "tables_differ": differ,
        "tables": n_tables,
    }


def run_benchmark(
    scale: float = 1.0,
    *,
    cache: Path = CACHE,
    sample_dir: Path = _SAMPLE_DIR,
    sample_kwargs: dict[str, Any] | None = None,
    refresh: bool = True,
    json_path: Path | None = CACHE / "world.json",
) -> dict[str, Any]:
    cache.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(
        f"\nglobal inputs benchmark (scale {scale:g}) on {info.get('cpu', '?')}, "
        f"{info['cores']} cores, load {' '.join(info.get('loadavg', []))}"
    )
    world, marker = ensure_world_input(
        scale, cache=cache, sample_dir=sample_dir, sample_kwargs=sample_kwargs
    )
    sizes = {f: (world / f).stat().st_size / 1e6 for f in marker["files"]}
    for f, m in marker["files"].items():
        print(f"  {f}: {m['rows']:,} rows, {m['inside']:,} in the study area, {sizes[f]:,.0f} MB")
    figures: dict[str, Any] = {
        "machine": info,
        "scale": scale,
        "readers": bench_readers(world, marker),
    }
    if refresh:
        sample, _ = ensure_sample(sample_dir, **{"periods": BENCH_PERIODS, **(sample_kwargs or {})})
        figures["refresh"] = bench_refresh(world, sample, cache)
    checks = []
    for label, f in figures["readers"].items():
        checks.append(
            (
                f"{label}: reader <= {TARGETS['ratio']}x polars",
                f["ratio"] <= TARGETS["ratio"],
                f"{f['ratio']:.2f}x",
            )
        )
        checks.append(
            (
                f"{label}: reader peak RSS < 1.5 GB",
                f["reader_peak_rss_mb"] < TARGETS["reader_rss_mb"],
                f"{f['reader_peak_rss_mb']:,.0f} MB",
            )
        )
        checks.append(
            (
                f"{label}: accepts exactly the rows in the study area",
                f["exact"],
                f"{f['accepted']:,}",
            )
        )
    if refresh:
        r = figures["refresh"]
        checks.append(("refresh < 180 s", r["wall_s"] < TARGETS["wall_s"], f"{r['wall_s']:.1f} s"))
        checks.append(
            (
                "refresh peak RSS < 3 GB",
                r["peak_rss_mb"] < TARGETS["peak_rss_mb"],
                f"{r['peak_rss_mb']:,.0f} MB",
            )
        )
        checks.append(("empty quarantine", r["quarantined_rows"] == 0, str(r["quarantined_rows"])))
        checks.append(("no failed check", not r["failed_checks"], str(len(r["failed_checks"]))))
        checks.append(
            (
                "tables as on the plain sample",
                not r["tables_differ"],
                f"{r['tables'] - len(r['tables_differ'])}/{r['tables']}",
            )
        )
    print("\nsummary (issue 11 targets)")
    for name, ok, value in checks:
        print(f"  {'met   ' if ok else 'MISSED'} {name:<64} {value}")
    figures["targets"] = [{"target": n, "met": ok, "value": v} for n, ok, v in checks]
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {json_path}")
    return figures


def main() -> None:
    scale = float(os.environ.get("BENCH_WORLD_SCALE", "1"))
    run_benchmark(scale)


if __name__ == "__main__":
    main()
