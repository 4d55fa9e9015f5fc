"""Sum a quantity raster (persons per pixel, ...) into H3 cells, conserving its total exactly.

The raster is read one strip of rows at a time (block-aligned), so a national grid never sits
whole in memory. Pixel centres are transformed to WGS84 in one vectorised call per strip, so any
CRS works. Two ways to move a pixel's value into cells:

``"centre"``
    For pixels finer than cells: each pixel's value goes to the cell holding its centre.
``"area"``
    For pixels about as large as cells or coarser (the 1 km WorldPop grid at resolution 8, about
    0.74 km2): a pixel's value is spread over the cells whose *centres* it holds, in proportion to
    those cells' areas; a pixel holding no cell centre gives its value to the cell holding the
    pixel centre. Each cell centre lies in exactly one pixel, so nothing is counted twice, also
    across strips.
``"auto"``
    ``"area"`` when a pixel is larger than half a cell (pixel area > cell area / 2, both measured
    geodesically at the raster's centre and corners, median ratio), else ``"centre"``. Below that
    ratio most pixels would hold no cell centre and ``"area"`` degenerates into ``"centre"``.

Either way ``values.sum() == total`` (the float64 sum of the valid pixels) within float64 rounding.
Valid pixels are those not equal to nodata, not masked, and finite; valid pixels of value 0 still
give their cells (with value 0), so the cells cover every valid pixel.

Examples
--------
>>> from geodata.reference import population_raster_path
>>> rc = raster_to_cells(population_raster_path(), 8)
>>> rc.mode, round(rc.total)
('area', 97338583)
>>> bool(abs(rc.values.sum() - rc.total) < 1e-6 * rc.total)
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from os import PathLike
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl
import rasterio
from affine import Affine
from pyproj import Geod, Transformer
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from geodata.errors import CorruptFileError, CRSError, InputError
from geodata.kernels.cells import cell_area_km2, cells_to_latlng, grid_disk, latlng_to_cells

__all__ = ["RasterCells", "RasterMode", "raster_to_cells"]

RasterMode = Literal["auto", "centre", "area"]

#: Pixels per strip when ``window_rows`` is not given (rounded to whole blocks).
_STRIP_PIXELS = 1 << 22
#: Points per thread chunk: h3ronpy releases the GIL in its point <-> cell conversions.
_THREAD_CHUNK = 1 << 16
_GEOD = Geod(ellps="WGS84")
# H3 geometry bounds, measured on random cells worldwide at resolutions 5..10 (with margin):
# cells at grid distance j have centres at least _RING_FACTOR * j * e apart, and every vertex
# lies within _CIRCUM_FACTOR * e of its centre, e being the edge of the regular hexagon of the
# same area. (Measured minima 1.35 and maxima 1.11; planar regular hexagons give 1.5 and 1.)
_RING_FACTOR = 1.25
_CIRCUM_FACTOR = 1.2


class RasterCells(NamedTuple):
    """Result of :func:`raster_to_cells`.

    Attributes
    ----------
    cells : sorted unique H3 cells (uint64) holding at least one valid pixel's value
    values : float64 sum of the raster's value in each cell
    total : float64 sum of all valid pixels (``values.sum()`` equals it within rounding)
    n_valid_pixels : number of valid pixels (not nodata, not masked, finite)
    mode : the mode used, ``"centre"`` or ``"area"`` (``"auto"`` resolved)
    """

    cells: npt.NDArray[np.uint64]
    values: npt.NDArray[np.float64]
    total: float
    n_valid_pixels: int
    mode: Literal["centre", "area"]


def raster_to_cells(
    path_or_dataset: str | PathLike[str] | DatasetReader,
    res: int,
    *,
    band: int = 1,
    mode: RasterMode = "auto",
    window_rows: int | None = None,
    nonnegative: bool = False,
) -> RasterCells:
    """Sum one raster band into H3 cells at resolution ``res``, conserving the total.

    Parameters
    ----------
    path_or_dataset : a raster file path, or an open rasterio dataset (left open)
    res : H3 resolution 0..15
    band : 1-based band index
    mode : ``"centre"``, ``"area"`` or ``"auto"`` (see the module docstring)
    window_rows : rows per strip; default: whole blocks, about 4 M pixels per strip
    nonnegative : the band holds counts (population): a negative value among the valid pixels
        (a sentinel such as -99999 with no nodata tag) rejects the raster, naming the value to
        declare as nodata, before anything is summed

    Returns
    -------
    RasterCells
        ``cells`` (sorted unique uint64), ``values`` (float64), ``total``, ``n_valid_pixels``,
        ``mode``.

    Raises
    ------
    CRSError
        The raster has no CRS, or valid pixels cannot be located in WGS84.
    CorruptFileError
        The file cannot be opened or read (truncated, not a raster).
    InputError
        ``nonnegative`` and a valid pixel is negative.
    """
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    if mode not in ("auto", "centre", "area"):
        raise ValueError(f"mode must be 'auto', 'centre' or 'area', got {mode!r}")
    if window_rows is not None and window_rows < 1:
        raise ValueError(f"window_rows must be >= 1, got {window_rows}")
    if isinstance(path_or_dataset, DatasetReader):
        return _raster_to_cells(
            path_or_dataset, path_or_dataset.name, int(res), band, mode, window_rows, nonnegative
        )
    path = path_or_dataset
    if "://" not in str(path) and not str(path).startswith("/vsi") and not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such raster file")
    try:
        src = rasterio.open(path)
    except (RasterioError, CPLE_BaseError) as exc:
        raise CorruptFileError(path, f"cannot open as a raster ({exc})") from exc
    with src:
        return _raster_to_cells(src, path, int(res), band, mode, window_rows, nonnegative)


def _negative_values_error(
    name: str | PathLike[str], src: DatasetReader, band: int, values: npt.NDArray[np.float64]
) -> InputError:
    bad = values[values < 0]
    uniq, counts = np.unique(bad, return_counts=True)
    common = float(uniq[int(np.argmax(counts))])
    text = f"{common:g}"
    nodata = src.nodatavals[band - 1]
    return InputError(
        name,
        f"band {band} holds negative values ({len(bad):,} pixels in the first strip that has "
        f"them, most often {text}; nodata is {'unset' if nodata is None else f'{nodata:g}'}): "
        f"a population count cannot be negative. If {text} marks missing data, declare it: "
        f"gdal_edit.py -a_nodata {text} {name}",
    )


def _raster_to_cells(
    src: DatasetReader,
    name: str | PathLike[str],
    res: int,
    band: int,
    mode: RasterMode,
    window_rows: int | None,
    nonnegative: bool = False,
) -> RasterCells:
    if src.crs is None:
        raise CRSError(name, "raster has no coordinate reference system")
    if not 1 <= band <= src.count:
        raise InputError(name, f"band {band} requested, the raster has bands 1..{src.count}")
    grid = _Grid(src)
    used: Literal["centre", "area"] = _auto_mode(grid, res) if mode == "auto" else mode
    rows = window_rows or _default_strip_rows(src, band)
    parts_c: list[npt.NDArray[np.uint64]] = []
    parts_v: list[npt.NDArray[np.float64]] = []
    total = 0.0
    n_valid = 0
    # GDAL's block cache (default: 5% of RAM) would keep every block read until the file is
    # closed, i.e. the whole decompressed raster up to that size; each block is read once here,
    # so a cache of two strips keeps memory flat however large the raster grows
    strip_mb = rows * src.width * np.dtype(src.dtypes[band - 1]).itemsize / 2**20
    with rasterio.Env(GDAL_CACHEMAX=max(32, math.ceil(2 * strip_mb))):
        for r0 in range(0, src.height, rows):
            nrows = min(rows, src.height - r0)
            try:
                data = src.read(band, window=Window(0, r0, src.width, nrows), masked=True)
            except (RasterioError, CPLE_BaseError) as exc:
                raise CorruptFileError(
                    name, f"cannot read rows {r0}..{r0 + nrows - 1} ({exc})"
                ) from exc
            valid = ~np.ma.getmaskarray(data) & np.isfinite(np.ma.getdata(data))
            if not valid.any():
                continue
            pr, pc = np.nonzero(valid)
            v = np.ma.getdata(data)[pr, pc].astype(np.float64)
            if nonnegative and v.min() < 0:
                raise _negative_values_error(name, src, band, v)
            lat, lng = grid.pixel_centres_wgs84(pr + r0, pc)
            if not (np.isfinite(lat).all() and np.isfinite(lng).all()):
                raise CRSError(
                    name, "valid pixels cannot be located in WGS84 (outside the CRS area)"
                )
            total += float(v.sum())
            n_valid += int(pr.size)
            cells = _in_threads(latlng_to_cells, lat, lng, res=res)
            if used == "area":
                cells, v = _spread_by_area(grid, res, r0, valid, pr, pc, v, cells)
            c, s = _group_sum(cells, v)
            parts_c.append(c)
            parts_v.append(s)
    if not parts_c:
        return RasterCells(np.zeros(0, np.uint64), np.zeros(0, np.float64), 0.0, 0, used)
    if len(parts_c) == 1:  # already grouped and sorted
        return RasterCells(parts_c[0], parts_v[0], total, n_valid, used)
    cells, values = _group_sum(np.concatenate(parts_c), np.concatenate(parts_v))
    return RasterCells(cells, values, total, n_valid, used)


class _Grid:
    """The raster's pixel grid: affine transform and CRS <-> WGS84 transformers."""

    def __init__(self, src: DatasetReader) -> None:
        self.transform: Affine = src.transform
        self.inverse: Affine = ~src.transform
        self.height: int = src.height
        self.width: int = src.width
        self.is_wgs84 = src.crs.to_epsg() == 4326
        if not self.is_wgs84:
            self._to_wgs = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
            self._from_wgs = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)

    def to_wgs84(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(lat, lng)`` of raster-CRS coordinates."""
        if self.is_wgs84:
            return y, x
        lng, lat = self._to_wgs.transform(x, y)
        return np.asarray(lat, np.float64), np.asarray(lng, np.float64)

    def pixel_centres_wgs84(
        self,
        rows: npt.NDArray[np.integer | np.floating],
        cols: npt.NDArray[np.integer | np.floating],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(lat, lng)`` of the centres of pixels ``(rows, cols)``."""
        return self.points_wgs84(rows + 0.5, cols + 0.5)

    def points_wgs84(
        self, rows: npt.ArrayLike, cols: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(lat, lng)`` of fractional pixel positions."""
        t = self.transform
        cf = np.asarray(cols, np.float64)
        rf = np.asarray(rows, np.float64)
        x = t.a * cf + t.b * rf + t.c
        y = t.d * cf + t.e * rf + t.f
        return self.to_wgs84(x, y)

    def locate(
        self, lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(row, col)`` of the pixel holding each WGS84 point (may be outside the raster)."""
        if self.is_wgs84:
            x, y = lng, lat
        else:
            x, y = self._from_wgs.transform(lng, lat)
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        inv = self.inverse
        colf = inv.a * x + inv.b * y + inv.c
        rowf = inv.d * x + inv.e * y + inv.f
        bad = ~(np.isfinite(colf) & np.isfinite(rowf))
        colf[bad] = -1.0
        rowf[bad] = -1.0
        return np.floor(rowf).astype(np.int64), np.floor(colf).astype(np.int64)

    def pixel_size_km(
        self, rows: npt.ArrayLike, cols: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Geodesic ``(half_diagonal_km, area_km2)`` of pixels ``(rows, cols)`` (a few samples)."""
        r = np.asarray(rows, np.float64)
        c = np.asarray(cols, np.float64)
        corners = [(r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c)]
        lat0, lng0 = self.points_wgs84(r + 0.5, c + 0.5)
        pts = [self.points_wgs84(rr, cc) for rr, cc in corners]
        half_diag = (
            np.max([_GEOD.inv(lng0, lat0, lng, lat)[2] for lat, lng in pts], axis=0) / 1000.0
        )

        def side(i: int, j: int) -> npt.NDArray[np.float64]:
            return np.asarray(_GEOD.inv(pts[i][1], pts[i][0], pts[j][1], pts[j][0])[2]) / 1000.0

        diag = side(0, 2)
        area = _heron(side(0, 1), side(1, 2), diag) + _heron(side(2, 3), side(3, 0), diag)
        return half_diag, area


def _heron(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], c: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    s = (a + b + c) / 2
    return np.sqrt(np.clip(s * (s - a) * (s - b) * (s - c), 0.0, None))


def _auto_mode(grid: _Grid, res: int) -> Literal["centre", "area"]:
    """``"area"`` when pixels are larger than half a cell (median over centre and corners)."""
    h, w = grid.height - 1, grid.width - 1
    rows = np.array([h / 2, 0, 0, h, h], dtype=np.float64).round()
    cols = np.array([w / 2, 0, w, 0, w], dtype=np.float64).round()
    _, pix_area = grid.pixel_size_km(rows, cols)
    lat, lng = grid.pixel_centres_wgs84(rows, cols)
    ok = np.isfinite(lat) & np.isfinite(lng) & np.isfinite(pix_area)
    if not ok.any():
        return "centre"
    cell_area = cell_area_km2(latlng_to_cells(lat[ok], lng[ok], res))
    return "area" if float(np.median(pix_area[ok] / cell_area)) > 0.5 else "centre"


def _default_strip_rows(src: DatasetReader, band: int) -> int:
    block_rows = max(1, src.block_shapes[band - 1][0])
    blocks = max(1, _STRIP_PIXELS // max(1, src.width * block_rows))
    return blocks * block_rows


def _disk_k(
    grid: _Grid,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    cells: npt.NDArray[np.uint64],
) -> int:
    """Grid distance reaching every cell whose centre may lie in one of the valid pixels.

    A cell centre inside pixel p is within ``D`` (p's half diagonal) of p's centre, which lies in
    cell h; so it is within ``D + circumradius`` of h's centre, and cells outside h's k-disk are
    farther than ``_RING_FACTOR * (k + 1) * e``. ``D`` is measured on 65 valid pixels spread over
    the strip (row-major, so the first and last rows are in), ``e`` on 256 of the cells: both
    vary smoothly, and a 10 % margin covers the rest.
    """
    pick = np.unique(np.linspace(0, rows.size - 1, 65).astype(np.int64))
    half_diag, _ = grid.pixel_size_km(rows[pick], cols[pick])
    d = float(np.nanmax(half_diag)) * 1.1
    sample = cells[:: max(1, cells.size // 256)]
    edge = math.sqrt(2.0 * float(cell_area_km2(sample).min()) / (3.0 * math.sqrt(3.0)))
    return max(1, math.floor((d + _CIRCUM_FACTOR * edge) / (_RING_FACTOR * edge)))


def _spread_by_area(
    grid: _Grid,
    res: int,
    r0: int,
    valid: npt.NDArray[np.bool_],
    pr: npt.NDArray[np.int64],
    pc: npt.NDArray[np.int64],
    v: npt.NDArray[np.float64],
    centre_cells: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    """Spread each valid pixel of one strip over the cells whose centres it holds (by area)."""
    nrows, width = valid.shape
    origins = _unique(centre_cells)
    k = _disk_k(grid, pr + r0, pc, origins)
    disk, _ = grid_disk(origins, k)
    cand = _unique(disk)
    clat, clng = _in_threads(cells_to_latlng, cand)
    row, col = grid.locate(clat, clng)
    row -= r0
    keep = (row >= 0) & (row < nrows) & (col >= 0) & (col < width)
    keep[keep] = valid[row[keep], col[keep]]
    cand, row, col = cand[keep], row[keep], col[keep]
    pixel_id = np.full(valid.shape, -1, dtype=np.int64)
    pixel_id[pr, pc] = np.arange(pr.size)
    pid = pixel_id[row, col]
    count = np.bincount(pid, minlength=pr.size)
    # weights: 1 where a pixel holds one cell centre; area shares where it holds several
    share = np.ones(pid.size)
    shared = count[pid] > 1
    if shared.any():
        area = cell_area_km2(cand[shared])
        area_sum = np.bincount(pid[shared], weights=area, minlength=pr.size)
        share[shared] = area / area_sum[pid[shared]]
    spread = v[pid] * share
    orphan = count == 0
    return (
        np.concatenate([cand, centre_cells[orphan]]),
        np.concatenate([spread, v[orphan]]),
    )


def _in_threads(fn: Callable, *arrays: npt.NDArray, **kwargs: int):  # type: ignore[no-untyped-def]
    """``fn(*arrays, **kwargs)`` computed on chunks in threads (one per core), concatenated."""
    n = arrays[0].size
    workers = min(os.cpu_count() or 1, n // _THREAD_CHUNK)
    if workers < 2:
        return fn(*arrays, **kwargs)
    bounds = np.linspace(0, n, 2 * workers + 1).astype(np.int64)
    chunks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda s: fn(*(a[s] for a in arrays), **kwargs), chunks))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
    return np.concatenate(parts)


def _unique(a: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Sorted unique values (sort + neighbour test: faster than ``np.unique``'s hashing here)."""
    s = np.sort(a)
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _group_sum(
    cells: npt.NDArray[np.uint64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    """Sorted unique cells and the float64 sum of ``values`` in each (polars hash group-by)."""
    df = (
        pl.DataFrame(
            {"cell": cells, "value": values}, schema={"cell": pl.UInt64, "value": pl.Float64}
        )
        .group_by("cell")
        .agg(pl.col("value").sum())
        .sort("cell")
    )
    return df["cell"].to_numpy(), df["value"].to_numpy()
