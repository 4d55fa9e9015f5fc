"""Group-by-cell at 10 million rows over about 1 million cells: ours vs numpy, pandas, polars, DuckDB.

Every engine computes the same table: 2 sums, 3 ``tests``-weighted means (NaN ignored), the weight
sum and the row count per cell, sorted by cell. The pandas, polars and DuckDB frames are built
outside the timed region (generous to them: our kernel takes the numpy arrays as they come);
the derived columns each engine needs (value x weight, ...) are computed inside it.
Run: ``.venv/bin/python -m bench bench_groupby``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

from bench.report import best_time, report
from geodata.kernels.cells import latlng_to_cells
from geodata.kernels.groupby import group_by_cell

__all__ = ["main", "make_rows"]

_OURS = "ours (packed sort+bincount, 2 thr)"
_SUMS = ("population", "devices")
_MEANS = ("avg_d_kbps", "avg_u_kbps", "avg_lat_ms")


def make_rows(n_rows: int, n_cells: int, seed: int = 0) -> dict[str, npt.NDArray]:
    """``n_rows`` rows over ``n_cells`` distinct resolution-8 cells of Vietnam's bounding box."""
    rng = np.random.default_rng(seed)
    m = int(n_cells * 1.6)
    pool = np.unique(latlng_to_cells(rng.uniform(8, 24, m), rng.uniform(102, 110, m), 8))
    pool = rng.choice(pool, n_cells, replace=False)
    rows: dict[str, npt.NDArray] = {"cell": pool[rng.integers(0, n_cells, n_rows)]}
    rows["tests"] = rng.integers(1, 60, n_rows).astype(np.float64)
    rows["population"] = rng.gamma(0.5, 40.0, n_rows)
    rows["devices"] = rng.integers(1, 20, n_rows).astype(np.float64)
    rows["avg_d_kbps"] = rng.lognormal(10.5, 0.8, n_rows)
    rows["avg_u_kbps"] = rng.lognormal(9.5, 0.8, n_rows)
    rows["avg_lat_ms"] = rng.lognormal(3.5, 0.5, n_rows)
    for name in _MEANS:  # a few missing measurements
        rows[name][rng.random(n_rows) < 0.02] = np.nan
    return rows


def _ours(rows: dict[str, npt.NDArray]) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:
    return group_by_cell(
        rows["cell"],
        sums={k: rows[k] for k in _SUMS},
        means={k: rows[k] for k in _MEANS},
        weights=rows["tests"],
    )


def _numpy_unique(rows: dict[str, npt.NDArray]) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:
    uniq, inv = np.unique(rows["cell"], return_inverse=True)
    m = uniq.size
    w = rows["tests"]
    out: dict[str, npt.NDArray] = {k: np.bincount(inv, np.nan_to_num(rows[k]), m) for k in _SUMS}
    for k in _MEANS:
        ok = ~np.isnan(rows[k])
        num = np.bincount(inv, np.where(ok, rows[k] * w, 0.0), m)
        with np.errstate(invalid="ignore"):
            out[k] = num / np.bincount(inv, np.where(ok, w, 0.0), m)
    out["weight"] = np.bincount(inv, w, m)
    out["count"] = np.bincount(inv, minlength=m)
    return uniq, out


def _numpy_packed_sort(rows: dict[str, npt.NDArray]) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:
    """Best numpy variant found: one SIMD sort of (cell bits | row number) keys, then bincount."""
    c = rows["cell"]
    n = c.size
    lo = c.min()
    varying = int(np.bitwise_or.reduce(c ^ c[0]))
    shift = (varying & -varying).bit_length() - 1 if varying else 0
    row_bits = max((n - 1).bit_length(), 1)
    if (int(c.max() - lo) >> shift).bit_length() + row_bits > 64:
        raise ValueError("cells too varied to pack with the row number")
    packed = (c - lo) >> np.uint64(shift)
    packed <<= np.uint64(row_bits)
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << row_bits) - 1)).view(np.int64)
    packed >>= np.uint64(row_bits)
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(packed[1:], packed[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    uniq = c[order[starts]]
    codes = np.empty(n, dtype=np.intp)
    codes[order] = np.cumsum(first, dtype=np.intp) - 1
    m = uniq.size
    w = rows["tests"]
    out: dict[str, npt.NDArray] = {k: np.bincount(codes, np.nan_to_num(rows[k]), m) for k in _SUMS}
    for k in _MEANS:
        nan = np.isnan(rows[k])
        num = np.bincount(codes, np.where(nan, 0.0, rows[k] * w), m)
        with np.errstate(invalid="ignore"):
            out[k] = num / np.bincount(codes, np.where(nan, 0.0, w), m)
    out["weight"] = np.bincount(codes, w, m)
    out["count"] = np.diff(starts, append=n)
    return uniq, out


def _pandas(df: pd.DataFrame) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:
    w = df["tests"]
    derived = {k: df[k] for k in _SUMS} | {"weight": w}
    for k in _MEANS:
        derived[f"{k}_num"] = df[k] * w
        derived[f"{k}_den"] = w.where(df[k].notna())
    frame = pd.DataFrame(derived)
    frame["cell"] = df["cell"]
    g = frame.groupby("cell", sort=True)
    total = g.sum()
    out = {k: total[k].to_numpy() for k in (*_SUMS, "weight")}
    for k in _MEANS:
        out[k] = (total[f"{k}_num"] / total[f"{k}_den"]).to_numpy()
    out["count"] = g.size().to_numpy()
    return total.index.to_numpy(), out


def _polars(df: pl.DataFrame) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:
    w = pl.col("tests")
    aggs = [pl.col(k).fill_nan(None).sum() for k in _SUMS]
    for k in _MEANS:
        ok = pl.col(k).is_not_nan()
        aggs.append(((pl.col(k) * w).filter(ok).sum() / w.filter(ok).sum()).alias(k))
    aggs += [w.sum().alias("weight"), pl.len().alias("count")]
    res = df.lazy().group_by("cell").agg(aggs).sort("cell").collect()
    return res["cell"].to_numpy(), {k: res[k].to_numpy() for k in res.columns if k != "cell"}


def _polars_terms(df: pl.DataFrame) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:
    """The previous kernel: a polars group-by over precomputed terms (value x weight, ...)."""
    w = pl.col("tests")
    terms = [pl.col(k).fill_nan(0.0) for k in _SUMS]
    for k in _MEANS:
        nan = pl.col(k).is_nan()
        terms.append(pl.when(nan).then(0.0).otherwise(pl.col(k) * w).alias(f"{k}_num"))
        terms.append(pl.when(nan).then(0.0).otherwise(w).alias(f"{k}_den"))
    res = (
        df.lazy()
        .select("cell", w.alias("weight"), *terms)
        .group_by("cell")
        .agg(pl.all().sum(), pl.len().alias("count"))
        .sort("cell")
        .collect()
    )
    out = {k: res[k].to_numpy() for k in (*_SUMS, "weight", "count")}
    for k in _MEANS:
        num, den = res[f"{k}_num"].to_numpy(), res[f"{k}_den"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.where(den == 0, np.nan, num / den)
    return res["cell"].to_numpy(), out


def _duckdb(con, table: str) -> tuple[npt.NDArray, dict[str, npt.NDArray]]:  # type: ignore[no-untyped-def]
    parts = [f"sum({k}) AS {k}" for k in _SUMS]
    for k in _MEANS:
        f = f"FILTER (WHERE NOT isnan({k}))"
        parts.append(f"sum({k} * tests) {f} / sum(tests) {f} AS {k}")
    parts += ["sum(tests) AS weight", "count(*) AS count"]
    sql = f"SELECT cell, {', '.join(parts)} FROM {table} GROUP BY cell ORDER BY cell"
    res = con.execute(sql).fetchnumpy()
    cols = {k: np.ma.filled(v, np.nan) if k in _MEANS else np.asarray(v) for k, v in res.items()}
    return np.asarray(res["cell"]), {k: v for k, v in cols.items() if k != "cell"}


def _agree(ref: tuple[npt.NDArray, dict], other: tuple[npt.NDArray, dict], name: str) -> None:
    if not np.array_equal(ref[0], other[0]):
        raise AssertionError(f"{name}: cells differ from ours")
    for k, v in ref[1].items():
        if not np.allclose(v, other[1][k], rtol=1e-9, equal_nan=True):
            raise AssertionError(f"{name}: column {k} differs from ours")


def main() -> None:
    n_rows, n_cells = 10_000_000, 1_000_000
    rows = make_rows(n_rows, n_cells)
    ours = _ours(rows)
    engines = {
        "numpy unique+bincount": lambda: _numpy_unique(rows),
        "numpy packed-key sort+bincount": lambda: _numpy_packed_sort(rows),
    }
    pdf = pd.DataFrame(rows)
    engines["pandas groupby"] = lambda: _pandas(pdf)
    plf = pl.DataFrame(rows)
    engines["polars group_by, filter in agg"] = lambda: _polars(plf)
    engines["polars group_by, precomputed terms"] = lambda: _polars_terms(plf)
    try:
        import duckdb

        con = duckdb.connect()
        con.register("rows_view", plf.to_arrow())
        engines["duckdb SQL"] = lambda: _duckdb(con, "rows_view")
    except ImportError as exc:  # bench extra not installed
        print(f"duckdb not available: {exc}")
    for name, fn in engines.items():
        _agree(ours, fn(), name)
    timings = {_OURS: best_time(lambda: _ours(rows))}
    for name, fn in engines.items():
        timings[name] = best_time(fn)
    print(f"\n{ours[0].size:,} distinct cells; 2 sums + 3 tests-weighted means + weight + count")
    report("group_by_cell", n_rows, "rows", _OURS, timings)


if __name__ == "__main__":
    main()
