"""The study area: Vietnam's land with its islands plus a coastal buffer that never crosses a
land border; the fast test agrees with shapely everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.reference import load_provinces
from geodata.study_area import (
    BORDER_END_SEA_CUT_KM,
    COASTAL_BUFFER_KM,
    KM_PER_DEG,
    in_study_area,
    quadkey_prefixes,
    study_area,
    study_area_bbox,
)

INSIDE = {
    "Hà Nội": (105.854, 21.028),
    "TP Hồ Chí Minh": (106.70, 10.77),
    "Phú Quốc": (103.96, 10.23),
    "Côn Đảo": (106.60, 8.69),
    "Cô Tô": (107.77, 20.98),
    "Phú Lâm, Hoàng Sa": (112.336, 16.834),
    "Trường Sa Lớn": (111.92, 8.645),
    "Hà Tiên": (104.48, 10.38),
}
#: foreign land and open sea inside Vietnam's bounding box
OUTSIDE = {
    "Muang Khua, Laos (38 km from the border)": (102.52, 21.08),
    "Lao side of Lao Bảo (2.4 km)": (106.56, 16.60),
    "Bavet, Cambodia (2.8 km)": (106.13, 11.06),
    "Svay Rieng, Cambodia": (105.80, 11.09),
    "Kep, Cambodia (3.5 km from a Vietnamese islet)": (104.316, 10.483),
    "Koh Tonsay, Cambodia": (104.317, 10.427),
    "Dongxing, Guangxi (0.9 km)": (107.97, 21.55),
    "Pingxiang, Guangxi": (106.75, 22.10),
    "Hainan": (109.50, 19.20),
    "South China Sea off Quảng Ngãi": (109.80, 15.00),
    "Gulf of Thailand": (103.0, 9.0),
}


@pytest.fixture(scope="module")
def land():
    return shapely.union_all(load_provinces("34").geometry.to_numpy())


def test_known_places():
    for name, pts in (("inside", INSIDE), ("outside", OUTSIDE)):
        xy = np.array(list(pts.values()))
        got = in_study_area(xy[:, 0], xy[:, 1])
        wrong = [k for k, g in zip(pts, got, strict=True) if g != (name == "inside")]
        assert not wrong, f"should be {name}: {wrong}"


def test_nan_and_far_points_are_outside():
    assert not in_study_area([np.nan, 0.0, 170.0], [np.nan, 0.0, 10.0]).any()
    assert in_study_area([], []).shape == (0,)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_agrees_with_shapely_on_random_points(seed):
    rng = np.random.default_rng(seed)
    w, s, e, n = study_area_bbox(0.2)
    x = rng.uniform(w, e, 2000)
    y = rng.uniform(s, n, 2000)
    # points near the outline too, where the grid hands over to the exact test
    ring = np.asarray(shapely.get_coordinates(shapely.boundary(study_area().geometry)))
    pick = ring[rng.integers(0, len(ring), 500)] + rng.normal(0, 0.003, (500, 2))
    x, y = np.concatenate([x, pick[:, 0]]), np.concatenate([y, pick[:, 1]])
    expected = shapely.intersects_xy(study_area().geometry, x, y)
    np.testing.assert_array_equal(in_study_area(x, y), expected)


def test_land_is_always_inside(land):
    rng = np.random.default_rng(7)
    pts = shapely.points(rng.uniform(102, 110, 20000), rng.uniform(8, 23.5, 20000))
    on_land = shapely.contains(land, pts)
    x, y = shapely.get_x(pts[on_land]), shapely.get_y(pts[on_land])
    assert on_land.sum() > 1000 and in_study_area(x, y).all()


def test_sea_buffer_never_crosses_the_land_border(land):
    """Off Vietnam's land, a point within the buffer of the land border, or within the stated
    radius of its two ends at the sea, is outside; elsewhere the coastal sea is inside."""
    area = study_area()
    rng = np.random.default_rng(11)
    d = COASTAL_BUFFER_KM / KM_PER_DEG
    # points scattered round the land border, off Vietnamese land
    line = area.land_border
    along = shapely.line_interpolate_point(line, rng.uniform(0, line.length, 5000))
    pts = shapely.points(
        shapely.get_x(along) + rng.uniform(-d, d, 5000),
        shapely.get_y(along) + rng.uniform(-d, d, 5000),
    )
    off_land = ~shapely.intersects(land, pts)
    near = shapely.distance(line, pts) < d * 0.999
    sel = pts[off_land & near]
    assert len(sel) > 500
    assert not in_study_area(shapely.get_x(sel), shapely.get_y(sel)).any()
    # coastal sea away from the border: 1-4 km from land is inside
    rings = shapely.get_parts(shapely.boundary(land))
    coast = rings[int(np.argmax(shapely.length(rings)))]  # the mainland's outline
    rim = shapely.line_interpolate_point(coast, rng.uniform(0, 1, 3000), normalized=True)
    off = shapely.points(
        shapely.get_x(rim) + rng.uniform(-d, d, 3000), shapely.get_y(rim) + rng.uniform(-d, d, 3000)
    )
    dist = shapely.distance(land, off)
    ends = shapely.points(np.asarray(line.coords)[[0, -1]])
    far_from_border = (shapely.distance(line, off) > d * 1.01) & (
        np.min([shapely.distance(e, off) for e in ends], axis=0)
        > BORDER_END_SEA_CUT_KM / KM_PER_DEG * 1.01
    )
    sea = off[(dist > 0) & (dist < 0.8 * d) & far_from_border]
    assert len(sea) > 200
    assert in_study_area(shapely.get_x(sea), shapely.get_y(sea)).all()
    beyond = off[dist > 1.2 * d]
    assert not in_study_area(shapely.get_x(beyond), shapely.get_y(beyond)).any()


def test_quadkey_prefixes_cover_every_inside_point():
    from geodata.quadkeys import lnglat_to_tile, tile_to_quadkey

    prefixes = quadkey_prefixes(8)
    rng = np.random.default_rng(3)
    w, s, e, n = study_area_bbox()
    x, y = rng.uniform(w, e, 50000), rng.uniform(s, n, 50000)
    keep = in_study_area(x, y)
    tx, ty = lnglat_to_tile(x[keep], y[keep], 16)
    keys = tile_to_quadkey(tx, ty, np.full(len(tx), 16))
    assert {str(k)[:8] for k in keys} <= prefixes
    assert 30 < len(prefixes) < 200


def test_the_shipped_study_area_is_the_one_the_boundaries_give():
    """The shipped build (geodata/data/boundaries/study_area_34.npz) matches a fresh build from
    the shipped boundaries and constants; after changing either, run python -m geodata.study_area."""
    from geodata.study_area import _build, _load_shipped

    shipped = _load_shipped()
    assert shipped is not None, "stale study_area_34.npz: run python -m geodata.study_area"
    fresh = _build()
    assert shipped.bounds == fresh.bounds and (shipped.west, shipped.north) == (
        fresh.west,
        fresh.north,
    )
    assert np.array_equal(shipped.grid, fresh.grid)
    assert shapely.equals_exact(shipped.geometry, fresh.geometry, 0.0)
    assert shapely.equals_exact(shipped.land_border, fresh.land_border, 0.0)
