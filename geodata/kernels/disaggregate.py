"""Spread group-level statistics (e.g. per province) over the group's H3 cells.

Counts (subscribers, households online, ...) are split in proportion to each cell's population,
so a group's cells add up to the group's value. Rates (percentages, shares, prices) are
intensive: every cell of the group gets the group's rate.

Examples
--------
>>> values, without_cells = disaggregate_by_population(
...     cell_group=np.array(["01", "01", "02"]),
...     cell_population=np.array([30.0, 10.0, 5.0]),
...     group_codes=np.array(["01", "02", "04"]),
...     group_values=np.array([100.0, 7.0, 9.0]),
...     kind="count",
... )
>>> values.tolist(), without_cells.tolist()
([75.0, 25.0, 7.0], ['04'])
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["disaggregate_by_population"]


def disaggregate_by_population(
    cell_group: npt.ArrayLike,
    cell_population: npt.ArrayLike,
    group_codes: npt.ArrayLike,
    group_values: npt.ArrayLike,
    kind: Literal["count", "rate"],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.generic]]:
    """Value of each cell from the value of its group.

    Parameters
    ----------
    cell_group : group code (e.g. official province code) of each cell.
    cell_population : finite, non-negative population of each cell.
    group_codes : the distinct codes that have a value.
    group_values : the value of each code in ``group_codes`` (NaN passes through as NaN).
    kind : ``"count"``: split the value by population share within the group (a group whose
        cells hold no population is spread equally over its cells), so the cells of a group
        sum to its value; ``"rate"``: give every cell the group's value unchanged.

    Returns
    -------
    values : ``float64`` per cell; NaN for a cell whose group is not in ``group_codes``.
    without_cells : the codes of ``group_codes`` (input order) that no cell belongs to: their
        value is *not* in ``values``, so a caller checking conservation must account for them.

    Raises
    ------
    ValueError
        On unknown ``kind``, mismatched lengths, duplicated group codes, or a population that
        is negative or not finite (the first offending cell is named).
    """
    if kind not in ("count", "rate"):
        raise ValueError(f"kind must be 'count' or 'rate', got {kind!r}")
    groups = np.asarray(cell_group).ravel()
    pop = np.asarray(cell_population, dtype=np.float64).ravel()
    codes = np.asarray(group_codes).ravel()
    gvals = np.asarray(group_values, dtype=np.float64).ravel()
    if groups.size != pop.size:
        raise ValueError(f"{groups.size} cell groups but {pop.size} cell populations")
    if codes.size != gvals.size:
        raise ValueError(f"{codes.size} group codes but {gvals.size} group values")
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"cell population must be finite and >= 0; cell {i} has {pop[i]!r}")
    index = pd.Index(codes)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique().tolist()
        raise ValueError(f"group codes {dup} appear more than once")

    g = index.get_indexer(groups)  # -1: the cell's group has no value
    known = g >= 0
    n_cells = np.bincount(g[known], minlength=codes.size)
    without_cells = codes[n_cells == 0]
    values = np.full(pop.size, np.nan)
    gk = g[known]
    if kind == "rate":
        values[known] = gvals[gk]
        return values, without_cells
    group_pop = np.bincount(gk, weights=pop[known], minlength=codes.size)
    has_pop = group_pop[gk] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(has_pop, pop[known] / group_pop[gk], 1.0 / n_cells[gk])
    values[known] = gvals[gk] * share
    return values, without_cells
