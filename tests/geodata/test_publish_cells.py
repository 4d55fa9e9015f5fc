"""Cells written from their WKB are the files the GeoDataFrame path writes, byte for byte."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from geodata.publishing.outputs import (
    cells_geodataframe,
    cells_polygons,
    cells_rings,
    write_cells_geoparquet,
)
from geodata.writers.tables import write_geoparquet


def _table(n: int, res: int) -> pd.DataFrame:
    rng = np.random.default_rng(n + res)
    cells = {
        h3.str_to_int(h3.latlng_to_cell(a, b, res))
        for a, b in zip(rng.uniform(8.5, 23.3, n), rng.uniform(102.2, 109.4, n), strict=True)
    }
    cells = np.array(sorted(cells), dtype=np.uint64)
    m = len(cells)
    return pd.DataFrame(
        {
            "cell": cells,
            "population": rng.gamma(1.0, 500.0, m),
            "code_34": pd.Categorical(rng.choice(["01", "79", "48"], m)),
            "tests": pd.array(rng.integers(0, 9, m), dtype="Int64"),
        }
    )


@pytest.mark.parametrize(("n", "res"), [(0, 8), (1, 8), (500, 8), (300, 6)])
def test_cells_geoparquet_from_wkb_is_the_geodataframe_file(tmp_path, n, res):
    table = _table(n, res)
    prov = {"sample": True, "period": "2026Q3"}
    write_geoparquet(cells_geodataframe(table), tmp_path / "a.parquet", provenance=prov)
    write_cells_geoparquet(table, tmp_path / "b.parquet", provenance=prov)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_cell_rings_match_the_polygons_pentagons_included():
    import shapely

    pentagons = [h3.str_to_int(c) for c in h3.get_pentagons(8)[:2]]
    cells = np.array([*pentagons, *_table(50, 8)["cell"]], dtype=np.uint64)
    for subset in (cells, cells[2:]):  # with pentagons (mixed sizes) and hexagons only
        coords, counts = cells_rings(subset)
        polys = cells_polygons(subset)
        assert counts.tolist() == shapely.get_num_coordinates(polys).tolist()
        np.testing.assert_array_equal(coords, shapely.get_coordinates(polys))
