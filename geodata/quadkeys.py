"""Vectorised Bing/Ookla quadkeys: decode to tiles, tile bounds and centroids, and encode.

Ookla Open Data keys each speed tile by its zoom-16 quadkey (a string of 16 digits 0-3). These
functions work on whole arrays at once (no Python loop per row).

Examples
--------
>>> x, y, z = quadkey_to_tile(np.array(["1202102332221212"]))
>>> tile_to_quadkey(x, y, z)[0]
'1202102332221212'
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "OOKLA_ZOOM",
    "quadkey_to_tile",
    "tile_to_quadkey",
    "tile_bounds",
    "tile_centroids",
    "lnglat_to_tile",
    "valid_quadkeys",
]

#: Zoom level of Ookla Open Data performance tiles (about 610 m at the equator).
OOKLA_ZOOM = 16
_MAX_LAT = 85.05112877980659


def valid_quadkeys(quadkeys: npt.ArrayLike, zoom: int | None = OOKLA_ZOOM) -> npt.NDArray[np.bool_]:
    """True where a quadkey is a string of digits 0-3 (of length ``zoom`` unless None)."""
    s = np.asarray(quadkeys, dtype=object).astype(str)
    lengths = np.char.str_len(s)
    ok = lengths > 0
    if zoom is not None:
        ok &= lengths == zoom
    width = int(lengths.max()) if s.size else 1
    digits = _digit_matrix(s, max(width, 1))
    in_range = ((digits >= 0) & (digits <= 3)) | (digits == _PAD)
    # no padding allowed before the end of the string
    pos = np.arange(digits.shape[1])
    ok &= np.all(in_range | (pos[None, :] >= lengths[:, None]), axis=1)
    return ok


_PAD = -48  # a NUL byte minus ord("0")


def _digit_matrix(s: npt.NDArray[np.str_], width: int) -> npt.NDArray[np.int16]:
    raw = np.asarray(s, dtype=f"S{width}")  # non-ASCII raises UnicodeEncodeError upstream
    return raw.view(np.uint8).reshape(-1, width).astype(np.int16) - ord("0")


def quadkey_to_tile(
    quadkeys: npt.ArrayLike,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Decode quadkeys to tile ``x, y, zoom`` (all int64 arrays).

    Quadkeys must be valid (see :func:`valid_quadkeys`); mixed lengths are allowed.
    """
    s = np.asarray(quadkeys, dtype=object).astype(str)
    if s.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    z = np.char.str_len(s).astype(np.int64)
    width = int(z.max())
    d = _digit_matrix(s, width).astype(np.int64)
    d[d == _PAD] = 0
    shifts = (z[:, None] - 1 - np.arange(width)[None, :]).clip(min=0)
    used = np.arange(width)[None, :] < z[:, None]
    x = ((d & 1) << shifts) * used
    y = (((d >> 1) & 1) << shifts) * used
    return x.sum(axis=1), y.sum(axis=1), z


def tile_to_quadkey(
    x: npt.ArrayLike, y: npt.ArrayLike, zoom: int | npt.ArrayLike
) -> npt.NDArray[np.str_]:
    """Encode tiles to quadkeys (inverse of :func:`quadkey_to_tile`), one zoom for all tiles."""
    xa = np.asarray(x, dtype=np.int64)
    ya = np.asarray(y, dtype=np.int64)
    z = int(np.max(zoom)) if np.ndim(zoom) else int(zoom)  # type: ignore[arg-type]
    if np.ndim(zoom) and np.any(np.asarray(zoom) != z):
        raise ValueError("tile_to_quadkey encodes one zoom level at a time")
    shifts = z - 1 - np.arange(z)
    digits = ((xa[:, None] >> shifts) & 1) + 2 * ((ya[:, None] >> shifts) & 1)
    chars = (digits + ord("0")).astype(np.uint8)
    return np.ascontiguousarray(chars).view(f"S{z}").ravel().astype(str)


def tile_bounds(
    x: npt.ArrayLike, y: npt.ArrayLike, zoom: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], ...]:
    """Web-Mercator tile bounds in degrees: ``west, south, east, north`` arrays."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    n = np.exp2(np.asarray(zoom, dtype=np.float64))
    west = xa / n * 360.0 - 180.0
    east = (xa + 1.0) / n * 360.0 - 180.0
    north = np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * ya / n))))
    south = np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * (ya + 1.0) / n))))
    return west, south, east, north


def tile_centroids(
    x: npt.ArrayLike, y: npt.ArrayLike, zoom: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Centroid ``(lat, lng)`` of each tile's lon/lat rectangle (as ``shapely`` computes it)."""
    west, south, east, north = tile_bounds(x, y, zoom)
    return (south + north) / 2.0, (west + east) / 2.0


def lnglat_to_tile(
    lng: npt.ArrayLike, lat: npt.ArrayLike, zoom: int = OOKLA_ZOOM
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Tile ``x, y`` holding each point at ``zoom`` (latitudes clipped to the Mercator limit)."""
    lng_a = np.asarray(lng, dtype=np.float64)
    lat_a = np.clip(np.asarray(lat, dtype=np.float64), -_MAX_LAT, _MAX_LAT)
    n = 2**zoom
    x = np.floor((lng_a + 180.0) / 360.0 * n).astype(np.int64).clip(0, n - 1)
    lat_r = np.radians(lat_a)
    y = (
        np.floor((1.0 - np.arcsinh(np.tan(lat_r)) / np.pi) / 2.0 * n)
        .astype(np.int64)
        .clip(0, n - 1)
    )
    return x, y
