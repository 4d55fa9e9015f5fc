"""The real population surface the synthetic sample is shaped by.

Reads the shipped WorldPop 2020 1 km grid (never rescaled), the GeoNames settlements and the main
roads, and derives per populated pixel an *urbanness* score in ``[0, 1]`` from three real signals:
local population density, proximity to settlements weighted by their population, and proximity to
main roads. Everything the generators draw (speed tiles, cell sites, adoption figures) is a function
of this surface, so the sample looks like Vietnam: dense deltas and cities, sparse uplands.

Examples
--------
>>> surf = build_surface(["79"])          # doctest: +SKIP
>>> surf.pop.sum() > 5e6                  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.features
import shapely
from affine import Affine

from geodata.reference import (
    load_provinces,
    load_roads,
    load_settlements,
    population_raster_path,
    province_codes,
)

__all__ = ["PopulationSurface", "build_surface", "KM_PER_DEG"]

#: Kilometres per degree of latitude (spherical Earth, R = 6371 km).
KM_PER_DEG = 111.195

# settlements with population 0 in GeoNames are administrative seats: give them a small-town weight
_SEAT_POPULATION = 3000.0
_SETTLEMENT_LENGTH_KM = 6.0  # e-folding length of a settlement's pull
_SETTLEMENT_RADIUS_KM = 40.0
_ROAD_LENGTH_KM = 3.0  # e-folding length of road proximity
_ROAD_RADIUS_KM = 15.0


@dataclass(frozen=True)
class PopulationSurface:
    """Populated pixels of the selected area with the signals the generators use.

    All 1-D arrays have one entry per selected populated WorldPop pixel (row-major order).

    Attributes
    ----------
    transform, shape : the national WorldPop grid (EPSG:4326, 30 arc-seconds)
    rows, cols : pixel indices in that grid
    lon, lat : pixel centres (degrees)
    pop : WorldPop persons per pixel (as shipped)
    density : persons per km2
    settlement : log10(1 + population-weighted settlement pull)
    road : proximity to a main road in [0, 1] (1 = on the road)
    urban : urbanness in [0, 1]
    province : index into ``codes`` of the pixel's 34-system province, -1 if none
    codes : the 34-system province codes of the selection (all 34 for the national sample)
    bbox : ``(west, south, east, north)`` of the selection: province polygons clipped to the
        WorldPop extent (offshore archipelagos hold no population pixels), degrees
    national_pop : WorldPop total of the whole country (to scale counts of a partial sample)
    """

    transform: Affine
    shape: tuple[int, int]
    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    pop: npt.NDArray[np.float64]
    density: npt.NDArray[np.float64]
    settlement: npt.NDArray[np.float64]
    road: npt.NDArray[np.float64]
    urban: npt.NDArray[np.float64]
    province: npt.NDArray[np.int64]
    codes: tuple[str, ...]
    bbox: tuple[float, float, float, float]
    national_pop: float

    @property
    def pixel_deg(self) -> float:
        """Pixel size in degrees (square pixels)."""
        return float(self.transform.a)


def _check_codes(provinces_34: Sequence[str] | None) -> tuple[str, ...]:
    allowed = province_codes("34")
    if provinces_34 is None:
        return allowed
    codes = tuple(sorted({str(c).strip().zfill(2) for c in provinces_34}))
    unknown = [c for c in codes if c not in allowed]
    if not codes or unknown:
        raise ValueError(
            f"provinces_34 must be codes of the 34-province system {allowed}, got {list(provinces_34)}"
        )
    return codes


def _fft_convolve(
    grid: npt.NDArray[np.float64], kernel: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Same-size 2-D convolution by FFT (zero padding), clipped at 0 to drop round-off."""
    kh, kw = kernel.shape
    h, w = grid.shape
    fh, fw = h + kh - 1, w + kw - 1
    spec = np.fft.rfft2(grid, s=(fh, fw)) * np.fft.rfft2(kernel, s=(fh, fw))
    full = np.fft.irfft2(spec, s=(fh, fw))
    out = full[kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + w]
    return np.clip(out, 0.0, None)


def _exp_kernel(
    pixel_km_x: float, pixel_km_y: float, length_km: float, radius_km: float
) -> npt.NDArray[np.float64]:
    rx = int(np.ceil(radius_km / pixel_km_x))
    ry = int(np.ceil(radius_km / pixel_km_y))
    dy, dx = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    d = np.hypot(dx * pixel_km_x, dy * pixel_km_y)
    k = np.exp(-d / length_km)
    k[d > radius_km] = 0.0
    return k


def _settlement_grid(transform: Affine, shape: tuple[int, int]) -> npt.NDArray[np.float64]:
    s = load_settlements()
    lon = s["longitude"].to_numpy(dtype=np.float64)
    lat = s["latitude"].to_numpy(dtype=np.float64)
    pop = s["population"].to_numpy(dtype=np.float64)
    pop = np.where(np.isfinite(pop) & (pop > 0), pop, _SEAT_POPULATION)
    col = np.floor((lon - transform.c) / transform.a).astype(np.int64)
    row = np.floor((lat - transform.f) / transform.e).astype(np.int64)
    ok = (
        np.isfinite(lon)
        & np.isfinite(lat)
        & (row >= 0)
        & (row < shape[0])
        & (col >= 0)
        & (col < shape[1])
    )
    grid = np.zeros(shape, dtype=np.float64)
    np.add.at(grid, (row[ok], col[ok]), pop[ok])
    return grid


def _road_grid(transform: Affine, shape: tuple[int, int]) -> npt.NDArray[np.float64]:
    roads = load_roads()
    roads = roads[roads["loai_duong"].astype(str) != "Đường sắt"]  # railways are not roads
    geoms = [g for g in roads.geometry.values if g is not None and not g.is_empty]
    burned = rasterio.features.rasterize(
        geoms,
        out_shape=shape,
        transform=transform,
        all_touched=True,
        fill=0,
        default_value=1,
        dtype="uint8",
    )
    return burned.astype(np.float64)


def _urbanness(
    density: npt.NDArray[np.float64],
    settlement: npt.NDArray[np.float64],
    road: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    z = 1.7 * (np.log10(density + 1.0) - 3.1) + 0.9 * (settlement - 4.8) + 1.2 * (road - 0.4)
    return 1.0 / (1.0 + np.exp(-z))


def build_surface(provinces_34: Sequence[str] | None = None) -> PopulationSurface:
    """Populated WorldPop pixels of Vietnam (or of the selected 34-system provinces) with urbanness.

    Parameters
    ----------
    provinces_34 : codes of the 34-province system to keep (pixel centre inside the simplified
        boundary), or None for the whole country (every populated pixel).

    Raises
    ------
    ValueError
        When a code is not a 34-system province code.
    """
    codes = _check_codes(provinces_34)
    with rasterio.open(population_raster_path()) as ds:
        grid = ds.read(1).astype(np.float64)
        transform = ds.transform
        nodata = ds.nodata
    shape = (int(grid.shape[0]), int(grid.shape[1]))
    valid = np.isfinite(grid) & (grid > 0)
    if nodata is not None:
        valid &= grid != nodata
    grid = np.where(valid, grid, 0.0)

    px = float(transform.a)
    lat0 = float(transform.f + transform.e * shape[0] / 2.0)
    km_x = px * KM_PER_DEG * np.cos(np.radians(lat0))
    km_y = px * KM_PER_DEG

    provinces = load_provinces("34", simplified=True)
    selected = provinces.loc[list(codes)]
    west, south, east, north = (float(v) for v in selected.total_bounds)
    west, east = max(west, transform.c), min(east, transform.c + px * shape[1])
    south, north = max(south, transform.f + transform.e * shape[0]), min(north, transform.f)

    rows, cols = np.nonzero(valid)
    lon = transform.c + (cols + 0.5) * px
    lat = transform.f + (rows + 0.5) * transform.e
    if provinces_34 is not None:  # cheap bbox cut before the point-in-polygon test
        keep = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        rows, cols, lon, lat = rows[keep], cols[keep], lon[keep], lat[keep]

    tree = shapely.STRtree(selected.geometry.values)
    pt_idx, poly_idx = tree.query(shapely.points(lon, lat), predicate="within")
    province = np.full(lon.size, -1, dtype=np.int64)
    province[pt_idx] = poly_idx  # simplified polygons do not overlap: at most one hit per point
    if provinces_34 is not None:
        keep = province >= 0
        rows, cols, lon, lat, province = (
            rows[keep],
            cols[keep],
            lon[keep],
            lat[keep],
            province[keep],
        )

    settle_pull = _fft_convolve(
        _settlement_grid(transform, shape),
        _exp_kernel(km_x, km_y, _SETTLEMENT_LENGTH_KM, _SETTLEMENT_RADIUS_KM),
    )
    road_kernel = _exp_kernel(km_x, km_y, _ROAD_LENGTH_KM, _ROAD_RADIUS_KM)
    line_sum = 1.0 + 2.0 * np.exp(-km_x / _ROAD_LENGTH_KM) / (1.0 - np.exp(-km_x / _ROAD_LENGTH_KM))
    road_prox = np.clip(
        _fft_convolve(_road_grid(transform, shape), road_kernel) / line_sum, 0.0, 1.0
    )

    pop = grid[rows, cols]
    area_km2 = km_y * px * KM_PER_DEG * np.cos(np.radians(lat))
    density = pop / area_km2
    settlement = np.log10(1.0 + settle_pull[rows, cols])
    road = road_prox[rows, cols]
    return PopulationSurface(
        transform=transform,
        shape=shape,
        rows=rows.astype(np.int64),
        cols=cols.astype(np.int64),
        lon=lon,
        lat=lat,
        pop=pop,
        density=density,
        settlement=settlement,
        road=road,
        urban=_urbanness(density, settlement, road),
        province=province,
        codes=codes,
        bbox=(west, south, east, north),
        national_pop=float(grid.sum()),
    )
