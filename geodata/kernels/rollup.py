"""Roll per-cell values up to a coarser H3 resolution: sums add up, means are re-weighted.

Typical use: population sums and population-weighted means of cell indicators, from the working
resolution (8) to resolutions 7..0, with totals conserved at every level.

Examples
--------
>>> from geodata.kernels.cells import latlng_to_cells
>>> cells = latlng_to_cells(np.array([21.02, 21.03]), np.array([105.85, 105.86]), 8)
>>> pop = np.array([100.0, 300.0])
>>> parents, out = rollup(cells, 5, sums={"population": pop}, means={"speed": [10.0, 20.0]},
...                       weights=pop)
>>> parents.size, out["population"].tolist(), out["speed"].tolist()
(1, [400.0], [17.5])
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from geodata.kernels.cells import cell_to_parent
from geodata.kernels.groupby import group_by_cell

__all__ = ["rollup"]

_NO_COLUMNS: Mapping[str, npt.ArrayLike] = MappingProxyType({})


def rollup(
    cells: npt.ArrayLike,
    res: int,
    sums: Mapping[str, npt.ArrayLike] = _NO_COLUMNS,
    means: Mapping[str, npt.ArrayLike] = _NO_COLUMNS,
    weights: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.uint64], dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]]:
    """Aggregate cells to their parents at resolution ``res`` (see :func:`group_by_cell`).

    Parameters
    ----------
    cells : H3 cells at resolution ``res`` or finer (mixed resolutions allowed). 0 stays 0 and
        forms its own group.
    res : the coarser resolution, 0..15.
    sums : columns summed per parent (e.g. population); NaN counts as missing.
    means : columns averaged per parent, weighted by ``weights`` (e.g. population); NaN ignored.
    weights : non-negative weight per cell, or None for plain means.

    Returns
    -------
    parents : the distinct parent cells, sorted.
    columns : as :func:`group_by_cell` returns them (``"count"`` is the number of child rows).

    Raises
    ------
    ValueError
        When ``res`` is outside 0..15 or a cell is coarser than ``res``.
    """
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    parents = cell_to_parent(cells, int(res))
    return group_by_cell(parents, sums=sums, means=means, weights=weights)
