"""Vietnam's study area: where a measurement counts, and a fast vectorised test for it.

The study area is Vietnam's land (the union of the shipped province boundaries, Hoàng Sa and
Trường Sa included) plus a coastal buffer of :data:`COASTAL_BUFFER_KM` of sea around the coast and
the islands. The buffer never reaches across a land border: it is cut back within the same
distance of the land border with China, Laos and Cambodia, which runs along the mainland's outline
from the Bắc Luân estuary at Móng Cái (:data:`LAND_BORDER_ENDS` [0]) westwards round to the border
post on the Gulf of Thailand at Hà Tiên ([1]); round those two ends no sea counts at all within
:data:`BORDER_END_SEA_CUT_KM` (the neighbours' coasts and islands come close). Everything else (foreign land, open sea) is *outside*:
out of scope, counted by the readers, never quarantined, never given a province.

Why a buffer: Ookla tiles and population pixels on the shore have their centre a few hundred
metres out at sea, and ships, piers and reef stations report from the water. Why only 5 km: the
nearest foreign coasts (Dongxing across the Bắc Luân, Kep and Cambodia's islands near Hà Tiên
and Phú Quốc) are farther than that from Vietnam's coast once the land-border cut is applied.

:func:`in_study_area` is a grid-accelerated exact point-in-polygon test: a raster of the area at
:data:`GRID_DEG` decides every point whose grid cell is wholly inside or wholly outside, and only
points in cells the outline crosses are tested exactly with shapely (``intersects_xy``). Distances
are planar degrees (1 km = 1/111.32 degree), stated so rather than hidden.

Examples
--------
Hà Nội; Xiangkhouang in Laos; the open sea east of Khánh Hòa; Phú Lâm (Hoàng Sa); Trường Sa Lớn:

>>> in_study_area([105.85, 103.2, 113.0, 112.336, 111.92], [21.03, 19.45, 13.0, 16.834, 8.645]).tolist()
[True, False, False, True, True]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from rasterio import features
from rasterio.transform import from_origin
from scipy import ndimage

from geodata.provenance import atomic_path
from geodata.reference import DATA_DIR, load_provinces

__all__ = [
    "COASTAL_BUFFER_KM",
    "GRID_DEG",
    "LAND_BORDER_ENDS",
    "BORDER_END_SEA_CUT_KM",
    "KM_PER_DEG",
    "StudyArea",
    "study_area",
    "in_study_area",
    "study_area_bbox",
    "quadkey_prefixes",
    "describe_study_area",
    "save_study_area",
    "SHIPPED_PATH",
]

#: Sea around the coast and the islands that still counts as Vietnam (km).
COASTAL_BUFFER_KM = 5.0
#: Degrees per km used to turn the buffer into degrees (one degree of latitude).
KM_PER_DEG = 111.32
#: Where the land border meets the sea: the Bắc Luân estuary (Móng Cái, Quảng Ninh) and the
#: border post on the Gulf of Thailand (Hà Tiên, An Giang), as (lon, lat); snapped to the nearest
#: vertex of the mainland outline.
LAND_BORDER_ENDS: tuple[tuple[float, float], tuple[float, float]] = (
    (107.97, 21.52),
    (104.45, 10.42),
)
#: Radius (km) round each end of the land border within which no sea counts, only land: there the
#: neighbour's coast and islands (Kep and Koh Tonsay in Cambodia, 3-4 km from a Vietnamese islet
#: off Hà Tiên; Dongxing's shore across the Bắc Luân) lie within the coastal buffer of Vietnamese
#: land although they are farther than the buffer from the land border itself.
BORDER_END_SEA_CUT_KM = 20.0
#: Cell size of the acceleration grid (degrees, about 550 m).
GRID_DEG = 0.005

_INSIDE, _OUTSIDE, _EDGE = np.uint8(1), np.uint8(0), np.uint8(2)


@dataclass(frozen=True)
class StudyArea:
    """The area's geometry, its land border, and the classification grid."""

    geometry: shapely.Geometry
    land_border: shapely.LineString
    bounds: tuple[float, float, float, float]
    grid: npt.NDArray[np.uint8]  # rows from north, 0 outside, 1 inside, 2 test exactly
    west: float
    north: float


def _land_border(mainland: shapely.Polygon) -> shapely.LineString:
    ring = np.asarray(mainland.exterior.coords)[:-1]
    ends = []
    for lon, lat in LAND_BORDER_ENDS:
        ends.append(int(np.argmin(np.hypot(ring[:, 0] - lon, ring[:, 1] - lat))))
    i, j = sorted(ends)
    one = ring[i : j + 1]
    other = np.vstack([ring[j:], ring[: i + 1]])
    # the land border is the arc through the far west (Điện Biên, 102.1 E); the other is coast
    return shapely.LineString(one if one[:, 0].min() < other[:, 0].min() else other)


#: The built study area, shipped so that no process pays the ~1 s build (union, buffers,
#: rasterising): geometry and land border as WKB, the grid, and the key it was built for.
SHIPPED_PATH = DATA_DIR / "boundaries" / "study_area_34.npz"


def _build_key() -> str:
    """What the study area is a function of: the 34-province boundaries file and the constants."""
    digest = hashlib.sha256(
        (DATA_DIR / "boundaries" / "vn_provinces_34_since2025.geojson").read_bytes()
    )
    params = (COASTAL_BUFFER_KM, KM_PER_DEG, LAND_BORDER_ENDS, BORDER_END_SEA_CUT_KM, GRID_DEG, 1)
    digest.update(repr(params).encode())
    return digest.hexdigest()


def _build() -> StudyArea:
    """Build the study area from the shipped 34-province boundaries (about 1 s)."""
    land = shapely.union_all(load_provinces("34").geometry.to_numpy())
    parts = shapely.get_parts(land)
    mainland = parts[int(np.argmax(shapely.area(parts)))]
    border = _land_border(mainland)
    d = COASTAL_BUFFER_KM / KM_PER_DEG
    ends = shapely.points(np.asarray(border.coords)[[0, -1]])
    cut = shapely.union_all(
        [shapely.buffer(border, d), *shapely.buffer(ends, BORDER_END_SEA_CUT_KM / KM_PER_DEG)]
    )
    coastal = shapely.difference(shapely.buffer(land, d), cut)
    geom = shapely.make_valid(shapely.union(land, coastal))
    west, south, east, north = geom.bounds
    west, south = (
        np.floor(west / GRID_DEG) * GRID_DEG - GRID_DEG,
        np.floor(south / GRID_DEG) * GRID_DEG - GRID_DEG,
    )
    east, north = (
        np.ceil(east / GRID_DEG) * GRID_DEG + GRID_DEG,
        np.ceil(north / GRID_DEG) * GRID_DEG + GRID_DEG,
    )
    width = int(round((east - west) / GRID_DEG))
    height = int(round((north - south) / GRID_DEG))
    transform = from_origin(west, north, GRID_DEG, GRID_DEG)
    inside = features.rasterize(
        [(geom, 1)], out_shape=(height, width), transform=transform, fill=0, dtype="uint8"
    )
    edge = features.rasterize(
        [(shapely.boundary(geom), 1)],
        out_shape=(height, width),
        transform=transform,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    # a cell the outline touches, or next to one, is tested exactly: no rasteriser edge case
    # can misclassify a point
    edge = ndimage.binary_dilation(edge, iterations=1)
    grid = np.where(edge, _EDGE, np.where(inside == 1, _INSIDE, _OUTSIDE)).astype(np.uint8)
    return StudyArea(geom, border, tuple(geom.bounds), grid, float(west), float(north))


def save_study_area(area: StudyArea, path: Path = SHIPPED_PATH) -> None:
    """Write ``area`` with its build key (``python -m geodata.study_area`` after a boundary or
    constant change; a test fails while the shipped file is stale)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            key=np.array(_build_key()),
            geometry=np.frombuffer(shapely.to_wkb(area.geometry), dtype=np.uint8),
            land_border=np.frombuffer(shapely.to_wkb(area.land_border), dtype=np.uint8),
            bounds=np.array(area.bounds),
            origin=np.array([area.west, area.north]),
            grid=area.grid,
        )


def _load_shipped(path: Path = SHIPPED_PATH) -> StudyArea | None:
    try:
        with np.load(path) as z:
            if str(z["key"]) != _build_key():
                return None
            geom = shapely.from_wkb(z["geometry"].tobytes())
            border = shapely.from_wkb(z["land_border"].tobytes())
            west, north = (float(v) for v in z["origin"])
            return StudyArea(
                geom, border, tuple(float(v) for v in z["bounds"]), z["grid"], west, north
            )
    except (OSError, KeyError, ValueError):
        return None


@lru_cache(maxsize=1)
def study_area() -> StudyArea:
    """The study area (once per process): the shipped build when its key matches the boundaries
    and constants, else built afresh (the result is the same, only slower)."""
    area = _load_shipped() or _build()
    shapely.prepare(area.geometry)
    return area


def study_area_bbox(margin_deg: float = 0.0) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the study area, widened by ``margin_deg``."""
    w, s, e, n = study_area().bounds
    return (w - margin_deg, s - margin_deg, e + margin_deg, n + margin_deg)


def in_study_area(lng: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where the point ``(lng, lat)`` (degrees, EPSG:4326) lies in the study area.

    NaN coordinates are outside. Exact: agrees with ``shapely.contains_xy(study_area().geometry)``
    for every point not on the outline itself (on it, ``intersects`` semantics: inside).
    """
    x = np.asarray(lng, dtype=np.float64).ravel()
    y = np.asarray(lat, dtype=np.float64).ravel()
    area = study_area()
    out = np.zeros(x.shape, dtype=bool)
    w, s, e, n = area.bounds
    box = (x >= w) & (x <= e) & (y >= s) & (y <= n)
    idx = np.flatnonzero(box)
    if idx.size == 0:
        return out
    col = ((x[idx] - area.west) / GRID_DEG).astype(np.int64)
    row = ((area.north - y[idx]) / GRID_DEG).astype(np.int64)
    h, wd = area.grid.shape
    np.clip(col, 0, wd - 1, out=col)
    np.clip(row, 0, h - 1, out=row)
    state = area.grid[row, col]
    out[idx[state == _INSIDE]] = True
    exact = idx[state == _EDGE]
    if exact.size:
        out[exact] = shapely.intersects_xy(area.geometry, x[exact], y[exact])
    return out


@lru_cache(maxsize=4)
def quadkey_prefixes(zoom: int = 8) -> frozenset[str]:
    """Quadkeys of the zoom-``zoom`` tiles that intersect the study area.

    A zoom-16 quadkey whose first ``zoom`` digits are not among these lies outside the area, so
    readers can skip it by a string comparison, before any decoding.
    """
    from geodata.quadkeys import lnglat_to_tile, tile_bounds, tile_to_quadkey

    w, s, e, n = study_area_bbox()
    x0, y0 = lnglat_to_tile(np.array([w]), np.array([n]), zoom)
    x1, y1 = lnglat_to_tile(np.array([e]), np.array([s]), zoom)
    xs, ys = np.meshgrid(
        np.arange(int(x0[0]), int(x1[0]) + 1), np.arange(int(y0[0]), int(y1[0]) + 1)
    )
    xs, ys = xs.ravel(), ys.ravel()
    west, south, east, north = tile_bounds(xs, ys, zoom)
    boxes = shapely.box(west, south, east, north)
    hit = shapely.intersects(study_area().geometry, boxes)
    keys = tile_to_quadkey(xs[hit], ys[hit], np.full(int(hit.sum()), zoom))
    return frozenset(str(k) for k in keys)


def describe_study_area() -> str:
    """One line for metadata and logs."""
    return (
        f"Vietnam's land (34 provinces, Hoàng Sa and Trường Sa included) plus "
        f"{COASTAL_BUFFER_KM:g} km of coastal sea, cut back {COASTAL_BUFFER_KM:g} km from the "
        f"land border with China, Laos and Cambodia and {BORDER_END_SEA_CUT_KM:g} km round its "
        "two ends at the sea (Móng Cái, Hà Tiên)"
    )


if __name__ == "__main__":  # python -m geodata.study_area: rebuild the shipped study area
    save_study_area(_build())
    print(f"wrote {SHIPPED_PATH} ({SHIPPED_PATH.stat().st_size:,} bytes)")
