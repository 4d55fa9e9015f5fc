"""Cell sites to covered H3 cells, with the best mobile technology available in each cell.

A site covers every cell whose centre lies within its range (great-circle distance on H3's
sphere, the same as ``h3.great_circle_distance``), and always its own cell. Where sites overlap,
the cell keeps the highest technology rank (``geodata.technology.TECH_RANK``): a 2G site never
downgrades a 4G cell, and a 2G-only area stays 2G.

The work is vectorised over all sites: sites are grouped by the grid-disk radius ``k`` their
range needs, ``grid_disk`` runs once per distinct ``k`` (in chunks that keep memory bounded),
candidate cells are filtered by distance and the best rank per cell is kept.

Examples
--------
>>> cells, best = sites_to_cells(
...     lat=np.array([21.0285, 21.0300]), lng=np.array([105.8542, 105.8600]),
...     range_m=np.array([1500.0, np.nan]), tech_rank=np.array([1, 3]), res=8)
>>> int(best.max()), bool((best >= 1).all())
(3, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.kernels.cells import (
    CellArray,
    cell_area_km2,
    cells_to_latlng,
    grid_disk,
    latlng_to_cells,
)
from geodata.kernels.sphere import EARTH_RADIUS_KM
from geodata.technology import TECH_RANK

__all__ = [
    "ALWAYS",
    "NEVER",
    "DEFAULT_RANGE_CAP_M",
    "EARTH_RADIUS_M",
    "best_rank_at",
    "best_rank_per_cell",
    "cells_within",
    "range_cap_counts",
    "sites_first_cover",
    "sites_to_cells",
]

#: Mean earth radius used by the H3 library (``EARTH_RADIUS_KM`` in ``h3api.h``), in metres.
EARTH_RADIUS_M = EARTH_RADIUS_KM * 1000.0

#: Largest range (metres) credited to a site, per technology rank.
#:
#: OpenCelliD / MLS ``range`` is estimated from the spread of crowd-sourced samples and is often
#: inflated by a few far-away samples, so it is capped at a typical *macro-cell planning radius*
#: per generation (engineering orders of magnitude, not measurements; configurable):
#: 2G 10 km (GSM 900 rural macro cells; the 35 km timing-advance limit is rarely reached),
#: 3G 6 km (UMTS 2100 cells shrink with load, "cell breathing"), 4G 4 km (LTE 1800, Vietnam's main
#: LTE band, suburban/rural), 5G 1 km (NR 3.5 GHz mid-band, urban small/macro cells).
#: A site whose range is missing, zero or negative gets its cap.
DEFAULT_RANGE_CAP_M: Mapping[int, float] = MappingProxyType(
    {
        TECH_RANK.index("2G"): 10_000.0,
        TECH_RANK.index("3G"): 6_000.0,
        TECH_RANK.index("4G"): 4_000.0,
        TECH_RANK.index("5G"): 1_000.0,
    }
)

#: Grid-disk cells handled at once (about 60 bytes each: bounds memory to ~500 MB).
_PAIRS_PER_BATCH = 1 << 23
#: The k-disk must reach cells whose centre is up to ``range + edge`` from the site cell's centre;
#: a cell at grid distance j is at least 1.5 * j * edge away on a regular hexagon grid. H3 cells
#: are not regular: measured over the globe (pentagon neighbourhoods included) the ring needed is
#: at most 1.021 x that estimate + 0.15; keep 5 % slack on the edge length and one extra ring.
_EDGE_SLACK = 0.95


def range_cap_counts(
    range_m: npt.ArrayLike,
    tech_rank: npt.ArrayLike,
    caps_m: Mapping[int, float] = DEFAULT_RANGE_CAP_M,
) -> dict[str, dict[str, float]]:
    """Per technology: sites, the cap (m), sites whose stated range exceeded it (capped) and
    sites with no usable range (the cap is used), for metadata.

    >>> range_cap_counts([500, 9000, float("nan")], [3, 3, 3])["4G"]
    {'cap_m': 4000.0, 'sites': 3, 'capped': 1, 'no_range': 1}
    """
    r = np.asarray(range_m, dtype=np.float64)
    k = np.asarray(tech_rank, dtype=np.int64)
    out: dict[str, dict[str, float]] = {}
    for rank, cap in sorted(caps_m.items()):
        mine = k == rank
        if not mine.any():
            continue
        rr = r[mine]
        unknown = ~np.isfinite(rr) | (rr <= 0)
        out[TECH_RANK[rank]] = {
            "cap_m": float(cap),
            "sites": int(mine.sum()),
            "capped": int((~unknown & (rr > cap)).sum()),
            "no_range": int(unknown.sum()),
        }
    return out


def sites_to_cells(
    lat: npt.ArrayLike,
    lng: npt.ArrayLike,
    range_m: npt.ArrayLike,
    tech_rank: npt.ArrayLike,
    res: int,
    caps_m: Mapping[int, float] = DEFAULT_RANGE_CAP_M,
) -> tuple[CellArray, npt.NDArray[np.int8]]:
    """Cells covered by the sites and the best technology rank available in each.

    Parameters
    ----------
    lat, lng : site position in degrees (finite).
    range_m : site range in metres; NaN, 0 or negative means unknown (the cap is used).
    tech_rank : technology rank of each site (index in ``TECH_RANK``: 1 = 2G ... 4 = 5G).
    res : H3 resolution 0..15.
    caps_m : largest range credited per rank; every rank in ``tech_rank`` needs an entry.

    Returns
    -------
    cells : distinct covered cells, sorted ascending.
    best_rank : ``int8`` highest rank of a site covering each cell.

    Raises
    ------
    ValueError
        On mismatched lengths, a non-finite or out-of-range position, a rank without a cap, a
        cap that is not positive, or a resolution outside 0..15 (the first bad site is named);
        when one site's disk would exceed ``_PAIRS_PER_BATCH`` cells (range far larger than
        the cells: pick a coarser resolution).
    """
    la, ln, radius, rank = _sites(lat, lng, range_m, tech_rank, caps_m)
    found_cells: list[CellArray] = []
    found_ranks: list[npt.NDArray[np.int8]] = []
    for uniq, codes, origin in _covered_pairs(la, ln, radius, res):
        best = np.full(uniq.size, -1, dtype=np.int8)
        np.maximum.at(best, codes, rank[origin])
        covered = best >= 0
        found_cells.append(np.asarray(uniq, dtype=np.uint64)[covered])
        found_ranks.append(best[covered])
    if not found_cells:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int8)
    return best_rank_per_cell(np.concatenate(found_cells), np.concatenate(found_ranks))


#: ``since`` of a source that is always there (no date): before any quarter.
ALWAYS = np.iinfo(np.int64).min
#: ``since`` of a technology a cell never gets.
NEVER = np.iinfo(np.int64).max


def sites_first_cover(
    lat: npt.ArrayLike,
    lng: npt.ArrayLike,
    range_m: npt.ArrayLike,
    tech_rank: npt.ArrayLike,
    since: npt.ArrayLike,
    res: int,
    caps_m: Mapping[int, float] = DEFAULT_RANGE_CAP_M,
) -> tuple[CellArray, npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    """When each cell was first covered by each technology: the earliest ``since`` (e.g. the
    OpenCelliD ``created`` time, unix seconds) of a site of that rank within range.

    The same cells and distances as :func:`sites_to_cells` (so ``max`` of the ranks returned for a
    cell equals its ``best_rank`` there), one pass over the sites: the coverage of any date ``t``
    is then ``max(rank where since <= t)`` (:func:`best_rank_at`), with no second pass per quarter.

    Returns
    -------
    cells, ranks, first_since : distinct ``(cell, rank)`` pairs sorted by cell then rank, and the
        earliest ``since`` of a site of that rank covering the cell (``ALWAYS`` passes through:
        use it for sites without a date).
    """
    la, ln, radius, rank = _sites(lat, lng, range_m, tech_rank, caps_m)
    when = np.asarray(since, dtype=np.int64).ravel()
    if when.size != la.size:
        raise ValueError(f"since has {when.size} values for {la.size} sites")
    n_ranks = len(TECH_RANK)
    parts_c, parts_r, parts_s = [], [], []
    for uniq, codes, origin in _covered_pairs(la, ln, radius, res):
        first = np.full(uniq.size * n_ranks, NEVER, dtype=np.int64)
        np.minimum.at(first, codes * n_ranks + rank[origin], when[origin])
        hit = np.flatnonzero(first != NEVER)
        parts_c.append(np.asarray(uniq, dtype=np.uint64)[hit // n_ranks])
        parts_r.append((hit % n_ranks).astype(np.int8))
        parts_s.append(first[hit])
    if not parts_c:
        return np.zeros(0, np.uint64), np.zeros(0, np.int8), np.zeros(0, np.int64)
    cells, ranks, first = (np.concatenate(p) for p in (parts_c, parts_r, parts_s))
    order = np.lexsort((first, ranks, cells))  # batches overlap: keep each pair's earliest
    cells, ranks, first = cells[order], ranks[order], first[order]
    head = np.r_[True, (cells[1:] != cells[:-1]) | (ranks[1:] != ranks[:-1])]
    return cells[head], ranks[head], first[head]


def best_rank_at(
    cells: CellArray,
    ranks: npt.NDArray[np.int8],
    first_since: npt.NDArray[np.int64],
    when: int,
) -> tuple[CellArray, npt.NDArray[np.int8]]:
    """Sorted distinct cells covered at time ``when`` (``first_since <= when``) and their best
    rank then, from the pairs of :func:`sites_first_cover`."""
    on = np.asarray(first_since) <= int(when)
    return best_rank_per_cell(np.asarray(cells, np.uint64)[on], np.asarray(ranks, np.int8)[on])


def _covered_pairs(
    la: npt.NDArray[np.float64],
    ln: npt.NDArray[np.float64],
    radius: npt.NDArray[np.float64],
    res: int,
):
    """Per batch of sites: ``(distinct disk cells, cell code, site index)`` of every pair of a
    cell and a site whose range reaches the cell's centre (or whose own cell it is)."""
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    if la.size == 0:
        return
    site_cells = latlng_to_cells(la, ln, int(res))
    site_xyz = _unit_vectors(la, ln)
    # squared chord on the unit sphere of the range: d <= r  <=>  |p - q|^2 <= (2 sin(r/2R))^2
    chord2 = (2.0 * np.sin(radius / (2.0 * EARTH_RADIUS_M))) ** 2
    k = _disk_radius(site_cells, radius)
    worst = int(np.argmax(k))
    if 3 * int(k[worst]) * (int(k[worst]) + 1) + 1 > _PAIRS_PER_BATCH:
        raise ValueError(
            f"site {worst}: a range of {radius[worst]:.0f} m spans a {k[worst]}-ring disk at "
            f"resolution {res} (over {_PAIRS_PER_BATCH:,} cells); use a coarser resolution"
        )
    for pieces in _batches(site_cells, k):
        disks, origins = [], []
        for idx, kk in pieces:  # one grid_disk call per distinct k (per batch)
            disk, origin = grid_disk(site_cells[idx], kk)
            disks.append(disk)
            origins.append(idx[origin])
        disk, origin = np.concatenate(disks), np.concatenate(origins)
        codes, uniq = pd.factorize(disk)  # nearby sites share most disk cells: centres once each
        u_lat, u_lng = cells_to_latlng(uniq)
        u_xyz = _unit_vectors(u_lat, u_lng)
        d2 = np.zeros(disk.size)
        for axis in range(3):
            d2 += (u_xyz[axis][codes] - site_xyz[axis][origin]) ** 2
        keep = (d2 <= chord2[origin]) | (disk == site_cells[origin])
        yield uniq, codes[keep].astype(np.int64), origin[keep]


def cells_within(cells: npt.ArrayLike, radius_m: float) -> tuple[npt.NDArray[np.int64], CellArray]:
    """Every pair (origin, cell) where ``cell``'s centre lies within ``radius_m`` of the centre
    of ``cells[origin]`` (great-circle distance on H3's sphere, the origin itself included).

    The same disk-and-distance test as :func:`sites_to_cells`, for cells instead of sites: what
    a site placed at a cell's centre would reach. Returns ``(origin_index, cell)``, int64 and
    uint64 arrays, ordered by batch of origins.
    """
    c = np.asarray(cells, dtype=np.uint64).ravel()
    if c.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    radius = np.full(c.size, float(radius_m))
    lat, lng = cells_to_latlng(c)
    xyz = _unit_vectors(lat, lng)
    chord2 = (2.0 * np.sin(radius / (2.0 * EARTH_RADIUS_M))) ** 2
    k = _disk_radius(c, radius)
    origins_out: list[npt.NDArray[np.int64]] = []
    cells_out: list[CellArray] = []
    for pieces in _batches(c, k):
        for idx, kk in pieces:
            disk, origin = grid_disk(c[idx], kk)
            origin = idx[origin]
            codes, uniq = pd.factorize(disk)
            u_lat, u_lng = cells_to_latlng(np.asarray(uniq, dtype=np.uint64))
            u_xyz = _unit_vectors(u_lat, u_lng)
            d2 = np.zeros(disk.size)
            for axis in range(3):
                d2 += (u_xyz[axis][codes] - xyz[axis][origin]) ** 2
            keep = (d2 <= chord2[origin]) | (disk == c[origin])
            origins_out.append(origin[keep].astype(np.int64))
            cells_out.append(disk[keep])
    return np.concatenate(origins_out), np.concatenate(cells_out)


def _sites(
    lat: npt.ArrayLike,
    lng: npt.ArrayLike,
    range_m: npt.ArrayLike,
    tech_rank: npt.ArrayLike,
    caps_m: Mapping[int, float],
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int8]
]:
    """Validated site arrays and the effective radius ``min(range, cap)`` of each site."""
    la = np.asarray(lat, dtype=np.float64).ravel()
    ln = np.asarray(lng, dtype=np.float64).ravel()
    rng = np.asarray(range_m, dtype=np.float64).ravel()
    rank = np.asarray(tech_rank).ravel()
    n = la.size
    for name, arr in (("lng", ln), ("range_m", rng), ("tech_rank", rank)):
        if arr.size != n:
            raise ValueError(f"{name} has {arr.size} values for {n} sites")
    if rank.size == 0:
        rank = rank.astype(np.int8)
    if not np.issubdtype(rank.dtype, np.integer):
        raise ValueError(f"tech_rank must hold integer ranks, got dtype {rank.dtype}")
    bad = ~(np.isfinite(la) & np.isfinite(ln) & (np.abs(la) <= 90) & (np.abs(ln) <= 180))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"site {i} has an invalid position lat={la[i]!r}, lng={ln[i]!r}")
    cap_table = np.full(len(TECH_RANK), np.nan)
    for r, c in caps_m.items():
        if not 0 <= int(r) < len(TECH_RANK) or not 0 < float(c) < np.inf:
            raise ValueError(
                f"caps_m needs ranks 0..{len(TECH_RANK) - 1} and finite caps > 0, got {r}: {c}"
            )
        cap_table[int(r)] = float(c)
    in_table = (rank >= 0) & (rank < len(TECH_RANK))
    cap = np.full(n, np.nan)
    cap[in_table] = cap_table[rank[in_table]]
    bad = np.isnan(cap)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"site {i} has technology rank {rank[i]} with no range cap in {dict(caps_m)}"
        )
    known = np.isfinite(rng) & (rng > 0)
    radius = np.where(known, np.minimum(np.where(known, rng, 0.0), cap), cap)
    return la, ln, radius, rank.astype(np.int8)


def _unit_vectors(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Unit vectors ``(3, n)`` of points on the sphere."""
    phi = np.radians(lat)
    lam = np.radians(lng)
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def _disk_radius(site_cells: CellArray, radius: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Grid-disk radius that surely holds every cell whose centre is within ``radius``."""
    uniq, inverse = np.unique(site_cells, return_inverse=True)  # many sites share a cell
    area_m2 = cell_area_km2(uniq)[inverse] * 1e6
    edge = np.sqrt(2.0 * area_m2 / (3.0 * np.sqrt(3.0)))  # regular hexagon of that area
    return (np.ceil((radius + edge) / (1.5 * edge * _EDGE_SLACK)) + 1).astype(np.int64)


def _batches(
    site_cells: CellArray, k: npt.NDArray[np.int64]
) -> list[list[tuple[npt.NDArray[np.intp], int]]]:
    """Sites split into batches of at most ``_PAIRS_PER_BATCH`` disk cells.

    Each batch is a list of ``(site indices, k)`` pieces. Sites are ordered by cell within each
    ``k`` so that a batch holds neighbours, whose disks overlap (cell centres are computed once
    per batch); one batch usually holds several ``k``.
    """
    batches: list[list[tuple[npt.NDArray[np.intp], int]]] = [[]]
    room = _PAIRS_PER_BATCH
    for kk in np.unique(k).tolist():
        sel = np.flatnonzero(k == kk)
        sel = sel[np.argsort(site_cells[sel], kind="stable")]
        size = 3 * kk * (kk + 1) + 1  # cells in a k-disk
        start = 0
        while start < sel.size:
            take = max(1, min(sel.size - start, room // size))
            if take * size > room and batches[-1]:  # not even one disk fits: new batch
                batches.append([])
                room = _PAIRS_PER_BATCH
                continue
            batches[-1].append((sel[start : start + take], kk))
            room -= take * size
            start += take
            if room < size:
                batches.append([])
                room = _PAIRS_PER_BATCH
    return [b for b in batches if b]


def best_rank_per_cell(
    cells: CellArray, ranks: npt.NDArray[np.int8]
) -> tuple[CellArray, npt.NDArray[np.int8]]:
    """Sorted distinct cells with the maximum rank found for each."""
    uniq, inverse = np.unique(cells, return_inverse=True)
    best = np.full(uniq.size, -1, dtype=np.int8)
    np.maximum.at(best, inverse, ranks)
    return uniq, best
