"""polygons <-> cells: every populated cell gets exactly one province in both boundary versions,
population is conserved per province, the 63 and 34 assignments agree through the crosswalk,
polyfill equals h3-py's, and the assignment equals a slow shapely loop."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import SchemaError
from geodata.kernels.cells import cells_to_latlng, latlng_to_cells
from geodata.kernels.polygons import assign_cells_to_polygons, polygons_to_cells
from geodata.kernels.raster import raster_to_cells
from geodata.reference import (
    load_crosswalk,
    load_provinces,
    population_raster_path,
    province_codes,
)


@pytest.fixture(scope="module")
def population():
    rc = raster_to_cells(population_raster_path(), 8, mode="area")
    populated = rc.values > 0
    return rc.cells[populated], rc.values[populated], rc.total


@pytest.fixture(scope="module")
def assignments(population):
    cells, _, _ = population
    return {
        (version, simplified): assign_cells_to_polygons(
            cells, load_provinces(version, simplified=simplified)
        )
        for version in ("63", "34")
        for simplified in (True, False)
    }


# --------------------------------------------------------------------------- real provinces


@pytest.mark.parametrize("version", ["63", "34"])
@pytest.mark.parametrize("simplified", [True, False])
def test_every_populated_cell_gets_one_province_and_population_is_conserved(
    population, assignments, version, simplified
):
    cells, people, total = population
    codes, nearest = assignments[(version, simplified)]
    assert codes.shape == cells.shape == nearest.shape
    assert set(codes) <= set(province_codes(version))  # no "" left: all within 0.5 degrees
    # only coast, islands and the grid's sea edge need the nearest province
    assert nearest.mean() < 0.05
    per_province = {code: people[codes == code].sum() for code in np.unique(codes)}
    assert abs(sum(per_province.values()) - total) / total < 1e-4
    assert len(per_province) == len(province_codes(version))  # every province has people


def test_63_assignment_through_crosswalk_agrees_with_34(population, assignments):
    _, people, _ = population
    crosswalk = load_crosswalk()["new_code"]
    for simplified in (True, False):
        old, _ = assignments[("63", simplified)]
        new, _ = assignments[("34", simplified)]
        mapped = crosswalk.reindex(old).to_numpy()
        agree = people[mapped == new].sum() / people.sum()
        assert agree >= 0.999, (simplified, agree)


def test_polyfill_cells_are_assigned_back_to_their_province():
    provinces = load_provinces("34", simplified=True)
    cells, codes = polygons_to_cells(provinces, 7)
    got, nearest = assign_cells_to_polygons(cells, provinces)
    assert np.array_equal(got, codes) and not nearest.any()
    assert np.unique(cells).size == cells.size  # provinces do not overlap


# --------------------------------------------------------------------------- polyfill vs h3-py


def _h3py_fill(polygons, res):
    return {
        code: {h3.str_to_int(c) for c in h3.geo_to_cells(geom, res)}
        for code, geom in zip(polygons["code"], polygons.geometry, strict=True)
    }


@pytest.mark.parametrize("version", ["63", "34"])
def test_polygons_to_cells_equals_h3py_at_res6(version):
    provinces = load_provinces(version, simplified=True)
    cells, codes = polygons_to_cells(provinces, 6)
    assert cells.dtype == np.uint64 and np.all(np.diff(cells.astype(np.float64)) >= 0)
    expected = _h3py_fill(provinces, 6)
    got = {code: set(cells[codes == code].tolist()) for code in expected}
    assert got == expected


def test_polygons_to_cells_equals_h3py_for_one_full_province_at_res8():
    hanoi = load_provinces("34").loc[["01"]]
    cells, codes = polygons_to_cells(hanoi, 8)
    assert set(codes) == {"01"}
    assert set(cells.tolist()) == _h3py_fill(hanoi, 8)["01"]


def test_polygons_in_a_projected_crs_are_reprojected():
    provinces = load_provinces("34", simplified=True).loc[["01", "79"]]
    a = polygons_to_cells(provinces, 6)
    b = polygons_to_cells(provinces.to_crs(32648), 6)
    overlap = np.intersect1d(a[0], b[0]).size / a[0].size
    assert overlap > 0.98  # same shapes, up to the reprojection of straight edges


def test_code_may_be_the_index_and_must_exist():
    squares = gpd.GeoDataFrame(
        {"name": ["x"]}, geometry=[shapely.box(105, 20, 106, 21)], crs="EPSG:4326"
    )
    cells = latlng_to_cells([20.5], [105.5], 7)
    with pytest.raises(SchemaError, match="code"):
        assign_cells_to_polygons(cells, squares)
    indexed = squares.set_axis(["k1"], axis=0).rename_axis("code")
    codes, _ = assign_cells_to_polygons(cells, indexed)
    assert codes.tolist() == ["k1"]


def test_non_polygon_geometry_is_refused():
    frame = gpd.GeoDataFrame(
        {"code": ["a", "b"]},
        geometry=[shapely.box(105, 20, 106, 21), shapely.Point(105, 20)],
        crs="EPSG:4326",
    )
    with pytest.raises(SchemaError, match="row 2"):
        polygons_to_cells(frame, 6)


def test_far_and_null_cells_get_empty_code():
    squares = gpd.GeoDataFrame(
        {"code": ["a"]}, geometry=[shapely.box(105, 20, 106, 21)], crs="EPSG:4326"
    )
    far = latlng_to_cells([25.0], [105.5], 7)[0]
    codes, nearest = assign_cells_to_polygons(np.array([far, 0], np.uint64), squares)
    assert codes.tolist() == ["", ""] and not nearest.any()
    codes, nearest = assign_cells_to_polygons(
        np.array([far], np.uint64), squares, max_distance_deg=None
    )
    assert codes.tolist() == ["a"] and nearest.tolist() == [True]


# --------------------------------------------------------------------------- vs a slow loop


def _slow_assign(centres, polygons, max_distance):
    codes, flags = [], []
    for lat, lng in centres:
        pt = shapely.Point(lng, lat)
        holding = [
            c
            for c, g in zip(polygons["code"], polygons.geometry, strict=True)
            if shapely.contains(g, pt)
        ]
        if holding:
            codes.append(min(holding))
            flags.append(False)
            continue
        dist = {c: g.distance(pt) for c, g in zip(polygons["code"], polygons.geometry, strict=True)}
        d_min = min(dist.values())
        if max_distance is not None and d_min > max_distance:
            codes.append("")
            flags.append(False)
        else:
            # on a border (distance 0) or equally near: the lowest code, as the kernel does
            codes.append(min(c for c, d in dist.items() if d == d_min))
            flags.append(d_min > 0)
    return codes, flags


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    res=st.integers(6, 8),
    max_distance=st.one_of(st.none(), st.floats(0.005, 0.2)),
    labels=st.permutations(["p", "q", "r", "s", "t"]),
)
def test_assignment_equals_slow_shapely_loop(seed, res, max_distance, labels):
    rng = np.random.default_rng(seed)
    cells = np.unique(
        latlng_to_cells(rng.uniform(20.0, 20.6, 300), rng.uniform(105.0, 105.6, 300), res)
    )
    # the kernel's centres agree with the h3 oracle to rounding; the loop below uses the very same
    # floats, so that centres placed exactly on a border are on it for both
    lat, lng = cells_to_latlng(cells)
    oracle = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
    np.testing.assert_allclose(np.c_[lat, lng], oracle, rtol=0, atol=1e-12)
    x0, x1, y0, y1 = 105.1, 105.45, 20.1, 20.45
    # split lines through real cell centres, so some centres lie exactly on shared borders
    inner = (lng > x0) & (lng < x1) & (lat > y0) & (lat < y1)
    xs, ys = (rng.choice(lng[inner]), rng.choice(lat[inner])) if inner.any() else (105.3, 20.3)
    squares = [
        shapely.box(x0, y0, xs, ys),
        shapely.box(xs, y0, x1, ys),
        shapely.box(x0, ys, xs, y1),
        shapely.box(xs, ys, x1, y1),
        shapely.box(105.5, 20.5, 105.55, 20.55),  # an island
    ]
    polygons = gpd.GeoDataFrame({"code": labels}, geometry=squares, crs="EPSG:4326")
    codes, nearest = assign_cells_to_polygons(cells, polygons, max_distance_deg=max_distance)
    exp_codes, exp_nearest = _slow_assign(zip(lat, lng, strict=True), polygons, max_distance)
    assert codes.tolist() == exp_codes
    assert nearest.tolist() == exp_nearest
