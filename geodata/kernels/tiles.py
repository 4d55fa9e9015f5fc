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

__all__ = ["tiles_to_cells"]


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
    keys = np.asarray(quadkeys, dtype=object).ravel()
    if keys.size == 0:
        return np.zeros(0, dtype=np.uint64)
    try:
        text = np.asarray(keys, dtype="S")  # one C-level conversion to ASCII bytes
        ok = valid_quadkeys(text, zoom=None)
    except (UnicodeEncodeError, TypeError, ValueError):
        text = keys.astype(str)  # some key holds a non-ASCII character: check the others
        ascii_ = np.strings.str_len(np.strings.encode(text, "utf-8")) == np.strings.str_len(text)
        ok = np.zeros(keys.size, dtype=bool)
        ok[ascii_] = valid_quadkeys(text[ascii_], zoom=None)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ValueError(f"quadkey at position {i} is not a string of digits 0-3: {keys[i]!r}")
    x, y, z = quadkey_to_tile(text)
    lat, lng = tile_centroids(x, y, z)
    return latlng_to_cells(lat, lng, res)
