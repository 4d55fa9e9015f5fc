"""The vectorised cell adapters agree with the h3 scalar API (h3-py, the oracle)."""

from __future__ import annotations

import h3.api.basic_int as h3
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geodata.kernels.cells import (
    cell_area_km2,
    cell_to_parent,
    cells_resolution,
    cells_to_latlng,
    cells_to_strings,
    cells_valid,
    grid_disk,
    latlng_to_cells,
)

RES = st.integers(0, 15)
VIETNAM = st.tuples(st.floats(8.0, 24.0), st.floats(102.0, 110.0))
GLOBE = st.tuples(st.floats(-90.0, 90.0), st.floats(-180.0, 180.0))
POINTS = st.lists(st.one_of(VIETNAM, GLOBE), min_size=1, max_size=40)
EDGE_POINTS = [
    (90.0, 0.0),
    (-90.0, 0.0),
    (0.0, 180.0),
    (0.0, -180.0),
    (89.99, 179.99),
    (-0.0, -0.0),
]
PENTAGONS = [p for r in range(16) for p in h3.get_pentagons(r)]


def _cells_of(points: list[tuple[float, float]], res: int) -> np.ndarray:
    lat, lng = np.array(points).T
    return latlng_to_cells(lat, lng, res)


@st.composite
def cells(draw: st.DrawFn, max_size: int = 20) -> np.ndarray:
    """Valid cells: random points at random resolutions, plus pentagons."""
    points = draw(st.lists(st.one_of(VIETNAM, GLOBE), min_size=1, max_size=max_size))
    res = draw(st.lists(RES, min_size=len(points), max_size=len(points)))
    out = [h3.latlng_to_cell(la, ln, r) for (la, ln), r in zip(points, res, strict=True)]
    out += draw(st.lists(st.sampled_from(PENTAGONS), max_size=4))
    return np.array(out, dtype=np.uint64)


@settings(max_examples=150, deadline=None)
@given(POINTS, RES)
@example(EDGE_POINTS, 0)
@example(EDGE_POINTS, 8)
@example(EDGE_POINTS, 15)
def test_latlng_to_cells_matches_h3(points: list[tuple[float, float]], res: int) -> None:
    got = _cells_of(points, res)
    assert got.dtype == np.uint64
    assert got.tolist() == [h3.latlng_to_cell(la, ln, res) for la, ln in points]


def test_latlng_to_cells_every_resolution_over_vietnam() -> None:
    rng = np.random.default_rng(1)
    lat, lng = rng.uniform(8, 24, 300), rng.uniform(102, 110, 300)
    for res in range(16):
        want = [h3.latlng_to_cell(a, b, res) for a, b in zip(lat, lng, strict=True)]
        assert latlng_to_cells(lat, lng, res).tolist() == want


def test_latlng_to_cells_large_input_split_over_threads() -> None:
    rng = np.random.default_rng(2)
    n = 450_001  # above the threading threshold: chunks on every core
    lat, lng = rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)
    lat[::997] = np.nan
    got = latlng_to_cells(lat, lng, 9)
    sample = np.r_[0, n - 1, rng.integers(0, n, 3000), np.arange(0, n, 997)[:50]]
    for i in sample.tolist():
        want = h3.latlng_to_cell(lat[i], lng[i], 9) if np.isfinite(lat[i]) else 0
        assert int(got[i]) == want
    grid = latlng_to_cells(lat[:6].reshape(2, 3), lng[:6].reshape(2, 3), 4)
    assert (
        grid.shape == (2, 3)
        and grid.ravel().tolist() == latlng_to_cells(lat[:6], lng[:6], 4).tolist()
    )


def test_latlng_to_cells_non_finite_gives_zero() -> None:
    lat = np.array([np.nan, 21.0, 10.0, np.inf])
    lng = np.array([105.0, np.nan, 105.0, 105.0])
    got = latlng_to_cells(lat, lng, 8)
    assert got.tolist() == [0, 0, h3.latlng_to_cell(10.0, 105.0, 8), 0]


@pytest.mark.parametrize("res", [-1, 16])
def test_latlng_to_cells_rejects_bad_resolution(res: int) -> None:
    with pytest.raises(ValueError, match="resolution"):
        latlng_to_cells([10.0], [105.0], res)


@settings(max_examples=100, deadline=None)
@given(cells())
def test_cells_to_latlng_matches_h3(c: np.ndarray) -> None:
    lat, lng = cells_to_latlng(c)
    for cell, la, ln in zip(c.tolist(), lat, lng, strict=True):
        # the engines differ by ~1e-11 degrees; compare as a distance (well-defined at the poles)
        assert h3.great_circle_distance((la, ln), h3.cell_to_latlng(cell), "m") < 1e-3


def test_cells_to_latlng_of_every_pentagon() -> None:
    lat, lng = cells_to_latlng(np.array(PENTAGONS, dtype=np.uint64))
    for cell, la, ln in zip(PENTAGONS, lat, lng, strict=True):
        assert h3.great_circle_distance((la, ln), h3.cell_to_latlng(cell), "m") < 1e-3


def test_cells_to_latlng_empty() -> None:
    lat, lng = cells_to_latlng(np.zeros(0, dtype=np.uint64))
    assert lat.size == lng.size == 0


@settings(max_examples=100, deadline=None)
@given(cells())
def test_resolution_and_area_match_h3(c: np.ndarray) -> None:
    assert cells_resolution(c).tolist() == [h3.get_resolution(x) for x in c.tolist()]
    want = np.array([h3.cell_area(x, "km^2") for x in c.tolist()])
    # h3o (behind h3ronpy) and the C library sum spherical excess differently; the rounding
    # error grows as 1/area: ~1e-14 relative at res 0, ~5e-8 at res 8, ~1e-5 at res 13, and
    # ~1e-4 for res-12 cells touching a pole, where both are off (checked by a gnomonic area)
    rtol = np.minimum(1e-3, 1e-12 * 7.0 ** cells_resolution(c))
    # spherical excess is rounded in steradians: an absolute error of ~1e-16 x the sphere's
    # 5.1e8 km^2, i.e. ~5e-8 km^2 (0.05 m^2), which is 6% of a 0.6 m^2 res-15 cell near a pole
    atol = 1e-7
    assert np.all(np.abs(cell_area_km2(c) - want) <= rtol * want + atol)


@settings(max_examples=100, deadline=None)
@given(cells())
def test_cells_to_strings_matches_h3_and_zero_is_none(c: np.ndarray) -> None:
    with_zero = np.concatenate([c, np.zeros(1, np.uint64)])
    assert cells_to_strings(with_zero).tolist() == [h3.int_to_str(x) for x in c.tolist()] + [None]


@settings(max_examples=100, deadline=None)
@given(cells(), st.lists(st.integers(0, 2**64 - 1), max_size=20))
def test_cells_valid_matches_h3(c: np.ndarray, junk: list[int]) -> None:
    values = np.concatenate([c, np.array(junk + [0], dtype=np.uint64)])
    # corrupt a few valid cells: flip a digit to 7 (deleted subsequence) or the mode bits
    values = np.concatenate([values, c ^ np.uint64(1 << 59), c | np.uint64(7 << 42)])
    assert cells_valid(values).tolist() == [h3.is_valid_cell(int(x)) for x in values]


@settings(max_examples=100, deadline=None)
@given(cells(), st.data())
def test_cell_to_parent_matches_h3(c: np.ndarray, data: st.DataObject) -> None:
    finest = int(cells_resolution(c).min())
    res = data.draw(st.integers(0, finest))
    got = cell_to_parent(c, res)
    assert got.tolist() == [h3.cell_to_parent(x, res) for x in c.tolist()]


def test_cell_to_parent_of_pentagons_every_resolution() -> None:
    for cell in PENTAGONS:
        for res in range(h3.get_resolution(cell) + 1):
            assert int(cell_to_parent(np.array([cell], dtype=np.uint64), res)[0]) == (
                h3.cell_to_parent(cell, res)
            )


def test_parent_child_round_trip_over_every_resolution() -> None:
    origins = [h3.latlng_to_cell(21.0285, 105.8542, 0), h3.get_pentagons(0)[3]]
    for origin in origins:
        for res in range(16):
            cell = h3.cell_to_center_child(origin, res)
            for child_res in range(res, 16):
                n = h3.cell_to_children_size(cell, child_res)
                positions = sorted({0, n // 3, n // 2, n - 1})
                children = [h3.child_pos_to_cell(cell, child_res, p) for p in positions]
                got = cell_to_parent(np.array(children, dtype=np.uint64), res)
                assert got.tolist() == [cell] * len(children)
                for child in children:
                    assert h3.cell_to_parent(child, res) == cell


def test_cell_to_parent_keeps_zero_and_rejects_coarser() -> None:
    cell = h3.latlng_to_cell(21.0, 105.8, 5)
    assert cell_to_parent(np.array([0, cell], dtype=np.uint64), 5).tolist() == [0, cell]
    with pytest.raises(ValueError, match="coarser"):
        cell_to_parent(np.array([cell], dtype=np.uint64), 6)


@settings(max_examples=60, deadline=None)
@given(cells(max_size=6), st.integers(0, 4))
def test_grid_disk_matches_h3(c: np.ndarray, k: int) -> None:
    disk, origin = grid_disk(c, k)
    assert disk.size == origin.size
    for i, cell in enumerate(c.tolist()):
        assert sorted(disk[origin == i].tolist()) == sorted(h3.grid_disk(cell, k))


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_grid_disk_around_every_pentagon(k: int) -> None:
    pents = np.array(
        [p for p in PENTAGONS if h3.get_resolution(p) in (0, 5, 8, 15)], dtype=np.uint64
    )
    disk, origin = grid_disk(pents, k)
    for i, cell in enumerate(pents.tolist()):
        assert sorted(disk[origin == i].tolist()) == sorted(h3.grid_disk(cell, k))


def test_grid_disk_empty() -> None:
    disk, origin = grid_disk(np.zeros(0, dtype=np.uint64), 3)
    assert disk.size == origin.size == 0
