"""Where the next mobile sites go: a site-by-site plan that reaches the most people first.

**The problem** is maximum coverage on the H3 grid. *Targets* are the cells where people live
whose best mobile technology is below 4G (``best_tech_rank`` 0..2: none, 2G, 3G; unknown, -1,
is not a target: no evidence of a gap). *Candidates* are every cell whose centre lies within the
site radius of a target's centre. A site at a candidate's centre reaches the targets whose
centres lie within the radius (great-circle distance on H3's sphere, the test the coverage model
applies to existing sites).

**Greedy choice.** Site 1 is the candidate reaching the most people; site ``n`` the candidate
reaching the most people that sites 1..n-1 do not reach. Ties go to the lower cell id. Coverage is
submodular, so this greedy sequence reaches at least ``1 - 1/e`` (63 %) of the best possible
for every number of sites (Nemhauser, Wolsey and Fisher 1978), and a site's marginal gain can
only shrink as others are chosen. That makes the *lazy* greedy (CELF, Leskovec et al. 2007)
exact: a candidate's last computed gain is an upper bound, so it is re-evaluated only when that
bound reaches the top. People are counted in integer milli-persons, so every sum is exact and
the lazy and the plain greedy agree to the last digit, ties included.

**Vectorised.** The candidate -> target pairs are built once with grid disks and one distance
test (:func:`geodata.kernels.coverage.cells_within`), stored as a CSR matrix; the first gains are
one ``np.add.reduceat``; a re-evaluation sums one row (a few hundred entries). The only Python
loop is per *chosen site* (and its few re-evaluations), never per cell.

Examples
--------
>>> plan = plan_sites(cells, people, tech_rank, n_sites=1000)   # doctest: +SKIP
>>> plan.sites[["rank", "people_new", "people_cumulative"]].head(3)  # doctest: +SKIP
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.kernels.cells import cells_to_latlng
from geodata.kernels.coverage import cells_within
from geodata.planning.costs import DEFAULT_COSTS, PlanCosts
from geodata.technology import TECH_RANK

__all__ = ["GAP_MAX_TECH_RANK", "SitePlan", "plan_sites", "mobile_targets"]

#: A target has best technology rank at most this (0 none, 1 2G, 2 3G): "no better than 3G".
GAP_MAX_TECH_RANK = 2
_MILLI = 1000


@dataclass
class SitePlan:
    """A ranked list of sites and what each reaches.

    ``sites``: ``rank`` (1..n), ``cell`` (uint64), ``lat, lng`` (the site cell's centre),
    ``people_new`` (people first reached by this site), ``people_cumulative``, ``targets_new``
    (cells first reached), ``cost_usd``, ``cost_cumulative_usd``. ``reached_by[i]`` is the rank of
    the site that first reaches target ``targets[i]`` (0: no site).
    """

    sites: pd.DataFrame
    targets: npt.NDArray[np.uint64]
    people: npt.NDArray[np.float64]
    reached_by: npt.NDArray[np.int64]
    candidates: int
    costs: PlanCosts = field(default_factory=lambda: DEFAULT_COSTS)

    @property
    def people_in_need(self) -> float:
        return float(self.people.sum())

    @property
    def people_reached(self) -> float:
        return float(self.people[self.reached_by > 0].sum())


def mobile_targets(
    cells: pd.DataFrame, below: str = "4G"
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    """Targets of the mobile plan from a cell table (``cell, population, best_tech_rank``):
    populated cells whose best technology is known and below ``below`` (the planned sites'
    technology: "4G" targets none, 2G and 3G; "5G" targets 4G cells too)."""
    rank = cells["best_tech_rank"].to_numpy(np.int64)
    pop = cells["population"].to_numpy(np.float64)
    top = TECH_RANK.index(below) - 1 if below in TECH_RANK[1:] else GAP_MAX_TECH_RANK
    need = (rank >= 0) & (rank <= top) & (pop > 0)
    return cells["cell"].to_numpy(np.uint64)[need], pop[need]


def _csr(
    targets: npt.NDArray[np.uint64], radius_m: float
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Candidates (sorted cells) and, per candidate, the targets it reaches (CSR)."""
    origin, cell = cells_within(targets, radius_m)
    order = np.argsort(cell, kind="stable")
    cell, origin = cell[order], origin[order]
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    candidates = cell[starts]
    indptr = np.r_[starts, cell.size].astype(np.int64)
    return candidates, indptr, origin.astype(np.int32)


def plan_sites(
    targets: npt.ArrayLike,
    people: npt.ArrayLike,
    *,
    n_sites: int = 1000,
    costs: PlanCosts = DEFAULT_COSTS,
) -> SitePlan:
    """Choose up to ``n_sites`` sites greedily (exact lazy greedy, see the module docstring).

    Parameters
    ----------
    targets : distinct H3 cells in need (all of one resolution)
    people : people in each target (>= 0)
    n_sites : most sites to choose; fewer when every target is reached
    costs : site radius and unit cost (:class:`geodata.planning.costs.PlanCosts`)
    """
    t = np.asarray(targets, dtype=np.uint64).ravel()
    p = np.asarray(people, dtype=np.float64).ravel()
    if t.size != p.size:
        raise ValueError(f"{t.size} targets but {p.size} people values")
    if np.unique(t).size != t.size:
        raise ValueError("targets must be distinct cells")
    if (p < 0).any() or not np.isfinite(p).all():
        raise ValueError("people must be finite and >= 0")
    w = np.rint(p * _MILLI).astype(np.int64)  # exact integer sums
    reached_by = np.zeros(t.size, dtype=np.int64)
    if t.size == 0 or n_sites <= 0:
        return SitePlan(_empty_sites(), t, p, reached_by, 0, costs)
    candidates, indptr, indices = _csr(t, costs.site_radius_km * 1000.0)
    gains = np.add.reduceat(w[indices], indptr[:-1]) if indices.size else np.zeros(0, np.int64)
    # candidates in order of their first gain (ties: lower cell), consumed lazily beside a heap
    # of re-evaluated candidates: (-gain, cell, index, sites chosen when evaluated)
    order = np.lexsort((candidates, -gains))
    pos = 0
    heap: list[tuple[int, int, int, int]] = []
    chosen: list[int] = []
    new_people: list[int] = []
    new_targets: list[int] = []
    while len(chosen) < n_sites:
        stamp = len(chosen)
        # the best bound: the next unvisited candidate or the heap's top
        take_heap = bool(heap) and (
            pos >= order.size
            or (heap[0][0], heap[0][1]) <= (-int(gains[order[pos]]), int(candidates[order[pos]]))
        )
        if take_heap:
            neg, cell, i, when = heapq.heappop(heap)
        elif pos < order.size:
            i = int(order[pos])
            neg, cell, when = -int(gains[i]), int(candidates[i]), 0
            pos += 1
        else:
            break
        if when != stamp:  # stale bound: re-evaluate and put back
            row = indices[indptr[i] : indptr[i + 1]]
            gain = int(w[row].sum())
            if gain > 0:
                heapq.heappush(heap, (-gain, cell, i, stamp))
            continue
        if -neg <= 0:
            break
        row = indices[indptr[i] : indptr[i + 1]]
        fresh = row[w[row] > 0]
        reached_by[fresh] = stamp + 1
        w[fresh] = 0
        chosen.append(i)
        new_people.append(-neg)
        new_targets.append(int(fresh.size))
    cells = candidates[np.asarray(chosen, dtype=np.int64)]
    lat, lng = cells_to_latlng(cells)
    people_new = np.asarray(new_people, dtype=np.float64) / _MILLI
    n = cells.size
    sites = pd.DataFrame(
        {
            "rank": np.arange(1, n + 1, dtype=np.int64),
            "cell": cells,
            "lat": lat,
            "lng": lng,
            "people_new": people_new,
            "people_cumulative": np.cumsum(np.asarray(new_people, dtype=np.int64)) / _MILLI,
            "targets_new": np.asarray(new_targets, dtype=np.int64),
            "cost_usd": np.full(n, costs.site_cost_usd),
            "cost_cumulative_usd": costs.site_cost_usd * np.arange(1, n + 1, dtype=np.float64),
        }
    )
    return SitePlan(sites, t, p, reached_by, int(candidates.size), costs)


def _empty_sites() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": pd.Series(dtype=np.int64),
            "cell": pd.Series(dtype=np.uint64),
            "lat": pd.Series(dtype=np.float64),
            "lng": pd.Series(dtype=np.float64),
            "people_new": pd.Series(dtype=np.float64),
            "people_cumulative": pd.Series(dtype=np.float64),
            "targets_new": pd.Series(dtype=np.int64),
            "cost_usd": pd.Series(dtype=np.float64),
            "cost_cumulative_usd": pd.Series(dtype=np.float64),
        }
    )
