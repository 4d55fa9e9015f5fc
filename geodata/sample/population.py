"""A fine synthetic population grid made from the shipped WorldPop 1 km grid, conserving its sums.

Each 1 km (30 arc-second) pixel is split into ``split x split`` pixels (``split=10``: 3 arc-seconds,
about 100 m) with random gamma weights that keep the 1 km pixel's sum; nodata stays nodata. The
grid is written one strip of source rows at a time (about 4 M output pixels per strip), so the
national grid (17,810 x 8,790 px at ``split=10``) never sits whole in memory. Float32, tiled,
LZW-compressed (floating-point predictor). The values are SYNTHETIC (a made-up distribution inside
each real 1 km pixel); the 1 km totals are the real WorldPop ones within float32 rounding.

Examples
--------
>>> write_fine_population("/tmp/pop100.tif", split=10, seed=1)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from geodata.reference import population_raster_path

__all__ = ["write_fine_population", "fine_population_name"]

#: Output pixels per strip (bounds memory: a few float64 arrays of this size at once).
_STRIP_PIXELS = 1 << 22


def fine_population_name(split: int) -> str:
    """File name of the fine grid for a split factor, e.g. ``split=10`` -> 3 arc-seconds."""
    arcsec = 30.0 / split
    return f"synthetic_pop_{arcsec:.3g}arcsec_from_worldpop_2020_1km.tif"


def write_fine_population(
    path: str | os.PathLike[str],
    *,
    split: int,
    seed: int,
    window: Window | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, float]:
    """Write the split grid over ``window`` of the WorldPop grid (whole grid when None).

    Deterministic for equal arguments (seeded; no timestamp written). Returns ``{"pixels": ...,
    "valid_pixels": ..., "total": ..., "source_total": ...}`` (float64 sums of the valid pixels).
    """
    if int(split) < 1:
        raise ValueError(f"split must be >= 1, got {split}")
    k = int(split)
    rng = np.random.default_rng([int(seed), k])
    path = Path(path)
    total = source_total = 0.0
    valid_pixels = 0
    with rasterio.open(population_raster_path()) as src:
        win = window or Window(0, 0, src.width, src.height)
        row0, col0 = int(win.row_off), int(win.col_off)
        rows, cols = int(win.height), int(win.width)
        nodata = src.nodata
        t = src.transform
        profile = {
            "driver": "GTiff",
            "dtype": "float32",
            "count": 1,
            "height": rows * k,
            "width": cols * k,
            "crs": src.crs,
            "transform": Affine(t.a / k, 0.0, t.c + col0 * t.a, 0.0, t.e / k, t.f + row0 * t.e),
            "nodata": nodata,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "lzw",
            "predictor": 3,
        }
        strip = max(1, _STRIP_PIXELS // (cols * k * k))  # source rows per strip
        with rasterio.open(path, "w", **profile) as dst:
            for r in range(0, rows, strip):  # strips of rows: bounded memory
                n = min(strip, rows - r)
                a = src.read(1, window=Window(col0, row0 + r, cols, n)).astype(np.float64)
                bad = ~np.isfinite(a) | (a < 0)
                if nodata is not None:
                    bad |= a == nodata
                w = rng.gamma(2.0, 1.0, (n * k, cols * k))
                blocks = w.reshape(n, k, cols, k).sum(axis=(1, 3))
                up = np.repeat(np.repeat(np.where(bad, 0.0, a) / blocks, k, axis=0), k, axis=1)
                fine = (w * up).astype(np.float32)
                bad_up = np.repeat(np.repeat(bad, k, axis=0), k, axis=1)
                total += float(fine[~bad_up].astype(np.float64).sum())
                if nodata is not None:
                    fine[bad_up] = nodata
                dst.write(fine, 1, window=Window(0, r * k, cols * k, n * k))
                source_total += float(a[~bad].sum())
                valid_pixels += int((~bad).sum()) * k * k
            dst.update_tags(**(tags or {}))
            dst.set_band_description(1, "persons per pixel (synthetic split of WorldPop 1 km)")
    return {
        "pixels": float(rows * k * cols * k),
        "valid_pixels": float(valid_pixels),
        "total": total,
        "source_total": source_total,
    }
