"""GeoTIFF checks without reading every pixel: CRS, readability, extent over Vietnam, some data.

Coverage rasters (per operator and technology) and population grids arrive in any CRS; a raster
is accepted when it has a CRS, its first and last blocks can be read (a truncated file fails
there), its footprint overlaps Vietnam, and at least one pixel is not nodata. The pixels are
read later, in windows, by the kernels.

Examples
--------
>>> from geodata.reference import population_raster_path
>>> info = open_raster(population_raster_path())
>>> info.crs, info.bounds[0] < 105 < info.bounds[2]
('EPSG:4326', True)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geodata.errors import CorruptFileError, CRSError, EmptyFileError, InputError
from geodata.provenance import sha256_file
from geodata.readers.ookla import VIETNAM_BBOX
from geodata.readers.tabular import SAMPLE_KEY, is_sample_key, is_sample_marker

__all__ = [
    "RasterInfo",
    "SAMPLE_TAG",
    "check_single_band",
    "open_raster",
    "iter_windows",
    "raster_valid_fraction",
]

#: GeoTIFF tag (default namespace) marking synthetic sample data: ``GAP_MONITOR_SAMPLE=true``.
SAMPLE_TAG = SAMPLE_KEY.upper()
_DEFAULT_ROWS = 1024


@dataclass(frozen=True)
class RasterInfo:
    """What a checked raster is, without its pixels.

    Attributes
    ----------
    path : the file
    crs : ``"EPSG:nnnn"`` when the CRS has an EPSG code, else its WKT
    width, height, count : pixels per row, rows, bands
    transform : affine pixel-to-CRS transform
    nodata : nodata value of band 1 (None when unset: every pixel counts as data)
    dtype : numpy dtype name of band 1
    res : pixel size ``(x, y)`` in CRS units
    bounds : footprint ``(west, south, east, north)`` in EPSG:4326 degrees
    sha256 : hex sha256 of the file bytes
    sample : the ``GAP_MONITOR_SAMPLE`` tag says synthetic sample data
    tags : the dataset's default-namespace tags (e.g. ``TECHNOLOGY``)
    """

    path: str
    crs: str
    width: int
    height: int
    count: int
    transform: Affine
    nodata: float | None
    dtype: str
    res: tuple[float, float]
    bounds: tuple[float, float, float, float]
    sha256: str
    sample: bool
    tags: dict[str, str] = field(default_factory=dict)


def check_single_band(path: str | PathLike[str], holds: str) -> None:
    """Reject a raster with more than one band: which of them holds ``holds`` would be a guess.

    Raises
    ------
    InputError
        Two or more bands, naming them and how to extract one (``gdal_translate -b``).
    """
    try:
        with rasterio.open(path) as ds:
            count, names = ds.count, ds.descriptions
    except Exception:  # unreadable: the reader that follows names the cause
        return
    if count > 1:
        listed = ", ".join(f"{i} ({d})" if d else str(i) for i, d in enumerate(names, start=1))
        raise InputError(
            path,
            f"raster has {count} bands ({listed}); one band of {holds} is expected. Extract "
            f"the right one: gdal_translate -b 1 {path} single_band.tif",
        )


def open_raster(
    path: str | PathLike[str],
    *,
    bbox: tuple[float, float, float, float] | None = VIETNAM_BBOX,
    require_data: bool = True,
    single_band: str | None = None,
) -> RasterInfo:
    """Check a GeoTIFF and describe it.

    Parameters
    ----------
    path : the raster
    bbox : ``(west, south, east, north)`` in degrees that the footprint must overlap; None
        disables the check
    require_data : scan row strips (from the middle outwards, stopping at the first valid
        pixel) and reject a raster where every pixel is nodata
    single_band : what the one band holds (``"coverage (0/1)"``): a raster with more bands is
        rejected (:func:`check_single_band`); None reads band 1 of any raster

    Raises
    ------
    CorruptFileError
        Not a raster, or truncated (the first or last block, or a scanned strip, cannot be read).
    CRSError
        No CRS, or one that cannot be transformed to EPSG:4326.
    InputError
        The footprint does not overlap ``bbox`` (often a wrong CRS or swapped axes).
    EmptyFileError
        Every pixel is nodata (``require_data``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    if single_band is not None:
        check_single_band(path, single_band)
    sha = sha256_file(path)
    try:
        ds = rasterio.open(path)
    except Exception as exc:  # rasterio/GDAL: RasterioIOError and CPLE_* errors
        raise CorruptFileError(path, f"not a readable raster ({exc})") from exc
    with ds:
        if ds.crs is None:
            raise CRSError(
                path,
                "raster has no coordinate reference system; set one "
                "(e.g. gdal_edit.py -a_srs EPSG:4326 file.tif)",
            )
        _probe_blocks(path, ds)
        try:
            west, south, east, north = transform_bounds(
                ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21
            )
        except Exception as exc:
            raise CRSError(path, f"cannot transform {ds.crs} to EPSG:4326 ({exc})") from exc
        if not all(np.isfinite([west, south, east, north])):
            raise CRSError(path, f"footprint in {ds.crs} does not transform to EPSG:4326")
        if bbox is not None:
            bw, bs, be, bn = bbox
            if west > be or east < bw or south > bn or north < bs:
                raise InputError(
                    path,
                    f"raster footprint (lon {west:.3f}..{east:.3f}, lat {south:.3f}..{north:.3f}) "
                    f"does not overlap Vietnam (lon {bw}..{be}, lat {bs}..{bn}); check its CRS",
                )
        if require_data and not _has_data(path, ds):
            raise EmptyFileError(path, "every pixel of band 1 is nodata")
        tags = {str(k): str(v) for k, v in ds.tags().items()}
        epsg = ds.crs.to_epsg()
        return RasterInfo(
            path=str(path),
            crs=f"EPSG:{epsg}" if epsg else ds.crs.to_wkt(),
            width=ds.width,
            height=ds.height,
            count=ds.count,
            transform=ds.transform,
            nodata=None if ds.nodata is None else float(ds.nodata),
            dtype=str(ds.dtypes[0]),
            res=(float(ds.res[0]), float(ds.res[1])),
            bounds=(float(west), float(south), float(east), float(north)),
            sha256=sha,
            sample=any(is_sample_key(k) and is_sample_marker(v) for k, v in tags.items()),
            tags=tags,
        )


def iter_windows(
    path: str | PathLike[str], max_rows: int = _DEFAULT_ROWS, *, band: int = 1
) -> Iterator[tuple[Window, np.ma.MaskedArray]]:
    """Yield full-width row strips ``(window, masked array)`` of one band, top to bottom.

    Nodata (and NaN) pixels are masked. Strips are at most ``max_rows`` rows, so memory stays at
    ``max_rows * width`` pixels whatever the raster size.

    Raises
    ------
    CorruptFileError
        The file cannot be opened or a strip cannot be read.
    """
    path = Path(path)
    try:
        ds = rasterio.open(path)
    except Exception as exc:
        raise CorruptFileError(path, f"not a readable raster ({exc})") from exc
    with ds:
        for row in range(0, ds.height, max_rows):
            window = Window(0, row, ds.width, min(max_rows, ds.height - row))
            yield window, _read_masked(path, ds, window, band)


def raster_valid_fraction(
    path: str | PathLike[str], max_windows: int | None = None, *, max_rows: int = _DEFAULT_ROWS
) -> float:
    """Share of band-1 pixels that are not nodata.

    Exact when ``max_windows`` is None (every strip is read, one at a time); otherwise an
    estimate from ``max_windows`` strips spread evenly over the raster.

    >>> from geodata.reference import population_raster_path
    >>> 0 < raster_valid_fraction(population_raster_path(), max_windows=4) < 1
    True
    """
    path = Path(path)
    try:
        ds = rasterio.open(path)
    except Exception as exc:
        raise CorruptFileError(path, f"not a readable raster ({exc})") from exc
    with ds:
        starts = np.arange(0, ds.height, max_rows)
        if max_windows is not None and max_windows < len(starts):
            pick = np.linspace(0, len(starts) - 1, max(max_windows, 1)).round().astype(int)
            starts = starts[np.unique(pick)]
        valid = total = 0
        for row in starts.tolist():  # one strip at a time
            window = Window(0, row, ds.width, min(max_rows, ds.height - row))
            arr = _read_masked(path, ds, window, 1)
            valid += int(arr.count())
            total += int(arr.size)
    return valid / total if total else 0.0


def _read_masked(path: Path, ds: Any, window: Window, band: int) -> np.ma.MaskedArray:
    try:
        arr = ds.read(band, window=window, masked=True)
    except Exception as exc:
        raise CorruptFileError(
            path,
            f"pixels at rows {window.row_off}..{window.row_off + window.height - 1} "
            f"cannot be read; the file may be truncated ({exc})",
        ) from exc
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.ma.masked_invalid(arr, copy=False)
    return arr


def _probe_blocks(path: Path, ds: Any) -> None:
    """Read the first and the last block of every band: a truncated file fails here."""
    bh, bw = ds.block_shapes[0]
    last_row = (ds.height - 1) // bh
    last_col = (ds.width - 1) // bw
    for band in range(1, ds.count + 1):
        for r, c in ((0, 0), (last_row, last_col)):
            window = Window(c * bw, r * bh, min(bw, ds.width - c * bw), min(bh, ds.height - r * bh))
            _read_masked(path, ds, window, band)


def _has_data(path: Path, ds: Any, max_rows: int = _DEFAULT_ROWS) -> bool:
    """Scan strips from the middle outwards and stop at the first valid pixel."""
    starts = np.arange(0, ds.height, max_rows)
    order = starts[np.argsort(np.abs(starts - ds.height // 2), kind="stable")]
    for row in order.tolist():  # stops early on any raster with data
        window = Window(0, row, ds.width, min(max_rows, ds.height - row))
        if _read_masked(path, ds, window, 1).count():
            return True
    return False
