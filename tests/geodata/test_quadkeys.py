"""Round trips of the vectorised quadkey codec, and tile bounds against real Ookla tile polygons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.quadkeys import (
    OOKLA_ZOOM,
    lnglat_to_tile,
    quadkey_to_tile,
    tile_bounds,
    tile_centroids,
    tile_to_quadkey,
    valid_quadkeys,
)

#: Real Ookla Open Data sample tiles (CC BY-NC-SA 4.0: used by tests only, never shipped).
OOKLA_DIR = Path(__file__).parents[3] / "shared" / "data" / "ookla"


@pytest.fixture(scope="module")
def ookla_tiles() -> pd.DataFrame:
    files = sorted(OOKLA_DIR.glob("*_2023Q4.csv"))
    if not files:
        pytest.skip(f"real Ookla sample tiles not found in {OOKLA_DIR} (kept outside the repo)")
    return pd.concat([pd.read_csv(f, dtype={"quadkey": str}) for f in files], ignore_index=True)


@st.composite
def tiles(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    zoom = draw(st.integers(1, 23))
    xy = st.integers(0, 2**zoom - 1)
    pairs = draw(st.lists(st.tuples(xy, xy), min_size=1, max_size=30))
    x, y = np.array(pairs, dtype=np.int64).T
    return x, y, zoom


@settings(max_examples=200, deadline=None)
@given(tiles())
def test_tile_quadkey_tile_round_trip(t: tuple[np.ndarray, np.ndarray, int]) -> None:
    x, y, zoom = t
    keys = tile_to_quadkey(x, y, zoom)
    assert all(len(k) == zoom for k in keys)
    assert valid_quadkeys(keys, zoom=zoom).all()
    x2, y2, z2 = quadkey_to_tile(keys)
    assert x2.tolist() == x.tolist() and y2.tolist() == y.tolist()
    assert set(z2.tolist()) == {zoom}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("0123", min_size=1, max_size=23), min_size=1, max_size=30))
def test_quadkey_tile_quadkey_round_trip_mixed_zooms(keys: list[str]) -> None:
    x, y, z = quadkey_to_tile(np.array(keys))
    assert z.tolist() == [len(k) for k in keys]
    for zoom in set(z.tolist()):
        sel = z == zoom
        assert tile_to_quadkey(x[sel], y[sel], zoom).tolist() == np.array(keys)[sel].tolist()


def test_quadkey_digits_follow_bing_convention() -> None:
    # digit = x bit + 2 * y bit, most significant first: "0" NW, "1" NE, "2" SW, "3" SE
    x, y, z = quadkey_to_tile(np.array(["0", "1", "2", "3", "213"]))
    assert x.tolist() == [0, 1, 0, 1, 3] and y.tolist() == [0, 0, 1, 1, 5]
    assert z.tolist() == [1, 1, 1, 1, 3]


def test_tile_bounds_and_centroids_match_real_ookla_polygons(ookla_tiles: pd.DataFrame) -> None:
    polys = shapely.from_wkt(ookla_tiles["tile"].to_numpy())
    x, y, z = quadkey_to_tile(ookla_tiles["quadkey"].to_numpy())
    assert set(z.tolist()) == {OOKLA_ZOOM}
    west, south, east, north = tile_bounds(x, y, z)
    want = shapely.bounds(polys)  # minx, miny, maxx, maxy
    np.testing.assert_allclose(np.stack([west, south, east, north], axis=1), want, atol=1e-9)
    lat, lng = tile_centroids(x, y, z)
    cen = shapely.centroid(polys)
    np.testing.assert_allclose(lat, shapely.get_y(cen), atol=1e-9)
    np.testing.assert_allclose(lng, shapely.get_x(cen), atol=1e-9)


def test_real_ookla_centroids_fall_in_their_own_tile(ookla_tiles: pd.DataFrame) -> None:
    cen = shapely.centroid(shapely.from_wkt(ookla_tiles["tile"].to_numpy()))
    x, y = lnglat_to_tile(shapely.get_x(cen), shapely.get_y(cen), OOKLA_ZOOM)
    assert tile_to_quadkey(x, y, OOKLA_ZOOM).tolist() == ookla_tiles["quadkey"].tolist()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-180.0, 179.999999), st.floats(-85.0, 85.0)), min_size=1, max_size=30
    ),
    st.integers(1, 23),
)
def test_lnglat_to_tile_is_consistent_with_bounds(
    points: list[tuple[float, float]], zoom: int
) -> None:
    lng, lat = np.array(points).T
    x, y = lnglat_to_tile(lng, lat, zoom)
    west, south, east, north = tile_bounds(x, y, zoom)
    eps = 1e-9
    assert np.all((west - eps <= lng) & (lng <= east + eps))
    assert np.all((south - eps <= lat) & (lat <= north + eps))
    # the centre of the tile maps back to the tile
    c_lat, c_lng = tile_centroids(x, y, zoom)
    x2, y2 = lnglat_to_tile(c_lng, c_lat, zoom)
    assert x2.tolist() == x.tolist() and y2.tolist() == y.tolist()


def test_lnglat_to_tile_clips_beyond_mercator_limit() -> None:
    x, y = lnglat_to_tile(np.array([0.0, 0.0]), np.array([90.0, -90.0]), 3)
    assert y.tolist() == [0, 7]


def test_valid_quadkeys_accepts_and_rejects() -> None:
    keys = np.array(
        [
            "1323011230123012",  # ok
            "132301123012301",  # zoom 15
            "13230112301230120",  # zoom 17
            "1323011230123042",  # digit 4
            "13230112301230a2",  # letter
            "",  # empty
            "1323 11230123012",  # space
        ]
    )
    assert valid_quadkeys(keys).tolist() == [True, False, False, False, False, False, False]
    assert valid_quadkeys(keys, zoom=None).tolist() == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


@settings(max_examples=100, deadline=None)
@given(st.text("0123456789abcXYZ -", min_size=0, max_size=20))
def test_valid_quadkeys_matches_a_plain_definition(key: str) -> None:
    want = len(key) > 0 and set(key) <= set("0123")
    assert bool(valid_quadkeys(np.array([key]), zoom=None)[0]) == want
    assert bool(valid_quadkeys(np.array([key]), zoom=len(key) or None)[0]) == want
