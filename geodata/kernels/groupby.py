"""Aggregate rows to their H3 cell: sums, weighted means, weight totals and row counts.

The kernel is a polars hash group-by over precomputed terms (value x weight and the weight of the
non-NaN rows, so each mean is a ratio of two sums), sorted by cell at the end. On the 2-core
reference machine it is the fastest engine measured by ``bench/bench_groupby.py`` at 10 million
rows (numpy ``unique`` + ``bincount``, a packed-key numpy sort + ``bincount``, pandas, DuckDB).

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
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["group_by_cell"]

_NO_COLUMNS: Mapping[str, npt.ArrayLike] = MappingProxyType({})
_RESERVED = ("weight", "count")


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

    # internal column names: user names may be anything
    frame = {"cell": pl.Series(c, dtype=pl.UInt64)}
    if w is not None:
        frame["w"] = pl.Series(w)
    frame |= {f"s{i}": pl.Series(v) for i, v in enumerate(sum_cols.values())}
    frame |= {f"m{i}": pl.Series(v) for i, v in enumerate(mean_cols.values())}
    weight = pl.lit(1.0) if w is None else pl.col("w")
    terms = [pl.col(f"s{i}").fill_nan(0.0) for i in range(len(sum_cols))]
    for i in range(len(mean_cols)):
        v = pl.col(f"m{i}")
        missing = v.is_nan()
        terms.append(pl.when(missing).then(0.0).otherwise(v * weight).alias(f"n{i}"))
        terms.append(pl.when(missing).then(0.0).otherwise(weight).alias(f"d{i}"))
    keep = ["cell"] + (["w"] if w is not None else [])
    table = (
        pl.DataFrame(frame)
        .lazy()
        .select(*keep, *terms)
        .group_by("cell")
        .agg(pl.all().sum(), pl.len().alias("_rows"))
        .sort("cell")
        .collect()
    )
    out: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]] = {}
    for i, name in enumerate(sum_cols):
        out[name] = table[f"s{i}"].to_numpy(writable=True)
    for i, name in enumerate(mean_cols):
        num, den = table[f"n{i}"].to_numpy(), table[f"d{i}"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = num / den
        mean[den == 0] = np.nan
        out[name] = mean
    if w is not None:
        out["weight"] = table["w"].to_numpy(writable=True)
    out["count"] = table["_rows"].to_numpy().astype(np.int64)
    return table["cell"].to_numpy(writable=True), out


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
