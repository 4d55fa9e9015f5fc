"""Raster -> H3 cells at resolution 8: ours vs h3ronpy's raster converter and a per-pixel baseline.

Inputs: the shipped WorldPop 1 km grid of Vietnam (area mode: pixels ~ cells) and a synthetic
100 m population grid (centre mode) made from it: each 1 km pixel split into 10 x 10 pixels with
random weights that keep its sum (the national input's population grid, written by
``geodata.sample.population``), written once as a tiled LZW GeoTIFF under ``.cache/bench/``
(git-ignored): a 3,000 x 3,000 px sub-extent (Red River delta) and the whole country
(17,810 x 8,790 px).

Engines, all reading the file inside the timed region:

* ours: ``raster_to_cells`` (strips, any CRS, conserving sums);
* per-pixel baseline: whole band read at once, pixel centres -> h3ronpy ``coordinates_to_cells``
  -> polars group-by sum (the same sum as centre mode, without strips or CRS handling);
* h3ronpy ``raster_to_dataframe`` (the library's raster converter, threaded): it gives each cell
  the value of the pixel under its centre, a sample, not a sum, so its total differs; shown as the
  library reference, with its total error printed, and no ratio (different work).

Ratios compare only engines doing the same work: area mode has none (no library spreads pixels
over cells by area), so it prints no ratio; centre mode is compared with the per-pixel baseline.

Run: ``.venv/bin/python -m bench bench_raster`` (add ``BENCH_RASTER_FULL=0`` to skip the
national 100 m grid).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import rasterio
from h3ronpy.raster import raster_to_dataframe
from h3ronpy.vector import coordinates_to_cells
from rasterio.windows import Window

from bench.report import best_time, report
from geodata.kernels.raster import raster_to_cells
from geodata.reference import population_raster_path
from geodata.sample.generate import DEFAULT_SEED
from geodata.sample.population import write_fine_population

__all__ = ["main", "make_100m_grid"]

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench"
RES = 8


def make_100m_grid(
    path: Path, row0: int = 0, col0: int = 0, rows: int | None = None, cols: int | None = None
) -> Path:
    """Write a 100 m (1/10 of WorldPop's pixel) grid over WorldPop rows/cols, keeping block sums.

    ``rows``/``cols`` count source (1 km) pixels; ``None``: to the edge. The national input's
    generator (:func:`geodata.sample.population.write_fine_population`) writes it in strips, so
    the national grid never sits whole in memory. Deterministic (seeded); cached at ``path``.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(population_raster_path()) as src:
        rows = rows or src.height - row0
        cols = cols or src.width - col0
    tmp = path.with_suffix(".part.tif")
    write_fine_population(tmp, split=10, seed=DEFAULT_SEED, window=Window(col0, row0, cols, rows))
    tmp.rename(path)
    return path


def _read(path: Path) -> tuple[npt.NDArray[np.float32], rasterio.Affine, float]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.nodata


def _per_pixel(path: Path) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    a, t, nodata = _read(path)
    r, c = np.nonzero(a != nodata)
    lng = t.c + (c + 0.5) * t.a
    lat = t.f + (r + 0.5) * t.e
    cells = np.asarray(coordinates_to_cells(lat, lng, RES))
    df = (
        pl.DataFrame({"cell": cells, "value": a[r, c].astype(np.float64)})
        .group_by("cell")
        .agg(pl.col("value").sum())
        .sort("cell")
    )
    return df["cell"].to_numpy(), df["value"].to_numpy()


def _h3ronpy(path: Path) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    a, t, nodata = _read(path)
    tbl = raster_to_dataframe(a, t, RES, nodata_value=nodata, compact=False)
    return np.asarray(tbl.column("cell")), np.asarray(tbl.column("value"), dtype=np.float64)


def _once(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _bench(label: str, path: Path, mode: str, repeat: int = 3) -> None:
    """Time every engine on ``path``; ``repeat=0``: one timed call each, no warm-up (national)."""
    with rasterio.open(path) as src:
        a = src.read(1)
        n_valid = int((a != src.nodata).sum())
        total = float(a[a != src.nodata].astype(np.float64).sum())
        shape = a.shape
        del a
    engines: dict[str, Callable[[], Any]] = {
        f"ours raster_to_cells ({mode})": lambda: raster_to_cells(path, RES, mode=mode),  # type: ignore[arg-type]
        "per-pixel (h3ronpy cells + polars)": lambda: _per_pixel(path),
        "h3ronpy raster_to_dataframe": lambda: _h3ronpy(path),
    }
    if mode == "area":  # the same work as the per-pixel baseline, for scale
        engines["ours raster_to_cells (centre)"] = lambda: raster_to_cells(path, RES, mode="centre")
    timings, results = {}, {}
    for name, fn in engines.items():
        sec, results[name] = _once(fn)
        timings[name] = best_time(fn, repeat) if repeat else sec
    print(f"\n{label}: {shape[0]:,} x {shape[1]:,} px, {n_valid:,} valid, total {total:,.0f}")
    for name, out in results.items():
        cells, values = out[0], out[1]
        err = (values.sum() - total) / total
        print(f"  {name:<36} {cells.size:>10,} cells   total error {err:+.2e}")
    ours = next(iter(engines))
    sample = "different work (samples one pixel per cell)"
    if mode == "area":
        # no library spreads pixels over cells by area: no ratio; the others for scale only
        centre = "different work (centre mode, no area spreading)"
        different = {
            "per-pixel (h3ronpy cells + polars)": (
                timings["per-pixel (h3ronpy cells + polars)"],
                centre,
            ),
            "h3ronpy raster_to_dataframe": (timings["h3ronpy raster_to_dataframe"], sample),
            "ours raster_to_cells (centre)": (timings["ours raster_to_cells (centre)"], centre),
        }
        report(
            f"raster -> cells res {RES}, {label}",
            n_valid,
            "px",
            ours,
            {ours: timings[ours]},
            different,
            no_alternative="no library spreads by area",
        )
        ours = "ours raster_to_cells (centre)"
        label = f"(centre mode) {label}"
    # centre mode does the per-pixel baseline's work: compare like with like
    same = {k: timings[k] for k in (ours, "per-pixel (h3ronpy cells + polars)")}
    different = {"h3ronpy raster_to_dataframe": (timings["h3ronpy raster_to_dataframe"], sample)}
    report(f"raster -> cells res {RES}, {label}", n_valid, "px", ours, same, different)


def main() -> None:
    _bench("WorldPop 1 km (shipped)", population_raster_path(), "area")
    t0 = time.perf_counter()
    sub = make_100m_grid(
        CACHE / "vn_pop_100m_delta_3000.tif", row0=250, col0=400, rows=300, cols=300
    )
    print(f"\n(100 m sub-extent ready in {time.perf_counter() - t0:.1f} s: {sub})")
    _bench("synthetic 100 m, 3,000 x 3,000 px", sub, "centre")
    if os.environ.get("BENCH_RASTER_FULL", "1") != "0":
        t0 = time.perf_counter()
        full = make_100m_grid(CACHE / "vn_pop_100m_national.tif")
        print(f"\n(100 m national grid ready in {time.perf_counter() - t0:.1f} s: {full})")
        _bench("synthetic 100 m national", full, "centre", repeat=0)


if __name__ == "__main__":
    main()
