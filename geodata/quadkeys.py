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

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "OOKLA_ZOOM",
    "quadkey_to_tile",
    "tile_to_quadkey",
    "tile_bounds",
    "tile_centroids",
    "lnglat_to_tile",
    "valid_quadkeys",
    "ookla_tile_wkt",
]

#: Zoom level of Ookla Open Data performance tiles (about 610 m at the equator).
OOKLA_ZOOM = 16
_MAX_LAT = 85.05112877980659


def _ascii(quadkeys: npt.ArrayLike) -> npt.NDArray[np.bytes_]:
    """Quadkeys as fixed-width ASCII bytes (one C-level conversion; non-ASCII raises
    ``UnicodeEncodeError``)."""
    a = np.asarray(quadkeys)
    if a.dtype.kind == "S":
        return a.ravel()
    if a.dtype.kind == "O":
        a = a.astype(str)
    return np.asarray(a.ravel(), dtype="S") if a.size else np.zeros(0, dtype="S1")


def _digits(raw: npt.NDArray[np.bytes_]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Digit matrix (NUL padding becomes 0) and the length of each key."""
    width = max(raw.dtype.itemsize, 1)
    lengths = np.strings.str_len(raw).astype(np.int64)
    d = raw.view(np.uint8).reshape(-1, width) - np.uint8(ord("0"))
    if not (lengths == width).all():
        d[np.arange(width)[None, :] >= lengths[:, None]] = 0
    return d, lengths


def valid_quadkeys(quadkeys: npt.ArrayLike, zoom: int | None = OOKLA_ZOOM) -> npt.NDArray[np.bool_]:
    """True where a quadkey is a string of digits 0-3 (of length ``zoom`` unless None)."""
    raw = _ascii(quadkeys)
    width = max(raw.dtype.itemsize, 1)
    lengths = np.strings.str_len(raw)
    ok = lengths > 0
    if zoom is not None:
        ok &= lengths == zoom
    d = raw.view(np.uint8).reshape(-1, width)
    used = np.arange(width)[None, :] < lengths[:, None]
    ok &= np.all(((d >= ord("0")) & (d <= ord("3"))) | ~used, axis=1)
    return ok


def quadkey_to_tile(
    quadkeys: npt.ArrayLike,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Decode quadkeys to tile ``x, y, zoom`` (all int64 arrays).

    Quadkeys must be valid (see :func:`valid_quadkeys`); mixed lengths are allowed. Bits are
    gathered with ``np.packbits`` (zooms up to 32).
    """
    raw = _ascii(quadkeys)
    if raw.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    d, z = _digits(raw)
    width = d.shape[1]
    if width > 32:
        raise ValueError(f"quadkeys longer than 32 digits are not tiles (got {width})")
    # right-align every key in 32 bit columns: key digit i of a key of length z goes to 32 - z + i
    xbits = np.zeros((d.shape[0], 32), dtype=np.uint8)
    ybits = np.zeros((d.shape[0], 32), dtype=np.uint8)
    if (z == width).all():  # the usual case: one zoom (16 for Ookla)
        xbits[:, 32 - width :] = d & 1
        ybits[:, 32 - width :] = d >> 1
    else:
        cols = 32 - z[:, None] + np.arange(width)[None, :]
        used = np.arange(width)[None, :] < z[:, None]
        rows = np.broadcast_to(np.arange(d.shape[0])[:, None], d.shape)
        xbits[rows[used], cols[used]] = d[used] & 1
        ybits[rows[used], cols[used]] = d[used] >> 1
    x = np.packbits(xbits, axis=1).view(">u4").ravel().astype(np.int64)
    y = np.packbits(ybits, axis=1).view(">u4").ravel().astype(np.int64)
    return x, y, z


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


@lru_cache(maxsize=4)
def _edge_texts(zoom: int) -> tuple[pa.Array, pa.Array]:
    """``%.15g`` text of every tile edge at ``zoom``: west of column i, north of row i."""
    edges = np.arange(2**zoom + 1)
    west, _, _, north = tile_bounds(edges, edges, zoom)
    fmt = [pa.array(np.char.mod("%.15g", v).astype(object), pa.string()) for v in (west, north)]
    return fmt[0], fmt[1]


def ookla_tile_wkt(x: npt.ArrayLike, y: npt.ArrayLike, zoom: int = OOKLA_ZOOM) -> pa.Array:
    """Ookla's ``tile`` WKT of each tile, ``POLYGON((w n, e n, e s, w s, w n))`` with every
    coordinate at 15 significant digits, as an Arrow string array.

    Each edge value is formatted once per zoom (2^zoom + 1 per axis), then the texts are joined by
    Arrow kernels: no Python loop per tile.

    >>> ookla_tile_wkt([52000], [30000])[0].as_py()[:40]
    'POLYGON((105.64453125 15.0296857565557, '
    """
    xa = pa.array(np.asarray(x, dtype=np.int64))
    ya = pa.array(np.asarray(y, dtype=np.int64))
    xs, ys = _edge_texts(int(zoom))
    w, e = xs.take(xa), xs.take(pc.add(xa, 1))
    n, s = ys.take(ya), ys.take(pc.add(ya, 1))
    sep, comma = pa.scalar(" "), pa.scalar(", ")

    def pt(a: pa.Array, b: pa.Array) -> pa.Array:
        return pc.binary_join_element_wise(a, b, sep)

    wn = pt(w, n)
    body = pc.binary_join_element_wise(wn, pt(e, n), pt(e, s), pt(w, s), wn, comma)
    return pc.binary_join_element_wise(pa.scalar("POLYGON(("), body, pa.scalar("))"), pa.scalar(""))
