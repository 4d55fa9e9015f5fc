"""Population-weighted inequality: Gini coefficient and Theil T index with its exact decomposition.

Both take per-cell values (download speed, a 0/1 served flag, ...) and weights (the people living
in each cell), so they describe how unequal access is between *people*, not between hexagons.
NaN values and zero weights are ignored (an unmeasured cell says nothing about inequality);
negative or non-finite weights and negative values raise ``ValueError``.

Examples
--------
>>> round(gini_weighted([1.0, 3.0], [1.0, 1.0]), 6)
0.25
>>> t = theil_t([1.0, 1.0, 4.0, 4.0], [1, 1, 1, 1], ["a", "a", "b", "b"])
>>> t.within, round(t.total, 6) == round(t.between, 6)
(0.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "gini_weighted",
    "gini_weighted_by_group",
    "TheilResult",
    "theil_t",
    "theil_t_from_sums",
    "theil_sums",
]


def _clean(
    values: npt.ArrayLike, weights: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Float arrays and the mask of usable entries (finite value, positive weight)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    if x.shape != w.shape:
        raise ValueError(f"values ({x.size}) and weights ({w.size}) differ in length")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and >= 0")
    keep = ~np.isnan(x) & (w > 0)
    if np.isinf(x[keep]).any():
        raise ValueError("values must be finite or NaN (NaN = not measured, ignored)")
    if (x[keep] < 0).any():
        raise ValueError("values must be >= 0 (inequality of a non-negative quantity)")
    return x, w, keep


def gini_weighted_by_group(
    values: npt.ArrayLike,
    weights: npt.ArrayLike,
    groups: npt.ArrayLike,
    n_groups: int,
) -> npt.NDArray[np.float64]:
    """Weighted Gini coefficient within each group, all groups in one sort.

    Parameters
    ----------
    values : non-negative values, NaN ignored
    weights : non-negative weights (people), zero ignored
    groups : int group code of each value, in ``0..n_groups-1``
    n_groups : number of groups (the length of the result)

    Returns
    -------
    Gini per group: NaN for a group with no usable value, 0 when all its values are equal
    (including all zero).

    Notes
    -----
    With values sorted within each group and ``C_i`` the cumulative weight up to and including
    ``i``, ``G = sum_i w_i x_i (2 C_i - w_i - W) / (W sum_i w_i x_i)``, which equals
    ``sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean)``: for integer weights, exactly the Gini of the
    sample with each value repeated ``w_i`` times. O(n log n).

    >>> gini_weighted_by_group([1.0, 3.0, 5.0, 5.0], [1, 1, 2, 1], [0, 0, 1, 1], 2).round(6)
    array([0.25, 0.  ])
    """
    x, w, keep = _clean(values, weights)
    g = np.asarray(groups).ravel()
    if g.shape != x.shape:
        raise ValueError(f"groups ({g.size}) and values ({x.size}) differ in length")
    g = g.astype(np.int64)
    if keep.any() and (g[keep].min() < 0 or g[keep].max() >= n_groups):
        raise ValueError(f"group codes must be in 0..{n_groups - 1}")
    x, w, g = x[keep], w[keep], g[keep]
    order = np.lexsort((x, g))
    x, w, g = x[order], w[order], g[order]
    total_w = np.bincount(g, weights=w, minlength=n_groups)
    total_wx = np.bincount(g, weights=w * x, minlength=n_groups)
    # cumulative weight within each group, restarted per group (no cancellation across groups)
    cum_w = pd.Series(w).groupby(g, sort=False).cumsum().to_numpy()
    num = np.bincount(g, weights=w * x * (2.0 * cum_w - w - total_w[g]), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        gini = num / (total_w * total_wx)
    gini = np.where(total_wx > 0, np.maximum(gini, 0.0), 0.0)  # clip rounding below 0
    # all values of a group equal: exactly 0 (subnormal values would round to anything)
    if g.size:
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ends = np.r_[starts[1:], g.size] - 1
        equal = np.zeros(n_groups, dtype=bool)
        equal[g[starts]] = x[starts] == x[ends]
        gini = np.where(equal, 0.0, gini)
    return np.where(total_w > 0, gini, np.nan)


def gini_weighted(values: npt.ArrayLike, weights: npt.ArrayLike) -> float:
    """Population-weighted Gini coefficient of non-negative ``values``, in ``[0, 1)``.

    ``sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean)``, computed in O(n log n) by sorting; for integer
    weights it equals the Gini of the sample with each value repeated ``w_i`` times. NaN values
    and zero weights are ignored; returns NaN when nothing is left and 0 when all values are equal
    (including all zero). Scale invariant.

    >>> gini_weighted([0.0, 0.0, 0.0, 10.0], [1, 1, 1, 1])
    0.75
    >>> gini_weighted([0.0, 10.0], [3, 1])
    0.75
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    return float(gini_weighted_by_group(x, weights, np.zeros(x.shape, np.int64), 1)[0])


@dataclass(frozen=True)
class TheilResult:
    """Theil T index and its exact split: ``total == between + within``.

    Attributes
    ----------
    total : Theil T over all units, ``sum_i s_i (x_i/mu) ln(x_i/mu)`` with ``s_i`` weight shares
    between : inequality between group means, ``sum_g S_g (mu_g/mu) ln(mu_g/mu)``
    within : ``sum_g S_g (mu_g/mu) T_g``, each group's own Theil T weighted by its value share
    by_group : one row per group: ``group, weight_share (S_g), mean (mu_g), value_share
        (S_g mu_g / mu), theil_within (T_g), contribution (value_share * T_g, sums to within),
        between_term (S_g (mu_g/mu) ln(mu_g/mu), sums to between)``
    """

    total: float
    between: float
    within: float
    by_group: pd.DataFrame

    @property
    def between_share(self) -> float:
        """Share of total inequality that lies between groups (NaN when total is 0)."""
        return self.between / self.total if self.total > 0 else float("nan")


def _xlogx(r: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``r ln r`` with ``0 ln 0 = 0``."""
    return r * np.log(np.where(r > 0, r, 1.0))


def theil_t(values: npt.ArrayLike, weights: npt.ArrayLike, groups: npt.ArrayLike) -> TheilResult:
    """Population-weighted Theil T index decomposed exactly into between and within groups.

    Parameters
    ----------
    values : non-negative values (e.g. download Mbps per cell); NaN ignored
    weights : people per cell; zero weights ignored
    groups : group label of each cell (e.g. province code); missing labels raise ``ValueError``

    Returns
    -------
    TheilResult ; all NaN with an empty ``by_group`` when no usable value is left.

    Notes
    -----
    Zero values are allowed: Theil T is defined with ``0 ln 0 = 0`` (the limit), so a person with
    nothing adds no term of their own but lowers the mean. When a mean is 0 (all values zero) the
    values are all equal and the index is 0. Negative values raise ``ValueError`` (the logarithm
    is undefined).

    >>> t = theil_t([1.0, 2.0, 3.0, 6.0], [1, 1, 1, 1], ["a", "a", "b", "b"])
    >>> abs(t.total - (t.between + t.within)) < 1e-15
    True
    """
    x, w, keep = _clean(values, weights)
    labels = pd.Series(np.asarray(groups, dtype=object).ravel())
    if len(labels) != x.size:
        raise ValueError(f"groups ({len(labels)}) and values ({x.size}) differ in length")
    if labels[keep].isna().any():
        raise ValueError("every used value needs a group label (found a missing label)")
    x, w = x[keep], w[keep]
    codes, uniques = pd.factorize(labels[keep], sort=True)
    if x.size == 0:
        nan = float("nan")
        return TheilResult(nan, nan, nan, pd.DataFrame(columns=_THEIL_COLUMNS))
    n = len(uniques)
    total_w = w.sum()
    mu = float((w * x).sum() / total_w)
    w_g = np.bincount(codes, weights=w, minlength=n)
    mu_g = np.bincount(codes, weights=w * x, minlength=n) / w_g
    share_g = w_g / total_w
    if mu > 0:
        total = float((w * _xlogx(x / mu)).sum() / total_w)
        rel_g = mu_g / mu
    else:  # every value is zero: perfect equality
        total = 0.0
        rel_g = np.zeros(n)
    mu_of_cell = mu_g[codes]
    r_cell = np.divide(x, mu_of_cell, out=np.zeros_like(x), where=mu_of_cell > 0)
    theil_g = np.bincount(codes, weights=w * _xlogx(r_cell), minlength=n) / w_g
    return _theil_result(np.asarray(uniques, dtype=object), share_g, mu_g, rel_g, theil_g, total)


_THEIL_COLUMNS = [
    "group",
    "weight_share",
    "mean",
    "value_share",
    "theil_within",
    "contribution",
    "between_term",
]


def _theil_result(
    groups: npt.NDArray[np.object_],
    share_g: npt.NDArray[np.float64],
    mu_g: npt.NDArray[np.float64],
    rel_g: npt.NDArray[np.float64],
    theil_g: npt.NDArray[np.float64],
    total: float,
) -> TheilResult:
    """The split of Theil T from each group's weight share, mean, mean relative to the overall
    one, and own Theil T."""
    value_share = share_g * rel_g
    contribution = value_share * theil_g
    between_term = share_g * _xlogx(rel_g)
    by_group = pd.DataFrame(
        {
            "group": groups,
            "weight_share": share_g,
            "mean": mu_g,
            "value_share": value_share,
            "theil_within": theil_g,
            "contribution": contribution,
            "between_term": between_term,
        }
    )
    return TheilResult(total, float(between_term.sum()), float(contribution.sum()), by_group)


def theil_sums(
    values: npt.ArrayLike, weights: npt.ArrayLike, groups: npt.ArrayLike, n_groups: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per group ``W = sum w``, ``Y = sum w x`` and ``L = sum w x ln x`` (``0 ln 0 = 0``) over
    the usable values (NaN and zero weights ignored, as in :func:`theil_t`): the additive parts
    from which :func:`theil_t_from_sums` gives Theil T and its exact split, so pieces of the
    cells summed apart (one province's, another's) add up to the whole.

    >>> w, y, l = theil_sums([1.0, 2.0, np.nan], [1, 1, 5], [0, 1, 1], 2)
    >>> w.tolist(), y.tolist(), round(float(l[1]), 6)
    ([1.0, 1.0], [1.0, 2.0], 1.386294)
    """
    x, w, keep = _clean(values, weights)
    g = np.asarray(groups, dtype=np.int64).ravel()
    if g.shape != x.shape:
        raise ValueError(f"groups ({g.size}) and values ({x.size}) differ in length")
    x, w, g = x[keep], w[keep], g[keep]
    return (
        np.bincount(g, weights=w, minlength=n_groups),
        np.bincount(g, weights=w * x, minlength=n_groups),
        np.bincount(g, weights=w * _xlogx(x), minlength=n_groups),
    )


def theil_t_from_sums(
    groups: npt.ArrayLike, w: npt.ArrayLike, y: npt.ArrayLike, lx: npt.ArrayLike
) -> TheilResult:
    """Theil T and its exact split between and within groups from each group's sums
    (:func:`theil_sums`: ``W``, ``Y = sum w x``, ``L = sum w x ln x``); equal to
    :func:`theil_t` on the cells (up to rounding), groups without weight left out.

    With ``mu = Y / W`` and ``mu_g = Y_g / W_g``: ``total = L / Y - ln mu``,
    ``between = sum_g (Y_g / Y) ln(mu_g / mu)``, ``T_g = L_g / Y_g - ln mu_g`` and
    ``within = sum_g (Y_g / Y) T_g``; so ``total == between + within`` exactly in real
    arithmetic, and sums of pieces merge by addition.

    >>> t = theil_t_from_sums(["a", "b"], [2.0, 2.0], [2.0, 8.0], [0.0, 8 * np.log(4.0)])
    >>> round(t.total, 12) == round(theil_t([1, 1, 4, 4], [1, 1, 1, 1], list("aabb")).total, 12)
    True
    """
    w_g = np.asarray(w, dtype=np.float64)
    y_g = np.asarray(y, dtype=np.float64)
    l_g = np.asarray(lx, dtype=np.float64)
    labels = np.asarray(groups, dtype=object)
    used = w_g > 0
    labels, w_g, y_g, l_g = labels[used], w_g[used], y_g[used], l_g[used]
    if not used.any():
        nan = float("nan")
        return TheilResult(nan, nan, nan, pd.DataFrame(columns=_THEIL_COLUMNS))
    total_w, total_y = w_g.sum(), y_g.sum()
    mu_g = y_g / w_g
    if total_y > 0:
        mu = total_y / total_w
        total = float(l_g.sum() / total_y - np.log(mu))
        rel_g = mu_g / mu
    else:  # every value is zero: perfect equality
        total = 0.0
        rel_g = np.zeros(len(w_g))
    theil_g = np.divide(
        l_g - y_g * np.log(np.where(mu_g > 0, mu_g, 1.0)),
        y_g,
        out=np.zeros(len(w_g)),
        where=y_g > 0,
    )
    return _theil_result(labels, w_g / total_w, mu_g, rel_g, theil_g, total)
