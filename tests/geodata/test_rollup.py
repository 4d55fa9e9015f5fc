"""Rolling cells up to coarser resolutions conserves totals and uses h3's parents."""

from __future__ import annotations

import h3.api.basic_int as h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.kernels.cells import latlng_to_cells
from geodata.kernels.rollup import rollup


@st.composite
def cell_tables(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    res = draw(st.integers(0, 15))
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        lat, lng = rng.uniform(8, 24, n), rng.uniform(102, 110, n)
    else:
        lat, lng = np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)
    cells = latlng_to_cells(lat, lng, res)
    pop = rng.gamma(0.7, 300.0, n)
    speed = np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(10, 1, n))
    return res, cells, pop, speed


@settings(max_examples=60, deadline=None)
@given(cell_tables())
def test_totals_conserved_and_parents_match_h3_at_every_coarser_res(table) -> None:  # type: ignore[no-untyped-def]
    res, cells, pop, speed = table
    for parent_res in range(res + 1):
        parents, out = rollup(
            cells, parent_res, sums={"pop": pop}, means={"speed": speed}, weights=pop
        )
        want = sorted({h3.cell_to_parent(int(c), parent_res) for c in cells})
        assert parents.tolist() == want
        assert np.isclose(out["pop"].sum(), pop.sum(), rtol=1e-12)
        assert np.isclose(out["weight"].sum(), pop.sum(), rtol=1e-12)
        assert out["count"].sum() == cells.size
        # population-weighted mean of one parent, by hand
        p0 = h3.cell_to_parent(int(cells[0]), parent_res)
        mine = np.array([h3.cell_to_parent(int(c), parent_res) == p0 for c in cells])
        ok = mine & ~np.isnan(speed)
        expected = np.sum(speed[ok] * pop[ok]) / np.sum(pop[ok]) if ok.any() else np.nan
        got = out["speed"][parents.tolist().index(p0)]
        assert np.isclose(got, expected, rtol=1e-9, equal_nan=True)


def test_rollup_chain_equals_direct_rollup() -> None:
    rng = np.random.default_rng(3)
    cells = latlng_to_cells(rng.uniform(8, 24, 5000), rng.uniform(102, 110, 5000), 9)
    pop = rng.gamma(0.7, 300.0, cells.size)
    p6, out6 = rollup(cells, 6, sums={"pop": pop})
    p3_chain, out3_chain = rollup(p6, 3, sums={"pop": out6["pop"]})
    p3, out3 = rollup(cells, 3, sums={"pop": pop})
    assert np.array_equal(p3, p3_chain)
    np.testing.assert_allclose(out3["pop"], out3_chain["pop"], rtol=1e-12)


def test_rollup_to_same_resolution_is_group_by() -> None:
    cells = latlng_to_cells([21.0, 21.0, 10.0], [105.8, 105.8, 106.0], 8)
    parents, out = rollup(cells, 8, sums={"x": [1.0, 2.0, 3.0]})
    assert parents.tolist() == sorted(set(cells.tolist()))
    assert sorted(out["x"].tolist()) == [3.0, 3.0]


def test_rollup_rejects_finer_target_and_bad_res() -> None:
    cells = latlng_to_cells([21.0], [105.8], 5)
    with pytest.raises(ValueError, match="coarser"):
        rollup(cells, 6)
    with pytest.raises(ValueError, match="resolution"):
        rollup(cells, -1)
