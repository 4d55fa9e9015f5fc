"""group_by_cell against a slow dict loop, and conservation of totals."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.kernels.cells import latlng_to_cells
from geodata.kernels.groupby import group_by_cell

VALUE = st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))
WEIGHT = st.one_of(st.floats(0.0, 1e4), st.just(0.0), st.integers(0, 50).map(float))


def _slow(cells, sums, means, weights):  # type: ignore[no-untyped-def]
    """The obvious per-row loop: the oracle."""
    acc: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for i, c in enumerate(cells):
        a = acc[int(c)]
        a["count"] += 1
        w = 1.0 if weights is None else weights[i]
        if weights is not None:
            a["weight"] += w
        for name, v in sums.items():
            a[name] += 0.0 if math.isnan(v[i]) else v[i]
        for name, v in means.items():
            if not math.isnan(v[i]):
                a[name + "/num"] += v[i] * w
                a[name + "/den"] += w
    keys = sorted(acc)
    out = {"count": [acc[k]["count"] for k in keys]}
    if weights is not None:
        out["weight"] = [acc[k]["weight"] for k in keys]
    for name in sums:
        out[name] = [acc[k][name] for k in keys]
    for name in means:
        out[name] = [
            acc[k][name + "/num"] / acc[k][name + "/den"] if acc[k][name + "/den"] > 0 else math.nan
            for k in keys
        ]
    return keys, out


@st.composite
def tables(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 60))
    pool = draw(
        st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8, unique=True)
        | st.lists(st.integers(0, 20), min_size=1, max_size=8, unique=True)
    )
    cells = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    col = st.lists(VALUE, min_size=n, max_size=n)
    sums = {f"s{i}": draw(col) for i in range(draw(st.integers(0, 2)))}
    means = {f"m{i}": draw(col) for i in range(draw(st.integers(0, 3)))}
    weights = draw(st.none() | st.lists(WEIGHT, min_size=n, max_size=n))
    return np.array(cells, dtype=np.uint64), sums, means, weights


@settings(max_examples=300, deadline=None)
@given(tables())
def test_matches_slow_loop(table) -> None:  # type: ignore[no-untyped-def]
    cells, sums, means, weights = table
    uniq, out = group_by_cell(cells, sums=sums, means=means, weights=weights)
    keys, want = _slow(cells.tolist(), sums, means, weights)
    assert uniq.dtype == np.uint64 and uniq.tolist() == keys
    assert set(out) == set(want)
    assert out["count"].dtype == np.int64 and out["count"].tolist() == want["count"]
    for name, values in want.items():
        np.testing.assert_allclose(out[name], values, rtol=1e-9, atol=1e-6, equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(tables())
def test_totals_are_conserved(table) -> None:  # type: ignore[no-untyped-def]
    cells, sums, means, weights = table
    _, out = group_by_cell(cells, sums=sums, weights=weights)
    assert out["count"].sum() == cells.size
    for name, values in sums.items():
        assert math.isclose(out[name].sum(), np.nansum(values), rel_tol=1e-9, abs_tol=1e-3)
    if weights is not None:
        assert math.isclose(out["weight"].sum(), sum(weights), rel_tol=1e-9, abs_tol=1e-6)


def test_real_cells_many_rows_match_numpy_unique() -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    for res in (0, 5, 8, 12, 15):
        cells = latlng_to_cells(rng.uniform(8, 24, n // 20), rng.uniform(102, 110, n // 20), res)
        cells = cells[rng.integers(0, cells.size, n)]
        v = rng.normal(size=n)
        w = rng.integers(0, 5, n).astype(float)
        uniq, out = group_by_cell(cells, sums={"v": v}, means={"m": v}, weights=w)
        want_u, inv = np.unique(cells, return_inverse=True)
        assert np.array_equal(uniq, want_u)
        np.testing.assert_allclose(out["v"], np.bincount(inv, v), rtol=1e-9, atol=1e-9)
        num, den = np.bincount(inv, v * w), np.bincount(inv, w)
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(out["m"], num / den, rtol=1e-9, atol=1e-12, equal_nan=True)
        assert np.array_equal(out["count"], np.bincount(inv))


def test_mixed_resolutions_and_zero_cell_kept() -> None:
    a = latlng_to_cells([21.0], [105.8], 5)[0]
    b = latlng_to_cells([21.0], [105.8], 9)[0]
    uniq, out = group_by_cell(
        np.array([b, 0, a, b], dtype=np.uint64), sums={"x": [1.0, 2.0, 3.0, 4.0]}
    )
    assert uniq.tolist() == sorted([0, int(a), int(b)])
    assert dict(zip(uniq.tolist(), out["x"].tolist(), strict=True)) == {
        0: 2.0,
        int(a): 3.0,
        int(b): 5.0,
    }


def test_all_nan_cell_gets_nan_and_nan_ignored_in_weights() -> None:
    cells = np.array([1, 1, 2, 2], dtype=np.uint64)
    v = np.array([np.nan, np.nan, 10.0, np.nan])
    uniq, out = group_by_cell(cells, means={"v": v}, weights=[3.0, 1.0, 2.0, 100.0])
    assert np.isnan(out["v"][0]) and out["v"][1] == 10.0
    assert out["weight"].tolist() == [4.0, 102.0]


def test_unweighted_means_and_no_weight_column() -> None:
    uniq, out = group_by_cell([3, 3, 3], means={"v": [1.0, np.nan, 2.0]})
    assert out["v"].tolist() == [1.5] and "weight" not in out


def test_empty() -> None:
    uniq, out = group_by_cell(np.zeros(0, np.uint64), sums={"s": []}, means={"m": []}, weights=[])
    assert uniq.size == 0 and all(v.size == 0 for v in out.values())
    assert set(out) == {"s", "m", "weight", "count"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sums": {"s": [1.0]}}, "has 1 values for 2 cells"),
        ({"means": {"m": [1.0, 2.0]}, "weights": [1.0, -1.0]}, "finite and >= 0"),
        ({"means": {"m": [1.0, 2.0]}, "weights": [1.0, np.nan]}, "finite and >= 0"),
        ({"sums": {"count": [1.0, 2.0]}}, "reserved"),
        ({"sums": {"x": [1.0, 2.0]}, "means": {"x": [1.0, 2.0]}}, "both summed and averaged"),
    ],
)
def test_bad_input_raises(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        group_by_cell(np.array([1, 2], dtype=np.uint64), **kwargs)
