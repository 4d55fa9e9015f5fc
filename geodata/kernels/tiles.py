"""Map Web-Mercator quadkey tiles (Ookla Open Data keys each tile by its zoom-16 quadkey) to H3 cells.

A tile goes to the cell holding its centroid: the centre of the tile's longitude/latitude rectangle,
which is what ``shapely`` returns for the tile polygon Ookla ships in its ``tile`` column. At the
default resolution 8 a cell (about 0.74 km2) holds two to three zoom-16 tiles (about 0.36 km2 at
Vietnam's latitudes), so every tile counts exactly once.

Examples
--------
>>> from geodata.kernels.cells import cells_resolution
>>> cells = tiles_to_cells(np.array(["1323011230123012"]), 8)
>>> cells.dtype, int(cells_resolution(cells)[0])
(dtype('uint64'), 8)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from geodata.kernels.cells import CellArray, latlng_to_cells
from geodata.quadkeys import quadkey_to_tile, tile_centroids, valid_quadkeys

__all__ = ["decode_full_width", "tiles_to_cells"]


def tiles_to_cells(quadkeys: npt.ArrayLike, res: int) -> CellArray:
    """H3 cell (``uint64``) at resolution ``res`` of each tile's centroid.

    Parameters
    ----------
    quadkeys : quadkey strings (digits 0-3, one digit per zoom level; zoom 16 for Ookla tiles,
        other zooms and mixed zooms are accepted).
    res : H3 resolution 0..15.

    Raises
    ------
    ValueError
        When a quadkey is not a non-empty string of digits 0-3 (the first offending position and
        value are named) or ``res`` is out of range.
    """
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    given = np.asarray(quadkeys)
    if given.size == 0:
        return np.zeros(0, dtype=np.uint64)
    flat = given.ravel() if given.dtype.kind in "USO" else given.ravel().astype(object)
    # the usual case (one zoom, e.g. Ookla's 16): validated and decoded in one pass, straight
    # from the characters of a text array, else after one C-level conversion to ASCII bytes
    decoded = decode_full_width(flat) if flat.dtype.kind in "US" else None
    text = None
    if decoded is None:
        try:
            text = np.asarray(flat, dtype="S")
        except (UnicodeEncodeError, TypeError, ValueError):
            text = None  # some key holds a non-ASCII character: checked below
        if text is not None:
            decoded = decode_full_width(text)
    if decoded is not None:
        lat, lng = tile_centroids(*decoded)
        return latlng_to_cells(lat, lng, res)
    keys = flat.astype(object)  # mixed zooms or a bad key: the general path names it
    if text is not None:
        ok = valid_quadkeys(text, zoom=None)
    else:
        text = keys.astype(str)
        ascii_ = np.strings.str_len(np.strings.encode(text, "utf-8")) == np.strings.str_len(text)
        ok = np.zeros(keys.size, dtype=bool)
        ok[ascii_] = valid_quadkeys(text[ascii_], zoom=None)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ValueError(f"quadkey at position {i} is not a string of digits 0-3: {keys[i]!r}")
    x, y, z = quadkey_to_tile(text)
    lat, lng = tile_centroids(x, y, z)
    return latlng_to_cells(lat, lng, res)


def decode_full_width(
    text: npt.NDArray[np.bytes_] | npt.NDArray[np.str_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int] | None:
    """``x, y, zoom`` when every key fills the array's width with digits 0-3, else None.

    One matrix of character codes (bytes, or the UCS-4 code points of a ``str`` array) is checked
    (a code below ``"0"``, including the NUL padding of a shorter key, wraps around to more than
    3) and its bits packed. None sends the caller to the general path, which names a bad key.
    """
    if not text.dtype.isnative:
        return None
    char = np.dtype(np.uint32 if text.dtype.kind == "U" else np.uint8)
    width = text.dtype.itemsize // char.itemsize
    if not 0 < width <= 32:
        return None
    codes = np.ascontiguousarray(text).view(char).reshape(-1, width)
    d = codes - char.type(ord("0"))
    if not (d <= 3).all():
        return None
    d = d.astype(np.uint8, copy=False)
    n_bytes = (width + 7) // 8
    out = []
    for bits in (d & 1, d >> 1):
        packed = np.packbits(bits, axis=1)  # big-endian, zero-padded on the right
        v = np.zeros(d.shape[0], dtype=np.int64)
        for k in range(n_bytes):  # at most 4 columns
            v <<= 8
            v |= packed[:, k]
        out.append(v >> (8 * n_bytes - width))
    return out[0], out[1], width
