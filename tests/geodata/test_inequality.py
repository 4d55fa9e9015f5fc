"""Gini and Theil T: against slow pairwise / direct formulas, and their invariants."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geodata.indicators.inequality import gini_weighted, gini_weighted_by_group, theil_t

FAST = settings(max_examples=150, deadline=None)

_value = st.floats(0, 1e4, allow_nan=False, allow_subnormal=False)
# people: zero (ignored) or at least 1e-3, so 1 - w_max/W (the largest Gini) stays below 1 in floats
_weight = st.one_of(st.just(0.0), st.floats(1e-3, 1e3))
_pairs = st.lists(st.tuples(_value, _weight), min_size=1, max_size=30)


def slow_gini(x, w):
    """Pairwise definition, O(n^2): sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean)."""
    keep = [(a, b) for a, b in zip(x, w, strict=True) if b > 0 and not math.isnan(a)]
    if not keep:
        return math.nan
    W = sum(b for _, b in keep)
    mean = sum(a * b for a, b in keep) / W
    if mean == 0:
        return 0.0
    s = sum(bi * bj * abs(ai - aj) for ai, bi in keep for aj, bj in keep)
    return s / (2 * W * W * mean)


def repeated_gini(x, counts):
    """Unweighted Gini of the sample with each value repeated ``count`` times."""
    sample = np.repeat(np.asarray(x, float), np.asarray(counts, int))
    n, mean = sample.size, sample.mean()
    if mean == 0:
        return 0.0
    return np.abs(sample[:, None] - sample[None, :]).sum() / (2 * n * n * mean)


def slow_theil(x, w, g):
    """Direct formulas one element at a time."""
    items = [(a, b, c) for a, b, c in zip(x, w, g, strict=True) if b > 0 and not math.isnan(a)]
    W = sum(b for _, b, _ in items)
    mu = sum(a * b for a, b, _ in items) / W

    def xlogx(r):
        return 0.0 if r == 0 else r * math.log(r)

    total = sum(b / W * xlogx(a / mu) for a, b, _ in items) if mu > 0 else 0.0
    between = within = 0.0
    for grp in {c for _, _, c in items}:
        sub = [(a, b) for a, b, c in items if c == grp]
        Wg = sum(b for _, b in sub)
        mug = sum(a * b for a, b in sub) / Wg
        Tg = sum(b / Wg * xlogx(a / mug) for a, b in sub) if mug > 0 else 0.0
        if mu > 0:
            between += Wg / W * xlogx(mug / mu)
            within += Wg / W * mug / mu * Tg
    return total, between, within


# --- Gini --------------------------------------------------------------------------------------


@FAST
@given(_pairs)
def test_gini_matches_pairwise_definition(pairs):
    x, w = zip(*pairs, strict=True)
    assume(sum(w) > 1e-6)
    assert gini_weighted(x, w) == pytest.approx(slow_gini(x, w), rel=1e-9, abs=1e-12)


@FAST
@given(st.lists(st.tuples(_value, st.integers(0, 6)), min_size=1, max_size=25))
def test_gini_with_integer_weights_equals_repeated_sample(pairs):
    x, w = zip(*pairs, strict=True)
    assume(sum(w) > 0)
    assert gini_weighted(x, w) == pytest.approx(repeated_gini(x, w), rel=1e-9, abs=1e-12)


@FAST
@given(_pairs, st.floats(1e-3, 1e3))
def test_gini_is_scale_invariant_and_in_unit_interval(pairs, k):
    x, w = map(np.asarray, zip(*pairs, strict=True))
    assume(w.sum() > 1e-6)
    g = gini_weighted(x, w)
    assert 0.0 <= g < 1.0
    assert gini_weighted(k * x, w) == pytest.approx(g, rel=1e-9, abs=1e-12)
    assert gini_weighted(x, k * w) == pytest.approx(g, rel=1e-9, abs=1e-12)


@FAST
@given(st.floats(0, 1e4), st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=20))
def test_gini_of_equal_values_is_zero(v, w):
    assert gini_weighted([v] * len(w), w) == pytest.approx(0.0, abs=1e-12)


def test_gini_known_values_and_ignored_entries():
    assert gini_weighted([0, 0, 0, 1], [1, 1, 1, 1]) == pytest.approx(0.75)
    # a 0/1 "served" flag: Gini = 1 - share served
    assert gini_weighted([1, 0], [30, 70]) == pytest.approx(0.7)
    # NaN values and zero weights are ignored, as if absent
    assert gini_weighted([1, np.nan, 3, 50], [1, 5, 1, 0]) == pytest.approx(
        gini_weighted([1, 3], [1, 1])
    )
    assert math.isnan(gini_weighted([np.nan], [1]))
    assert math.isnan(gini_weighted([], []))


@pytest.mark.parametrize(
    "x,w,match",
    [
        ([1, 2], [1], "length"),
        ([-1, 2], [1, 1], ">= 0"),
        ([1, 2], [-1, 1], "weights"),
        ([1, 2], [np.nan, 1], "weights"),
        ([np.inf, 2], [1, 1], "finite"),
    ],
)
def test_gini_rejects_bad_input(x, w, match):
    with pytest.raises(ValueError, match=match):
        gini_weighted(x, w)


@FAST
@given(st.lists(st.tuples(_value, _weight, st.integers(0, 4)), max_size=40))
def test_gini_by_group_matches_one_call_per_group(rows):
    n_groups = 5
    x = np.array([r[0] for r in rows], float)
    w = np.array([r[1] for r in rows], float)
    g = np.array([r[2] for r in rows], np.int64)
    got = gini_weighted_by_group(x, w, g, n_groups)
    assert got.shape == (n_groups,)
    for k in range(n_groups):
        m = g == k
        want = gini_weighted(x[m], w[m])
        if math.isnan(want):
            assert math.isnan(got[k])
        else:
            assert got[k] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_gini_by_group_rejects_codes_out_of_range():
    with pytest.raises(ValueError, match="group codes"):
        gini_weighted_by_group([1.0], [1.0], [3], 2)


# --- Theil T -----------------------------------------------------------------------------------

_theil_rows = st.lists(
    st.tuples(
        st.one_of(st.just(0.0), st.floats(1e-3, 1e4)),
        st.floats(1e-2, 1e3),
        st.sampled_from(["01", "02", "79", "xx"]),
    ),
    min_size=1,
    max_size=30,
)


@FAST
@given(_theil_rows)
def test_theil_decomposition_is_exact(rows):
    x, w, g = zip(*rows, strict=True)
    t = theil_t(x, w, g)
    assert t.total >= -1e-12
    assert math.isclose(t.total, t.between + t.within, rel_tol=1e-12, abs_tol=1e-13)
    assert t.by_group["contribution"].sum() == pytest.approx(t.within, rel=1e-12, abs=1e-15)
    assert t.by_group["between_term"].sum() == pytest.approx(t.between, rel=1e-12, abs=1e-15)
    assert t.by_group["weight_share"].sum() == pytest.approx(1.0)
    if t.total > 0:
        assert t.by_group["value_share"].sum() == pytest.approx(1.0)


@FAST
@given(_theil_rows)
def test_theil_matches_slow_direct_formula(rows):
    x, w, g = zip(*rows, strict=True)
    t = theil_t(x, w, g)
    total, between, within = slow_theil(x, w, g)
    assert t.total == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert t.between == pytest.approx(between, rel=1e-9, abs=1e-12)
    assert t.within == pytest.approx(within, rel=1e-9, abs=1e-12)


def test_theil_special_cases():
    # constant within groups: all inequality is between
    t = theil_t([1, 1, 4, 4], [1, 1, 1, 1], ["a", "a", "b", "b"])
    assert t.within == 0.0 and t.total == pytest.approx(t.between) and t.between_share == 1.0
    # one group: all inequality is within
    t = theil_t([1, 2, 3], [1, 2, 3], ["a"] * 3)
    assert t.between == pytest.approx(0.0, abs=1e-15) and t.total == pytest.approx(t.within)
    # zeros allowed (0 ln 0 = 0): one person has everything among n -> ln n
    t = theil_t([0, 0, 0, 8], [1, 1, 1, 1], ["a", "b", "a", "b"])
    assert t.total == pytest.approx(math.log(4))
    # all zero: equal, index 0
    t = theil_t([0, 0], [1, 2], ["a", "b"])
    assert (t.total, t.between, t.within) == (0.0, 0.0, 0.0)
    # NaN / zero weight ignored; nothing left -> NaN
    t = theil_t([np.nan, 5], [1, 0], ["a", "b"])
    assert math.isnan(t.total) and t.by_group.empty
    assert list(theil_t([1, 2], [1, 1], ["b", "a"]).by_group["group"]) == ["a", "b"]


def test_theil_rejects_negative_values_and_missing_groups():
    with pytest.raises(ValueError, match=">= 0"):
        theil_t([-1.0, 2.0], [1, 1], ["a", "a"])
    with pytest.raises(ValueError, match="group label"):
        theil_t([1.0, 2.0], [1, 1], ["a", None])
    with pytest.raises(ValueError, match="length"):
        theil_t([1.0, 2.0], [1, 1], ["a"])


@FAST
@given(_theil_rows, st.floats(1e-2, 1e2))
def test_theil_is_scale_invariant(rows, k):
    x, w, g = zip(*rows, strict=True)
    a, b = theil_t(x, w, g), theil_t(np.asarray(x) * k, w, g)
    assert b.total == pytest.approx(a.total, rel=1e-9, abs=1e-12)
    assert b.between == pytest.approx(a.between, rel=1e-9, abs=1e-12)
