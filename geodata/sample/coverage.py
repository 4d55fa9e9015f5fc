"""Coverage grids derived from synthetic cell sites, and their GeoTIFF files.

A pixel is covered by a cell when its centre lies within the cell's range (the pixel holding the
site always counts, so small 5G cells are not lost on a coarse grid). Grids are built by stamping a
fixed window of pixel offsets around every site at once (no loop per site or pixel). Pixels outside
the selected provinces are nodata (255).

Examples
--------
>>> grid = CoverageGrid.geographic((106.0, 10.0, 107.0, 11.0), 0.01)
>>> grid.shape
(100, 100)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.features
from affine import Affine
from pyproj import CRS, Transformer

from geodata.reference import load_provinces
from geodata.sample.surface import KM_PER_DEG

__all__ = ["NODATA", "CoverageGrid", "covered_mask", "best_rank_grid", "write_coverage_tif"]

#: Nodata value of the coverage GeoTIFFs (outside Vietnam / the selected provinces).
NODATA = 255
_BATCH_PAIRS = 1 << 22  # site x window-pixel pairs stamped at once (bounds memory)


@dataclass(frozen=True)
class CoverageGrid:
    """A north-up raster grid: CRS, affine transform and shape (rows, cols)."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    @classmethod
    def geographic(cls, bbox: tuple[float, float, float, float], res_deg: float) -> CoverageGrid:
        """EPSG:4326 grid covering ``bbox`` (west, south, east, north), snapped outward to ``res_deg``."""
        west, south, east, north = bbox
        w = np.floor(west / res_deg) * res_deg
        n = np.ceil(north / res_deg) * res_deg
        cols = int(np.ceil(round((east - w) / res_deg, 9)))
        rows = int(np.ceil(round((n - south) / res_deg, 9)))
        return cls(
            CRS.from_epsg(4326),
            Affine(res_deg, 0.0, float(w), 0.0, -res_deg, float(n)),
            (rows, cols),
        )

    @classmethod
    def projected(
        cls, bbox: tuple[float, float, float, float], epsg: int, res_m: float
    ) -> CoverageGrid:
        """Grid in a metric CRS covering the lon/lat ``bbox``, snapped outward to ``res_m``."""
        crs = CRS.from_epsg(epsg)
        tr = Transformer.from_crs(4326, crs, always_xy=True)
        xmin, ymin, xmax, ymax = tr.transform_bounds(*bbox, densify_pts=51)
        x0 = np.floor(xmin / res_m) * res_m
        y1 = np.ceil(ymax / res_m) * res_m
        cols = int(np.ceil((xmax - x0) / res_m))
        rows = int(np.ceil((y1 - ymin) / res_m))
        return cls(crs, Affine(res_m, 0.0, float(x0), 0.0, -res_m, float(y1)), (rows, cols))

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    def inside_mask(self, codes_34: tuple[str, ...]) -> npt.NDArray[np.bool_]:
        """Pixels touching the (simplified) polygons of the given 34-system provinces."""
        provinces = load_provinces("34", simplified=True).loc[list(codes_34)]
        if not self.is_geographic:
            provinces = provinces.to_crs(self.crs)
        burned = rasterio.features.rasterize(
            list(provinces.geometry.values),
            out_shape=self.shape,
            transform=self.transform,
            all_touched=True,
            fill=0,
            default_value=1,
            dtype="uint8",
        )
        return burned.astype(bool)

    def lookup(
        self, grid: npt.NDArray[np.uint8], lon: npt.ArrayLike, lat: npt.ArrayLike, fill: int = 0
    ) -> npt.NDArray[np.uint8]:
        """Values of ``grid`` (of this geographic grid) at lon/lat points; ``fill`` off the grid."""
        col = np.floor((np.asarray(lon) - self.transform.c) / self.transform.a).astype(np.int64)
        row = np.floor((np.asarray(lat) - self.transform.f) / self.transform.e).astype(np.int64)
        ok = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        out = np.full(row.shape, fill, dtype=grid.dtype)
        out[ok] = grid[row[ok], col[ok]]
        return out


def covered_mask(
    grid: CoverageGrid,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    range_m: npt.ArrayLike,
) -> npt.NDArray[np.bool_]:
    """Pixels of ``grid`` whose centre is within ``range_m`` of a site (or that hold a site).

    Vectorised: sites are stamped in groups, with one window of pixel offsets per range size.

    >>> g = CoverageGrid.geographic((106.0, 10.0, 106.1, 10.1), 0.01)
    >>> int(covered_mask(g, [106.05], [10.05], [3000]).sum())  # about pi * 3**2 / (1.09 * 1.11)
    24
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    r_m = np.asarray(range_m, dtype=np.float64)
    out = np.zeros(grid.shape, dtype=bool)
    if lon_a.size == 0:
        return out
    t = grid.transform
    if grid.is_geographic:
        x, y = lon_a, lat_a
        # metres per pixel along x is smallest at the highest latitude: size the window for it
        m_per_px = abs(t.a) * KM_PER_DEG * 1000.0 * np.cos(np.radians(np.abs(lat_a).max()))
    else:
        x, y = Transformer.from_crs(4326, grid.crs, always_xy=True).transform(lon_a, lat_a)
        x, y = np.asarray(x), np.asarray(y)
        m_per_px = abs(t.a)
    # each site's window is sized for its own range (grouped by that size): a pixel whose centre
    # is within range lies inside it, so the result equals one window sized for the largest range
    reach = np.ceil(r_m / m_per_px).astype(np.int64) + 1
    col0 = np.floor((x - t.c) / t.a).astype(np.int64)
    row0 = np.floor((y - t.f) / t.e).astype(np.int64)
    for k in np.unique(reach):  # a few dozen window sizes at most
        idx = np.flatnonzero(reach == k)
        dr, dc = (a.ravel() for a in np.mgrid[-k : k + 1, -k : k + 1])
        batch = max(1, _BATCH_PAIRS // dr.size)
        for s in range(0, idx.size, batch):
            sl = idx[s : s + batch]
            rows = row0[sl, None] + dr[None, :]
            cols = col0[sl, None] + dc[None, :]
            cx = t.c + (cols + 0.5) * t.a
            cy = t.f + (rows + 0.5) * t.e
            if grid.is_geographic:
                dx = (cx - x[sl, None]) * KM_PER_DEG * 1000.0 * np.cos(np.radians(y[sl, None]))
                dy = (cy - y[sl, None]) * KM_PER_DEG * 1000.0
            else:
                dx, dy = cx - x[sl, None], cy - y[sl, None]
            hit = (np.hypot(dx, dy) <= r_m[sl, None]) | ((dr == 0) & (dc == 0))[None, :]
            hit &= (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
            out[rows[hit], cols[hit]] = True
    return out


def best_rank_grid(
    grid: CoverageGrid,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    range_m: npt.ArrayLike,
    rank: npt.ArrayLike,
) -> npt.NDArray[np.uint8]:
    """Best technology rank (see ``geodata.technology.TECH_RANK``) covering each pixel, 0 = none."""
    rank_a = np.asarray(rank, dtype=np.int64)
    lon_a, lat_a, r_a = (np.asarray(v, dtype=np.float64) for v in (lon, lat, range_m))
    out = np.zeros(grid.shape, dtype=np.uint8)
    for r in np.unique(rank_a):  # a handful of technologies, ascending: better ones overwrite
        sel = rank_a == r
        out[covered_mask(grid, lon_a[sel], lat_a[sel], r_a[sel])] = r
    return out


def write_coverage_tif(
    path: str | PathLike[str],
    grid: CoverageGrid,
    covered: npt.NDArray[np.bool_],
    inside: npt.NDArray[np.bool_],
    tags: Mapping[str, str],
) -> None:
    """Write a covered 0/1 uint8 GeoTIFF (nodata 255 outside ``inside``), tiled, DEFLATE."""
    data = np.where(inside, covered.astype(np.uint8), np.uint8(NODATA)).astype(np.uint8)
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 1,
        "width": grid.shape[1],
        "height": grid.shape[0],
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "DEFLATE",
        "predictor": 2,
        "zlevel": 1,  # the masks compress well at any level; 9 took 5 s of a first `make run`
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
        ds.update_tags(**dict(tags))
        ds.set_band_description(1, "covered (1) / not covered (0)")
