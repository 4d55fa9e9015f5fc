"""Spreading group values over cells: conservation for counts, rates unchanged, gaps reported."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.kernels.disaggregate import disaggregate_by_population


def _slow(cell_group, cell_pop, codes, values, kind):  # type: ignore[no-untyped-def]
    """The obvious loop: the oracle."""
    value_of = dict(zip(codes, values, strict=True))
    out = []
    for g, p in zip(cell_group, cell_pop, strict=True):
        if g not in value_of:
            out.append(math.nan)
            continue
        if kind == "rate":
            out.append(value_of[g])
            continue
        members = [q for h, q in zip(cell_group, cell_pop, strict=True) if h == g]
        total = sum(members)
        out.append(value_of[g] * (p / total if total > 0 else 1 / len(members)))
    return out


@st.composite
def problems(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    codes = draw(st.lists(st.sampled_from(["01", "02", "04", "79", "96"]), unique=True, max_size=5))
    n = draw(st.integers(0, 40))
    cell_codes = st.sampled_from(["01", "02", "04", "79", "96", "XX"])
    cell_group = draw(st.lists(cell_codes, min_size=n, max_size=n))
    pop = draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(0.0, 1e5, allow_subnormal=False)),
            min_size=n,
            max_size=n,
        )
    )
    values = draw(
        st.lists(
            st.floats(0.0, 1e7, allow_subnormal=False) | st.just(float("nan")),
            min_size=len(codes),
            max_size=len(codes),
        )
    )
    return cell_group, pop, codes, values


@settings(max_examples=300, deadline=None)
@given(problems(), st.sampled_from(["count", "rate"]))
def test_matches_slow_loop(problem, kind) -> None:  # type: ignore[no-untyped-def]
    cell_group, pop, codes, values = problem
    got, without = disaggregate_by_population(
        np.array(cell_group, dtype=object), pop, np.array(codes, dtype=object), values, kind
    )
    want = _slow(cell_group, pop, codes, values, kind)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, equal_nan=True)
    assert without.tolist() == [c for c in codes if c not in cell_group]


@settings(max_examples=200, deadline=None)
@given(problems())
def test_counts_are_conserved_per_group(problem) -> None:  # type: ignore[no-untyped-def]
    cell_group, pop, codes, values = problem
    got, without = disaggregate_by_population(cell_group, pop, codes, values, "count")
    groups = np.array(cell_group, dtype=object)
    for code, value in zip(codes, values, strict=True):
        if code in without.tolist():
            continue
        total = got[groups == code].sum()
        assert math.isclose(total, value, rel_tol=1e-9) or (math.isnan(value) and math.isnan(total))
    # nation-wide: cells + groups without cells == all group values
    finite = [v for v in values if not math.isnan(v)]
    reported = sum(
        v for c, v in zip(codes, values, strict=True) if c in without.tolist() and not math.isnan(v)
    )
    known = np.isin(groups, [c for c, v in zip(codes, values, strict=True) if not math.isnan(v)])
    assert math.isclose(got[known].sum() + reported, sum(finite), rel_tol=1e-9, abs_tol=1e-6)


def test_population_share_equal_split_and_rates() -> None:
    groups = np.array([1, 1, 1, 2, 2, 7])
    pop = np.array([10.0, 30.0, 60.0, 0.0, 0.0, 5.0])
    codes, values = np.array([1, 2, 3]), np.array([1000.0, 50.0, 9.0])
    got, without = disaggregate_by_population(groups, pop, codes, values, "count")
    np.testing.assert_allclose(got[:5], [100.0, 300.0, 600.0, 25.0, 25.0])
    assert np.isnan(got[5]) and without.tolist() == [3]
    rates, _ = disaggregate_by_population(groups, pop, codes, [80.5, 12.0, 1.0], "rate")
    np.testing.assert_array_equal(rates[:5], [80.5, 80.5, 80.5, 12.0, 12.0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 1], [1.0, -2.0], [1], [5.0], "count"), "cell 1"),
        (([1, 1], [1.0, np.nan], [1], [5.0], "count"), "finite"),
        (([1, 1], [1.0], [1], [5.0], "count"), "2 cell groups but 1"),
        (([1, 1], [1.0, 1.0], [1, 1], [5.0, 6.0], "count"), "more than once"),
        (([1, 1], [1.0, 1.0], [1], [5.0, 6.0], "count"), "1 group codes but 2"),
        (([1, 1], [1.0, 1.0], [1], [5.0], "share"), "kind"),
    ],
)
def test_bad_input_raises(args, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        disaggregate_by_population(*args)
