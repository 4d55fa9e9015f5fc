"""Sites to covered cells, against a slow loop over h3.grid_disk and h3.great_circle_distance."""

from __future__ import annotations

import math

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.kernels import coverage
from geodata.kernels.coverage import DEFAULT_RANGE_CAP_M, sites_to_cells
from geodata.technology import TECH_RANK

R2G, R3G, R4G, R5G = (TECH_RANK.index(t) for t in ("2G", "3G", "4G", "5G"))
#: Cell centres differ by ~1e-6 m between h3o and the C library: cells this close to a site's
#: range boundary may fall on either side.
BOUNDARY_M = 1e-3


def _slow(lat, lng, range_m, rank, res, caps):  # type: ignore[no-untyped-def]
    """The obvious loop: a generous disk per site, distance to each cell centre, max rank.

    Returns the surely-covered cells with their best rank, and the cells lying within
    ``BOUNDARY_M`` of a site's range boundary (allowed either way)."""
    best: dict[int, int] = {}
    edge_cells: set[int] = set()
    for la, ln, rg, rk in zip(lat, lng, range_m, rank, strict=True):
        cap = caps[rk]
        radius = min(rg, cap) if (not math.isnan(rg) and rg > 0) else cap
        own = h3.latlng_to_cell(la, ln, res)
        # 3x the edge-length estimate: far more rings than the kernel's own bound
        k = math.ceil(3 * radius / (1.5 * h3.average_hexagon_edge_length(res, "m"))) + 3
        for cell in h3.grid_disk(own, k):
            d = h3.great_circle_distance((la, ln), h3.cell_to_latlng(cell), "m")
            if cell == own or d <= radius - BOUNDARY_M:
                best[cell] = max(best.get(cell, -1), rk)
            elif d <= radius + BOUNDARY_M:
                edge_cells.add(cell)
    return best, edge_cells


def _check(got_cells, got_rank, best, edge_cells):  # type: ignore[no-untyped-def]
    got = dict(zip(got_cells.tolist(), got_rank.tolist(), strict=True))
    assert got_cells.dtype == np.uint64 and got_rank.dtype == np.int8
    assert got_cells.tolist() == sorted(got), "cells must be sorted and distinct"
    missing = set(best) - set(got)
    assert not missing, f"{len(missing)} covered cells missing"
    extra = set(got) - set(best) - edge_cells
    assert not extra, f"{len(extra)} cells beyond every site's range"
    for cell, rank in best.items():
        if cell not in edge_cells:
            assert got[cell] == rank


@st.composite
def sites(draw: st.DrawFn, where: str = "vietnam"):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 6))
    if where == "vietnam":
        lat = draw(st.lists(st.floats(8.0, 24.0), min_size=n, max_size=n))
        lng = draw(st.lists(st.floats(102.0, 110.0), min_size=n, max_size=n))
    else:
        lat = draw(st.lists(st.floats(-89.9, 89.9), min_size=n, max_size=n))
        lng = draw(st.lists(st.floats(-180.0, 180.0), min_size=n, max_size=n))
    rng = st.one_of(st.floats(0.0, 2_500.0), st.just(float("nan")), st.just(-1.0), st.just(1e6))
    range_m = draw(st.lists(rng, min_size=n, max_size=n))
    rank = draw(st.lists(st.sampled_from([R2G, R3G, R4G, R5G]), min_size=n, max_size=n))
    return lat, lng, range_m, rank


SMALL_CAPS = {R2G: 2_500.0, R3G: 1_800.0, R4G: 1_200.0, R5G: 600.0}


@settings(max_examples=40, deadline=None)
@given(sites(), st.sampled_from([6, 7, 8, 9]))
def test_matches_slow_loop_over_vietnam(s, res) -> None:  # type: ignore[no-untyped-def]
    lat, lng, range_m, rank = s
    caps = {r: c * 2.0 ** (8 - res) for r, c in SMALL_CAPS.items()}  # similar disk sizes per res
    got = sites_to_cells(np.array(lat), np.array(lng), np.array(range_m), np.array(rank), res, caps)
    _check(*got, *_slow(lat, lng, range_m, rank, res, caps))


@settings(max_examples=25, deadline=None)
@given(sites(where="globe"), st.sampled_from([4, 6, 8]))
def test_matches_slow_loop_over_the_globe(s, res) -> None:  # type: ignore[no-untyped-def]
    lat, lng, range_m, rank = s
    caps = {r: c * 2.6 ** (8 - res) for r, c in SMALL_CAPS.items()}
    got = sites_to_cells(np.array(lat), np.array(lng), np.array(range_m), np.array(rank), res, caps)
    _check(*got, *_slow(lat, lng, range_m, rank, res, caps))


@pytest.mark.parametrize("res", [2, 5, 8])
def test_sites_on_pentagons_match_slow_loop(res: int) -> None:
    centres = [h3.cell_to_latlng(p) for p in h3.get_pentagons(res)]
    lat, lng = (list(v) for v in zip(*centres, strict=True))
    edge = h3.average_hexagon_edge_length(res, "m")
    range_m = [edge * f for f in np.linspace(0.5, 6.0, len(lat))]
    rank = [R2G, R3G, R4G, R5G] * 3
    caps = dict.fromkeys(rank, 1e9)
    got = sites_to_cells(np.array(lat), np.array(lng), np.array(range_m), np.array(rank), res, caps)
    _check(*got, *_slow(lat, lng, range_m, rank, res, caps))


def test_default_caps_with_real_ranges_match_slow_loop() -> None:
    rng = np.random.default_rng(11)
    n = 12
    lat, lng = rng.uniform(20.9, 21.1, n), rng.uniform(105.7, 105.9, n)
    range_m = np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(7.3, 0.9, n))
    rank = rng.choice([R2G, R3G, R4G, R5G], n)
    got = sites_to_cells(lat, lng, range_m, rank, 7)
    _check(
        *got,
        *_slow(lat.tolist(), lng.tolist(), range_m.tolist(), rank.tolist(), 7, DEFAULT_RANGE_CAP_M),
    )


def test_higher_technology_wins_and_2g_only_area_stays_2g() -> None:
    # a 4G site in Hanoi and a 2G site 2 km east with a larger range
    lat = np.array([21.0285, 21.0285])
    lng = np.array([105.8542, 105.8542 + 2_000 / 103_900])
    for order in ([0, 1], [1, 0]):
        cells, best = sites_to_cells(
            lat[order],
            lng[order],
            np.array([1_500.0, 5_000.0])[order],
            np.array([R4G, R2G])[order],
            8,
        )
        got = dict(zip(cells.tolist(), best.tolist(), strict=True))
        c4, _ = sites_to_cells(lat[:1], lng[:1], [1_500.0], [R4G], 8)
        c2, _ = sites_to_cells(lat[1:], lng[1:], [5_000.0], [R2G], 8)
        assert all(got[c] == R4G for c in c4.tolist())  # never downgraded by the 2G site
        only_2g = set(c2.tolist()) - set(c4.tolist())
        assert only_2g and all(got[c] == R2G for c in only_2g)  # 2G, not "none"
        assert set(got) == set(c4.tolist()) | set(c2.tolist())


def test_merge_is_idempotent_and_order_free() -> None:
    rng = np.random.default_rng(5)
    n = 40
    lat, lng = rng.uniform(10.7, 10.9, n), rng.uniform(106.6, 106.8, n)
    range_m, rank = rng.uniform(300, 4_000, n), rng.choice([R2G, R3G, R4G, R5G], n)
    once = sites_to_cells(lat, lng, range_m, rank, 8)
    perm = rng.permutation(n)
    twice = np.concatenate([perm, perm])
    again = sites_to_cells(lat[twice], lng[twice], range_m[twice], rank[twice], 8)
    assert np.array_equal(once[0], again[0]) and np.array_equal(once[1], again[1])


def test_missing_range_uses_cap_and_large_range_is_capped() -> None:
    lat, lng = np.array([16.0]), np.array([108.0])
    cap = DEFAULT_RANGE_CAP_M[R3G]
    at_cap = sites_to_cells(lat, lng, [cap], [R3G], 8)
    for rng in (np.nan, 0.0, -5.0, 50_000.0):
        got = sites_to_cells(lat, lng, [rng], [R3G], 8)
        assert np.array_equal(got[0], at_cap[0])


def test_own_cell_always_covered() -> None:
    lat, lng = np.array([21.0, 12.5]), np.array([105.8, 108.1])
    cells, best = sites_to_cells(lat, lng, [1.0, 1.0], [R2G, R5G], 7)
    own = sorted(h3.latlng_to_cell(a, b, 7) for a, b in zip(lat, lng, strict=True))
    assert cells.tolist() == own and sorted(best.tolist()) == [R2G, R5G]


def test_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    n = 30
    lat, lng = rng.uniform(20.9, 21.2, n), rng.uniform(105.7, 106.0, n)
    range_m, rank = rng.uniform(300, 6_000, n), rng.choice([R2G, R3G, R4G, R5G], n)
    whole = sites_to_cells(lat, lng, range_m, rank, 9)
    monkeypatch.setattr(coverage, "_PAIRS_PER_BATCH", 2_000)  # a few sites per batch
    chunked = sites_to_cells(lat, lng, range_m, rank, 9)
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])


def test_empty() -> None:
    ranks: list[npt.ArrayLike] = [np.array([], dtype=np.int8), []]
    for rank in ranks:
        cells, best = sites_to_cells([], [], [], rank, 8)
        assert cells.size == best.size == 0 and cells.dtype == np.uint64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([np.nan], [105.0], [100.0], [R2G], 8), "site 0 has an invalid position"),
        (([21.0, 95.0], [105.0, 105.0], [100.0, 1.0], [R2G, R2G], 8), "site 1"),
        (([21.0], [105.0], [100.0], [0], 8), "no range cap"),
        (([21.0], [105.0], [100.0], [9], 8), "no range cap"),
        (([21.0], [105.0], [100.0], [1.5], 8), "integer"),
        (([21.0], [105.0], [100.0, 3.0], [R2G], 8), "range_m has 2 values"),
        (([21.0], [105.0], [100.0], [R2G], 16), "resolution"),
        (([21.0], [105.0], [100.0], [R2G], 8, {R2G: np.inf}), "finite caps"),
        (([21.0], [105.0], [100.0], [R2G], 8, {R2G: 0.0}), "finite caps"),
        (([21.0, 21.0], [105.0, 105.0], [10.0, 10_000.0], [R2G, R2G], 14), "site 1: .* coarser"),
    ],
)
def test_bad_input_raises(args, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        sites_to_cells(*args)


@settings(max_examples=30, deadline=None)
@given(
    sites(),
    st.data(),
    st.sampled_from([7, 8]),
)
def test_first_cover_at_any_date_is_the_sites_created_by_then(s, data, res) -> None:  # type: ignore[no-untyped-def]
    """The oracle: for every date, the coverage of the sites created by then, one pass each."""
    lat, lng, range_m, rank = s
    n = len(lat)
    created = np.array(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.int64)
    caps = {r: c * 2.0 ** (8 - res) for r, c in SMALL_CAPS.items()}
    la, ln, rg, rk = (np.array(x) for x in (lat, lng, range_m, rank))
    cells, ranks, first = coverage.sites_first_cover(la, ln, rg, rk, created, res, caps)
    for when in range(6):
        on = created <= when
        want = sites_to_cells(la[on], ln[on], rg[on], rk[on], res, caps)
        got = coverage.best_rank_at(cells, ranks, first, when)
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()
    # every date at once: the same cells and ranks as the plain kernel
    all_cells, best = sites_to_cells(la, ln, rg, rk, res, caps)
    at_end = coverage.best_rank_at(cells, ranks, first, coverage.NEVER - 1)
    assert at_end[0].tolist() == all_cells.tolist() and at_end[1].tolist() == best.tolist()


def test_first_cover_takes_the_earliest_site_of_each_technology() -> None:
    lat, lng = np.array([21.0, 21.0, 21.0]), np.array([105.8, 105.8, 105.8])
    cells, ranks, first = coverage.sites_first_cover(
        lat, lng, np.array([500.0] * 3), np.array([R4G, R4G, R5G]), np.array([30, 10, 20]), 8
    )
    own = h3.latlng_to_cell(21.0, 105.8, 8)
    got = {(int(c), int(r)): int(f) for c, r, f in zip(cells, ranks, first, strict=True)}
    assert got[(own, R4G)] == 10 and got[(own, R5G)] == 20
