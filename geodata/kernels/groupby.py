"""Aggregate rows to their H3 cell: sums, weighted means, weight totals and row counts.

The kernel sorts the rows by cell once (one ``uint64`` sort of the cell bits packed above the
row number, see :func:`_sorted_runs`), numbers the groups, and sums every column with
``np.bincount`` over precomputed terms (value x weight and the weight of the non-NaN rows, so each
mean is a ratio of two sums), the terms and totals on two worker threads. On the 2-core reference
machine it is the fastest engine measured by ``bench/bench_groupby.py`` at 10 million rows (numpy
``unique`` + ``bincount``, a packed-key numpy sort + ``bincount``, pandas, polars, DuckDB).

Examples
--------
>>> cells = np.array([5, 3, 5, 5], dtype=np.uint64)
>>> tests = np.array([1.0, 2.0, 3.0, 0.0])
>>> speed = np.array([10.0, 20.0, 30.0, np.nan])
>>> uniq, out = group_by_cell(cells, sums={"tests": tests}, means={"speed": speed}, weights=tests)
>>> uniq.tolist(), out["tests"].tolist(), out["speed"].tolist(), out["count"].tolist()
([3, 5], [2.0, 4.0], [20.0, 25.0], [1, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

__all__ = ["group_by_cell"]

_NO_COLUMNS: Mapping[str, npt.ArrayLike] = MappingProxyType({})
_RESERVED = ("weight", "count")
_THREADED_ROWS = 200_000  # below this, starting threads costs more than it saves
_WORKERS = 2
_Floats = npt.NDArray[np.float64]


def group_by_cell(
    cells: npt.ArrayLike,
    sums: Mapping[str, npt.ArrayLike] = _NO_COLUMNS,
    means: Mapping[str, npt.ArrayLike] = _NO_COLUMNS,
    weights: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.uint64], dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]]:
    """Group rows by cell: per-cell sums, weighted means, weight sums and row counts.

    Parameters
    ----------
    cells : H3 cell of each row (``uint64``). Any value is a group key, including 0 (an invalid
        cell is kept as its own group so that totals are conserved; drop it first if unwanted).
    sums : columns summed per cell. NaN values count as missing (contribute 0).
    means : columns averaged per cell, weighted by ``weights`` (unweighted when None). NaN values
        are ignored in the numerator *and* in the weight sum; a cell whose values are all NaN
        (or whose non-NaN rows have zero total weight) gets NaN.
    weights : non-negative finite weight of each row (e.g. Ookla ``tests``), or None.

    Returns
    -------
    cells : the distinct cells, sorted ascending.
    columns : ``float64`` arrays aligned with ``cells``: one per ``sums`` and ``means`` name,
        ``"weight"`` (sum of weights, only when ``weights`` is given) and ``"count"`` (``int64``
        rows per cell).

    Raises
    ------
    ValueError
        When a column's length differs from ``cells``, a name is used twice or is reserved
        (``"weight"``, ``"count"``), or a weight is negative or not finite.
    """
    c = np.ascontiguousarray(cells, dtype=np.uint64).ravel()
    n = c.size
    sum_cols = _columns(sums, n, "sums")
    mean_cols = _columns(means, n, "means")
    _check_names(sum_cols, mean_cols)
    w = None if weights is None else _weights(weights, n)

    def sum_terms(v: _Floats) -> tuple[_Floats, ...]:
        missing = np.isnan(v)
        return (np.where(missing, 0.0, v) if missing.any() else v,)

    def mean_terms(v: _Floats) -> tuple[_Floats, ...]:
        missing = np.isnan(v)
        if w is None:
            return np.where(missing, 0.0, v), (~missing).astype(np.float64)
        return np.where(missing, 0.0, v * w), np.where(missing, 0.0, w)

    jobs = [(name, sum_terms, v) for name, v in sum_cols.items()]
    jobs += [(name, mean_terms, v) for name, v in mean_cols.items()]
    if w is not None:
        jobs.append(("weight", lambda v: (v,), w))
    # numpy's ufuncs, sort and bincount release the GIL: the terms are computed on the worker
    # threads while this thread sorts, then the per-cell totals are spread over the workers
    workers = _WORKERS if n >= _THREADED_ROWS else 1
    with ThreadPoolExecutor(workers) as pool:
        terms = [pool.submit(fn, v) for _, fn, v in jobs]
        order, starts = _sorted_runs(c)
        m = starts.size
        codes = np.empty(n, dtype=np.intp)  # group number of each row, in row order
        codes[order] = np.repeat(np.arange(m, dtype=np.intp), np.diff(starts, append=n))
        totals = [
            [pool.submit(np.bincount, codes, t, m) for t in future.result()] for future in terms
        ]
        del terms  # each term array is freed once its total is done
        out: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]] = {}
        for (name, fn, _), parts in zip(jobs, totals, strict=True):
            if fn is mean_terms:
                num, den = parts[0].result(), parts[1].result()
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = num / den
                mean[den == 0] = np.nan
                out[name] = mean
            else:
                out[name] = parts[0].result()
    out["count"] = np.diff(starts, append=n).astype(np.int64)
    return c[order[starts]], out


def _sorted_runs(c: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows sorted by cell (stable) and where each run of one cell starts in that order.

    The fast path sorts one ``uint64`` array: the cell bits that vary (shifted down past the
    trailing bits all cells share, e.g. the unused digits of same-resolution cells) packed above
    the row number, so the sort carries the permutation with it and is stable. Cells too varied
    for that (mixed resolutions over the globe, or more than 2**32 rows) fall back to a stable
    argsort.
    """
    n = c.size
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    row_bits = max((n - 1).bit_length(), 1)
    lo = c.min()
    varying = int(np.bitwise_or.reduce(c ^ c[0]))
    shift = (varying & -varying).bit_length() - 1 if varying else 0
    if (int(c.max() - lo) >> shift).bit_length() + row_bits <= 64:
        key = np.subtract(c, lo)
        key >>= np.uint64(shift)
        key <<= np.uint64(row_bits)
        key |= np.arange(n, dtype=np.uint64)
        key.sort()
        order = (key & np.uint64((1 << row_bits) - 1)).view(np.int64).astype(np.intp, copy=False)
        key >>= np.uint64(row_bits)
    else:
        order = np.argsort(c, kind="stable")
        key = c[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    return order, np.flatnonzero(first)


def _columns(
    cols: Mapping[str, npt.ArrayLike], n: int, what: str
) -> dict[str, npt.NDArray[np.float64]]:
    out = {}
    for name, values in cols.items():
        v = np.ascontiguousarray(values, dtype=np.float64).ravel()
        if v.size != n:
            raise ValueError(f"{what}[{name!r}] has {v.size} values for {n} cells")
        out[name] = v
    return out


def _check_names(sum_cols: Mapping[str, object], mean_cols: Mapping[str, object]) -> None:
    both = set(sum_cols) & set(mean_cols)
    if both:
        raise ValueError(f"columns {sorted(both)} are both summed and averaged")
    reserved = (set(sum_cols) | set(mean_cols)) & set(_RESERVED)
    if reserved:
        raise ValueError(f"column names {sorted(reserved)} are reserved for the output")


def _weights(weights: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
    w = np.ascontiguousarray(weights, dtype=np.float64).ravel()
    if w.size != n:
        raise ValueError(f"weights has {w.size} values for {n} cells")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"weights must be finite and >= 0; row {i} has {w[i]!r}")
    return w
