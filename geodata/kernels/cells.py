"""Thin array adapters over the vectorised H3 engine (h3ronpy, built on h3o, a Rust port of H3 v4).

One implementation per operation, uint64 numpy arrays in and out; 0 marks an invalid cell.
Everything else in ``geodata.kernels`` goes through these functions, so the engine is chosen in one
place (see ``bench/bench_points.py`` for the measurements behind the choice).

Examples
--------
>>> cells = latlng_to_cells(np.array([21.0285]), np.array([105.8542]), 8)
>>> int(cells_resolution(cells)[0])
8
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from h3ronpy import cells_area_km2 as _area_km2
from h3ronpy import cells_to_string as _cells_to_string
from h3ronpy import change_resolution as _change_resolution
from h3ronpy import grid_disk as _grid_disk
from h3ronpy.vector import cells_to_coordinates as _cells_to_coordinates
from h3ronpy.vector import coordinates_to_cells as _coordinates_to_cells

__all__ = [
    "CellArray",
    "latlng_to_cells",
    "cells_to_latlng",
    "cells_resolution",
    "cells_valid",
    "cell_to_parent",
    "grid_disk",
    "cell_area_km2",
    "cells_to_strings",
]

CellArray = npt.NDArray[np.uint64]

_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT
_MODE_SHIFT = np.uint64(59)


def _u64(cells: npt.ArrayLike) -> CellArray:
    return np.ascontiguousarray(cells, dtype=np.uint64)


def latlng_to_cells(lat: npt.ArrayLike, lng: npt.ArrayLike, res: int) -> CellArray:
    """H3 cell of each point at resolution ``res`` (degrees in). Non-finite points give 0.

    Large inputs are split over one thread per core (the engine releases the GIL here).
    """
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    lng_a = np.ascontiguousarray(lng, dtype=np.float64)
    ok = np.isfinite(lat_a) & np.isfinite(lng_a)
    if ok.all():
        return _coordinates_to_cells_threaded(lat_a.ravel(), lng_a.ravel(), int(res)).reshape(
            lat_a.shape
        )
    out = np.zeros(lat_a.shape, dtype=np.uint64)
    if ok.any():
        out[ok] = _coordinates_to_cells_threaded(lat_a[ok], lng_a[ok], int(res))
    return out


#: Below this many points one call is cheaper than handing chunks to threads.
_THREAD_MIN_POINTS = 200_000


@cache
def _thread_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="h3cells")


def _coordinates_to_cells_threaded(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64], res: int
) -> CellArray:
    n = lat.size
    workers = min(os.cpu_count() or 1, max(1, n // _THREAD_MIN_POINTS))
    if workers == 1:
        return np.asarray(_coordinates_to_cells(lat, lng, res)).astype(np.uint64, copy=False)
    out = np.empty(n, dtype=np.uint64)
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)

    def run(i: int) -> None:
        lo, hi = bounds[i], bounds[i + 1]
        out[lo:hi] = np.asarray(_coordinates_to_cells(lat[lo:hi], lng[lo:hi], res))

    list(_thread_pool().map(run, range(workers)))
    return out


def cells_to_latlng(
    cells: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Centre ``(lat, lng)`` in degrees of each cell."""
    c = _u64(cells)
    if c.size == 0:
        return np.zeros(0), np.zeros(0)
    table = _cells_to_coordinates(pa.array(c, type=pa.uint64()))
    tbl = pa.table(table)
    return (
        tbl.column("lat").to_numpy().astype(np.float64),
        tbl.column("lng").to_numpy().astype(np.float64),
    )


def cells_resolution(cells: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Resolution of each cell, read from the index bits."""
    c = _u64(cells)
    return ((c & _RES_MASK) >> _RES_SHIFT).astype(np.int8)


def cells_valid(cells: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where the value is a valid H3 cell index (mode 1, checked by the H3 library)."""
    c = _u64(cells)
    ok = (c >> _MODE_SHIFT) & np.uint64(0xF) == np.uint64(1)
    if ok.any():
        from h3ronpy import cells_valid as _valid

        ok[ok] = np.asarray(_valid(pa.array(c[ok], type=pa.uint64()), booleanarray=True))
    return ok


def cell_to_parent(cells: npt.ArrayLike, res: int) -> CellArray:
    """Parent of each cell at the coarser resolution ``res`` (bit arithmetic, no library call).

    Cells already at ``res`` are returned unchanged; cells coarser than ``res`` raise.
    0 stays 0.
    """
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    res = int(res)
    c = _u64(cells)
    r = cells_resolution(c)
    live = c != 0
    if np.any(r[live] < res):
        raise ValueError(f"cannot take a parent at resolution {res} of a coarser cell")
    out = (c & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT)
    # digits res+1..15 are set to 7 (unused); digit k sits at bits 3*(15-k)
    unused = np.uint64((1 << (3 * (15 - res))) - 1)
    out |= unused
    return np.where(live, out, np.uint64(0))


def grid_disk(cells: npt.ArrayLike, k: int) -> tuple[CellArray, npt.NDArray[np.int64]]:
    """All cells within grid distance ``k`` of each cell.

    Returns ``(disk_cells, origin_index)``: flat arrays where ``origin_index[i]`` is the position in
    ``cells`` of the origin of ``disk_cells[i]``.
    """
    c = _u64(cells)
    if c.size == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    lists = _grid_disk(pa.array(c, type=pa.uint64()), int(k))
    arr = pa.array(lists)
    offsets = arr.offsets.to_numpy()
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
    origin = np.repeat(np.arange(c.size, dtype=np.int64), np.diff(offsets))
    return flat, origin


def cell_area_km2(cells: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Exact area of each cell in km^2."""
    c = _u64(cells)
    if c.size == 0:
        return np.zeros(0)
    return pa.array(_area_km2(pa.array(c, type=pa.uint64()))).to_numpy(zero_copy_only=False)


def cells_to_strings(cells: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """H3 hex string of each cell (``"8865b20801fffff"``); ``None`` where the cell is 0."""
    c = _u64(cells)
    strings = _cells_to_string(pa.array(c, type=pa.uint64(), mask=c == 0))
    return pa.array(strings).to_numpy(zero_copy_only=False)


def change_resolution(cells: npt.ArrayLike, res: int) -> CellArray:  # pragma: no cover - alias
    """Alias of :func:`cell_to_parent` via the library (for the benchmark)."""
    return np.asarray(_change_resolution(pa.array(_u64(cells), type=pa.uint64()), int(res))).astype(
        np.uint64
    )
