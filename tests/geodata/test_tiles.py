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

from geodata.kernels.tiles import tiles_to_cells
from geodata.quadkeys import tile_bounds, tile_to_quadkey

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
