"""Points to cells, quadkey tiles to cells, and cell parents: ours vs h3ronpy, polars-h3, h3-py.

Run: ``.venv/bin/python -m bench bench_points``. Random points over Vietnam's bounding box, H3
resolution 8. The h3-py scalar loop is timed on 100,000 items and extrapolated (labelled so).
Every engine's output is checked against ours before timing.
"""

from __future__ import annotations

import time

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
import polars as pl
from h3ronpy.vector import coordinates_to_cells

from bench.report import best_time, report
from geodata.kernels.cells import cell_to_parent, change_resolution, latlng_to_cells
from geodata.kernels.tiles import tiles_to_cells
from geodata.quadkeys import tile_centroids, tile_to_quadkey

__all__ = ["main"]

RES = 8
PARENT_RES = 5
_SCALAR_N = 100_000


def _points(n: int, seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return rng.uniform(8.0, 24.0, n), rng.uniform(102.0, 110.0, n)


def _scalar_seconds(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds for ``n`` items, extrapolated from one timed run over ``_SCALAR_N`` items."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * n / _SCALAR_N


def _polars_h3():  # type: ignore[no-untyped-def]
    try:
        import polars_h3

        return polars_h3
    except ImportError as exc:  # bench extra not installed
        print(f"polars-h3 not available: {exc}")
        return None


def _check(name: str, ours: npt.NDArray[np.uint64], other: npt.ArrayLike) -> None:
    if not np.array_equal(ours, np.asarray(other, dtype=np.uint64)):
        raise AssertionError(f"{name} disagrees with ours")


def _bench_latlng(n: int, plh3) -> None:  # type: ignore[no-untyped-def]
    lat, lng = _points(n)
    ours = latlng_to_cells(lat, lng, RES)
    engines = {
        "h3ronpy coordinates_to_cells": lambda: np.asarray(coordinates_to_cells(lat, lng, RES)),
    }
    if plh3 is not None:
        frame = pl.DataFrame({"lat": lat, "lng": lng})
        engines["polars-h3 latlng_to_cell"] = lambda: (
            frame.select(plh3.latlng_to_cell("lat", "lng", RES)).to_series().to_numpy()
        )
    for name, fn in engines.items():
        _check(name, ours, fn())
    timings = {"ours latlng_to_cells": best_time(lambda: latlng_to_cells(lat, lng, RES))}
    timings |= {name: best_time(fn) for name, fn in engines.items()}
    la, ln = lat[:_SCALAR_N].tolist(), lng[:_SCALAR_N].tolist()
    scalar = [h3.latlng_to_cell(a, b, RES) for a, b in zip(la, ln, strict=True)]
    _check("h3-py", ours[:_SCALAR_N], scalar)
    timings["h3-py loop (1e5, extrapolated)"] = _scalar_seconds(
        lambda: [h3.latlng_to_cell(a, b, RES) for a, b in zip(la, ln, strict=True)], n
    )
    report(f"points -> cells (res {RES})", n, "points", "ours latlng_to_cells", timings)


def _decode_z16_bytes(keys: npt.NDArray[np.str_]) -> tuple[npt.NDArray, npt.NDArray]:
    """Zoom-16 quadkeys decoded from their bytes with ``np.packbits`` (a faster decode idea)."""
    digits = np.asarray(keys, dtype="S16").view(np.uint8).reshape(-1, 16) - ord("0")
    x = np.packbits(digits & 1, axis=1).view(">u2").ravel().astype(np.int64)
    y = np.packbits(digits >> 1, axis=1).view(">u2").ravel().astype(np.int64)
    return x, y


def _bench_tiles(n: int) -> None:
    rng = np.random.default_rng(1)
    keys = tile_to_quadkey(rng.integers(50_000, 53_500, n), rng.integers(27_500, 31_500, n), 16)
    ours = tiles_to_cells(keys, RES)

    def packbits_decode() -> npt.NDArray[np.uint64]:
        x, y = _decode_z16_bytes(keys)
        lat, lng = tile_centroids(x, y, 16)
        return latlng_to_cells(lat, lng, RES)

    _check("packbits decode", ours, packbits_decode())

    def scalar_loop() -> list[int]:
        out = []
        for key in keys[:_SCALAR_N].tolist():
            x = y = 0
            for ch in key:
                d = ord(ch) - 48
                x, y = (x << 1) | (d & 1), (y << 1) | (d >> 1)
            lat, lng = tile_centroids(x, y, 16)
            out.append(h3.latlng_to_cell(float(lat), float(lng), RES))
        return out

    _check("scalar loop", ours[:_SCALAR_N], scalar_loop())
    timings = {
        "ours tiles_to_cells": best_time(lambda: tiles_to_cells(keys, RES)),
        "packbits z16 decode + ours latlng": best_time(packbits_decode),
        "python decode + h3-py (1e5, extrap.)": _scalar_seconds(scalar_loop, n),
    }
    report(f"zoom-16 quadkeys -> cells (res {RES})", n, "tiles", "ours tiles_to_cells", timings)


def _bench_parent(n: int, plh3) -> None:  # type: ignore[no-untyped-def]
    lat, lng = _points(n, seed=2)
    cells = latlng_to_cells(lat, lng, RES)
    ours = cell_to_parent(cells, PARENT_RES)
    engines = {"h3ronpy change_resolution": lambda: change_resolution(cells, PARENT_RES)}
    if plh3 is not None:
        frame = pl.DataFrame({"cell": cells})
        engines["polars-h3 cell_to_parent"] = lambda: (
            frame.select(plh3.cell_to_parent("cell", PARENT_RES)).to_series().to_numpy()
        )
    for name, fn in engines.items():
        _check(name, ours, fn())
    timings = {
        "ours cell_to_parent (bit ops)": best_time(lambda: cell_to_parent(cells, PARENT_RES))
    }
    timings |= {name: best_time(fn) for name, fn in engines.items()}
    sub = cells[:_SCALAR_N].tolist()
    timings["h3-py loop (1e5, extrapolated)"] = _scalar_seconds(
        lambda: [h3.cell_to_parent(c, PARENT_RES) for c in sub], n
    )
    report(
        f"cell_to_parent (res {RES} -> {PARENT_RES})",
        n,
        "cells",
        "ours cell_to_parent (bit ops)",
        timings,
    )


def main() -> None:
    plh3 = _polars_h3()
    for n in (1_000_000, 10_000_000):
        _bench_latlng(n, plh3)
    _bench_tiles(1_000_000)
    _bench_parent(10_000_000, plh3)


if __name__ == "__main__":
    main()
