"""Sample a categorical raster (coverage 0/1, signal dBm) at many points, in row strips.

Coverage rasters are categorical: a cell is covered when the pixel under its centre is covered.
Points are transformed to the raster's CRS in one vectorised call; the raster is read one strip
of rows at a time, so a national raster never sits whole in memory.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import numpy.typing as npt
import rasterio
from pyproj import Transformer
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from geodata.errors import CorruptFileError, CRSError

__all__ = ["sample_raster_at_points"]


def sample_raster_at_points(
    path: str | PathLike[str],
    lat: npt.ArrayLike,
    lng: npt.ArrayLike,
    *,
    band: int = 1,
    strip_rows: int = 1024,
) -> npt.NDArray[np.float64]:
    """Value of the pixel under each point (degrees in); NaN outside the raster or at nodata.

    Examples
    --------
    >>> from geodata.reference import population_raster_path
    >>> v = sample_raster_at_points(population_raster_path(), [21.0285], [105.8542])
    >>> bool(v[0] > 1000)
    True
    """
    lat_a = np.asarray(lat, dtype=np.float64)
    lng_a = np.asarray(lng, dtype=np.float64)
    out = np.full(lat_a.shape, np.nan)
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise CorruptFileError(path, f"cannot open as a raster ({exc})") from exc
    with src:
        if src.crs is None:
            raise CRSError(path, "raster has no coordinate reference system")
        if src.crs.to_epsg() == 4326:
            x, y = lng_a, lat_a
        else:
            tr = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
            x, y = tr.transform(lng_a, lat_a)
        inv = ~src.transform
        col_f, row_f = inv @ (np.asarray(x), np.asarray(y))
        with np.errstate(invalid="ignore"):
            row = np.floor(row_f).astype(np.int64)
            col = np.floor(col_f).astype(np.int64)
        inside = (row >= 0) & (row < src.height) & (col >= 0) & (col < src.width)
        inside &= np.isfinite(row_f) & np.isfinite(col_f)
        idx = np.flatnonzero(inside)
        if idx.size == 0:
            return out
        order = idx[np.argsort(row[idx], kind="stable")]
        rows_sorted = row[order]
        starts = np.arange(
            rows_sorted.min() // strip_rows * strip_rows, rows_sorted.max() + 1, strip_rows
        )
        bounds = np.searchsorted(rows_sorted, np.append(starts, starts[-1] + strip_rows))
        nodata = src.nodata
        try:
            for s, lo, hi in zip(starts, bounds[:-1], bounds[1:], strict=True):
                if lo == hi:
                    continue
                height = int(min(strip_rows, src.height - s))
                strip = src.read(band, window=Window(0, int(s), src.width, height), masked=True)
                pts = order[lo:hi]
                vals = strip[row[pts] - s, col[pts]]
                filled = np.ma.filled(vals.astype(np.float64), np.nan)
                if nodata is not None and not np.isnan(nodata):
                    filled[filled == nodata] = np.nan
                out[pts] = filled
        except RasterioIOError as exc:
            raise CorruptFileError(path, f"cannot read pixels ({exc})") from exc
    return out
