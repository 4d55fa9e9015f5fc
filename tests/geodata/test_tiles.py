"""Quadkey tiles to H3 cells, against h3-py on the centroid shapely computes from Ookla's tile WKT."""

from __future__ import annotations

from pathlib import Path

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.kernels.cells import latlng_to_cells
from geodata.kernels.tiles import tiles_to_cells
from geodata.quadkeys import quadkey_to_tile, tile_bounds, tile_centroids, tile_to_quadkey

#: Real Ookla Open Data sample tiles (CC BY-NC-SA 4.0: used by tests only, never shipped).
OOKLA_DIR = Path(__file__).parents[3] / "shared" / "data" / "ookla"


@pytest.fixture(scope="module")
def ookla_tiles() -> pd.DataFrame:
    files = sorted(OOKLA_DIR.glob("*_2023Q4.csv"))
    if not files:
        pytest.skip(f"real Ookla sample tiles not found in {OOKLA_DIR} (kept outside the repo)")
    return pd.concat([pd.read_csv(f, dtype={"quadkey": str}) for f in files], ignore_index=True)


@pytest.mark.parametrize("res", range(16))
def test_real_ookla_tiles_match_h3_on_shapely_centroid(ookla_tiles: pd.DataFrame, res: int) -> None:
    centroids = shapely.centroid(shapely.from_wkt(ookla_tiles["tile"].to_numpy()))
    want = [
        h3.latlng_to_cell(lat, lng, res)
        for lat, lng in zip(shapely.get_y(centroids), shapely.get_x(centroids), strict=True)
    ]
    got = tiles_to_cells(ookla_tiles["quadkey"], res)
    assert got.dtype == np.uint64
    assert got.tolist() == want


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(50_000, 53_500), st.integers(27_500, 31_500)), min_size=1, max_size=30
    ),
    st.integers(0, 15),
)
def test_tiles_over_vietnam_match_h3(xy: list[tuple[int, int]], res: int) -> None:
    x, y = np.array(xy).T
    keys = tile_to_quadkey(x, y, 16)
    w, s, e, n = tile_bounds(x, y, 16)
    centroids = shapely.centroid(shapely.box(w, s, e, n))
    want = [
        h3.latlng_to_cell(lat, lng, res)
        for lat, lng in zip(shapely.get_y(centroids), shapely.get_x(centroids), strict=True)
    ]
    assert tiles_to_cells(keys, res).tolist() == want


def test_mixed_zooms_and_object_arrays() -> None:
    keys = np.array(["1323011230123012", "13230112", "1"], dtype=object)
    got = tiles_to_cells(keys, 5)
    assert got.size == 3 and np.all(got != 0)


def test_empty_input() -> None:
    assert tiles_to_cells(np.array([], dtype=str), 8).dtype == np.uint64
    assert tiles_to_cells([], 8).size == 0


@pytest.mark.parametrize("bad", ["1323011230123042", "13230112301230a2", "", "13230é", None])
def test_invalid_quadkey_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match="position 1"):
        tiles_to_cells(np.array(["1323011230123012", bad], dtype=object), 8)


def test_bad_resolution() -> None:
    with pytest.raises(ValueError, match="resolution"):
        tiles_to_cells(["1323011230123012"], 16)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 32), st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20))
def test_one_zoom_fast_decode_equals_general_decoder(zoom: int, seeds: list[int]) -> None:
    """Every zoom 1..32 (byte widths 1-4, partial bytes): the one-pass path == quadkey_to_tile."""
    x = np.array([s % 2**zoom for s in seeds], dtype=np.int64)
    y = np.array([(s >> 32) % 2**zoom for s in seeds], dtype=np.int64)
    keys = tile_to_quadkey(x, y, zoom)
    gx, gy, gz = quadkey_to_tile(keys.astype(object))
    assert gx.tolist() == x.tolist() and gy.tolist() == y.tolist() and set(gz.tolist()) == {zoom}
    lat, lng = tile_centroids(gx, gy, gz)
    want = latlng_to_cells(lat, lng, 9)
    for given_keys in (keys, keys.astype("S"), keys.astype(object), keys.tolist()):
        assert tiles_to_cells(given_keys, 9).tolist() == want.tolist()


@pytest.mark.parametrize("bad", ["1323011230123042", "1323011230123 12", "13230112301230/2"])
def test_invalid_quadkey_in_a_text_array_is_named(bad: str) -> None:
    for dtype in ("U", "S"):
        with pytest.raises(ValueError, match="position 1"):
            tiles_to_cells(np.array(["1323011230123012", bad], dtype=dtype), 8)


def test_shorter_key_in_a_text_array_is_its_own_zoom() -> None:
    keys = ["1323011230123012", "132301123012301", "1"]  # NUL-padded in a U/S array
    want = tiles_to_cells(np.array(keys, dtype=object), 7).tolist()
    assert tiles_to_cells(np.array(keys), 7).tolist() == want
    assert tiles_to_cells(np.array(keys, dtype="S"), 7).tolist() == want


def test_wide_characters_do_not_wrap_to_digits() -> None:
    """chr(304) - ord("0") is 256: a byte-wise check would see digit 0."""
    with pytest.raises(ValueError, match="position 1"):
        tiles_to_cells(np.array(["1323011230123012", "13230112301230" + chr(304) + "2"]), 8)


def test_big_endian_text_array() -> None:
    keys = np.array(["1323011230123012", "1323011230123013"])
    want = tiles_to_cells(keys, 8).tolist()
    assert tiles_to_cells(keys.astype(">U16"), 8).tolist() == want
