"""Service classes per cell: served, underserved, unserved or no data, from named thresholds.

A cell's *fixed* class comes from its measured fixed speed; its *mobile* class from its measured
mobile speed or, where nobody ran a mobile test, from the best technology covering it. The cell's
``service_class`` is the better of the two. No measurement is not "unserved": a cell without any
test and without coverage information is ``no_data``.

Thresholds are named configuration (:class:`ServiceThresholds`); the default follows the US
federal definitions because they are published, dated and widely used to map the same gap:

* **fixed** (Infrastructure Investment and Jobs Act §60102, NTIA BEAD NOFO 2022, the speeds of
  the FCC National Broadband Map): *served* at or above 100/20 Mbps, *unserved* below 25/3 Mbps,
  *underserved* in between;
* **mobile** (FCC Broadband Data Collection mobile coverage standards): *served* at or above the
  5G-NR tier of 35/3 Mbps, *unserved* below the 4G LTE tier of 5/1 Mbps (the minimum the FCC counts
  as mobile broadband), *underserved* in between.

Examples
--------
>>> fixed = classify_fixed([120.0, 50.0, 10.0, np.nan], [25.0, 10.0, 1.0, np.nan], [3, 1, 2, 0])
>>> [SERVICE_CLASSES[c] for c in fixed]
['served', 'underserved', 'unserved', 'no_data']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.errors import InputError, SchemaError
from geodata.technology import TECH_RANK

__all__ = [
    "SERVICE_CLASSES",
    "MOBILE_BASES",
    "ServiceThresholds",
    "DEFAULT_THRESHOLDS",
    "VN_2025_THRESHOLDS",
    "THRESHOLD_SETS",
    "threshold_set",
    "thresholds_from_mapping",
    "classify_fixed",
    "classify_mobile",
    "classify_cells",
]

#: Service classes from worst knowledge to best service; the index is the class code (int8) and
#: the order is the rank used to take the better of fixed and mobile.
SERVICE_CLASSES: tuple[str, ...] = ("no_data", "unserved", "underserved", "served")

#: What a cell's mobile class rests on; the index is the basis code (int8).
MOBILE_BASES: tuple[str, ...] = ("none", "coverage", "speed")

_NO_DATA, _UNSERVED, _UNDERSERVED, _SERVED = (
    SERVICE_CLASSES.index(c) for c in ("no_data", "unserved", "underserved", "served")
)
_BASIS_NONE, _BASIS_COVERAGE, _BASIS_SPEED = (
    MOBILE_BASES.index(b) for b in ("none", "coverage", "speed")
)
_TABLE = "cell table"
_SPEED_FIELDS = tuple(
    f"{kind}_{cls}_{d}_mbps"
    for kind in ("fixed", "mobile")
    for cls in ("served", "unserved")
    for d in ("down", "up")
)
_TECH_FIELDS = ("mobile_min_served_tech", "mobile_min_underserved_tech")


@dataclass(frozen=True)
class ServiceThresholds:
    """Named speed thresholds (Mbps) separating served, underserved and unserved.

    A measured cell is *served* when download AND upload reach the served thresholds, *unserved*
    when download OR upload is below the unserved thresholds, *underserved* otherwise (so a speed
    exactly at an unserved threshold is underserved, exactly at a served threshold is served).

    Attributes
    ----------
    name : short label written next to every figure computed with these thresholds
    source : citation of the definitions
    fixed_served_down_mbps, fixed_served_up_mbps : fixed served at or above both
    fixed_unserved_down_mbps, fixed_unserved_up_mbps : fixed unserved below either
    mobile_served_down_mbps, mobile_served_up_mbps : mobile served at or above both
    mobile_unserved_down_mbps, mobile_unserved_up_mbps : mobile unserved below either
    mobile_min_served_tech : rank in ``TECH_RANK`` from which a cell known only by coverage
        (no mobile test) is served (default 4 = 5G, the FCC 5G-NR 35/3 tier)
    mobile_min_underserved_tech : rank from which such a cell is underserved rather than unserved
        (default 3 = 4G, the FCC 4G LTE 5/1 tier, the minimum counted as mobile broadband)
    """

    name: str
    source: str
    fixed_served_down_mbps: float
    fixed_served_up_mbps: float
    fixed_unserved_down_mbps: float
    fixed_unserved_up_mbps: float
    mobile_served_down_mbps: float
    mobile_served_up_mbps: float
    mobile_unserved_down_mbps: float
    mobile_unserved_up_mbps: float
    mobile_min_served_tech: int = TECH_RANK.index("5G")
    mobile_min_underserved_tech: int = TECH_RANK.index("4G")

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise ValueError("thresholds need a non-empty name")
        for f in _SPEED_FIELDS:
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"threshold {f} must be a finite number >= 0, got {v!r}")
        for kind in ("fixed", "mobile"):
            for d in ("down", "up"):
                served = getattr(self, f"{kind}_served_{d}_mbps")
                unserved = getattr(self, f"{kind}_unserved_{d}_mbps")
                if served < unserved:
                    raise ValueError(
                        f"{kind}_served_{d}_mbps ({served}) must be >= "
                        f"{kind}_unserved_{d}_mbps ({unserved})"
                    )
        for f in _TECH_FIELDS:
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ValueError(f"{f} must be an int rank in TECH_RANK, got {v!r}")
            if not 0 <= v < len(TECH_RANK):
                raise ValueError(f"{f} must be in 0..{len(TECH_RANK) - 1} {TECH_RANK}, got {v}")
        if self.mobile_min_underserved_tech > self.mobile_min_served_tech:
            raise ValueError(
                "mobile_min_underserved_tech must be <= mobile_min_served_tech, got "
                f"{self.mobile_min_underserved_tech} > {self.mobile_min_served_tech}"
            )


#: Fixed: IIJA §60102 / NTIA BEAD 2022 (100/20 served, below 25/3 unserved); mobile: FCC BDC
#: 5G-NR 35/3 served, below 4G LTE 5/1 unserved; coverage-only cells: 5G served, 4G underserved.
DEFAULT_THRESHOLDS = ServiceThresholds(
    name="NTIA BEAD 2022 (fixed) + FCC mobile 5G/4G speed tiers",
    source=(
        "Fixed: Infrastructure Investment and Jobs Act (Pub. L. 117-58) §60102(a)(2) and NTIA "
        "Broadband Equity, Access, and Deployment (BEAD) Program Notice of Funding Opportunity "
        "(May 2022): an unserved location lacks 25/3 Mbps, an underserved location lacks "
        "100/20 Mbps; the FCC National Broadband Map reports the same speeds. Mobile: FCC "
        "Broadband Data Collection mobile coverage standards (Second Report and Order, FCC 21-20; "
        "47 CFR 1.7004): 4G LTE 5/1 Mbps and 5G-NR 35/3 Mbps."
    ),
    fixed_served_down_mbps=100.0,
    fixed_served_up_mbps=20.0,
    fixed_unserved_down_mbps=25.0,
    fixed_unserved_up_mbps=3.0,
    mobile_served_down_mbps=35.0,
    mobile_served_up_mbps=3.0,
    mobile_unserved_down_mbps=5.0,
    mobile_unserved_up_mbps=1.0,
    mobile_min_served_tech=TECH_RANK.index("5G"),
    mobile_min_underserved_tech=TECH_RANK.index("4G"),
)


#: Vietnam's own bars for "served", from the 2025 targets of the information and communications
#: infrastructure plan (Decision 36/QĐ-TTg, 2024: mean download of 200 Mb/s fixed and at least
#: 40 Mb/s on 4G); the decisions set no upload speed and no floor, so the unserved floors stay the
#: NTIA/FCC ones and the upload a served cell needs is that floor (3 Mbps fixed, 1 Mbps mobile).
VN_2025_THRESHOLDS = ServiceThresholds(
    name="Vietnam 2025 targets (36/QĐ-TTg: fixed 200 Mbps, mobile 40 Mbps) + NTIA/FCC floors",
    source=(
        "Served: Decision 36/QĐ-TTg (11 January 2024) approving the information and "
        "communications infrastructure plan 2021-2030, 2025 targets as reported "
        "(dientuungdung.vn, vneconomy.vn): fixed mean download 200 Mb/s, mobile mean download at "
        "least 40 Mb/s on 4G (100 Mb/s on 5G); no upload target (served needs only the upload "
        "floor). Unserved floors: NTIA BEAD 25/3 "
        "Mbps (fixed) and FCC BDC 4G LTE 5/1 Mbps (mobile), as in the default set."
    ),
    fixed_served_down_mbps=200.0,
    fixed_served_up_mbps=3.0,
    fixed_unserved_down_mbps=25.0,
    fixed_unserved_up_mbps=3.0,
    mobile_served_down_mbps=40.0,
    mobile_served_up_mbps=1.0,
    mobile_unserved_down_mbps=5.0,
    mobile_unserved_up_mbps=1.0,
    mobile_min_served_tech=TECH_RANK.index("5G"),
    mobile_min_underserved_tech=TECH_RANK.index("4G"),
)

#: The named threshold sets a run can use (``PipelineSettings.thresholds``,
#: ``GAP_MONITOR_THRESHOLDS``); every output names the one in force.
THRESHOLD_SETS: Mapping[str, ServiceThresholds] = {
    "ntia_fcc": DEFAULT_THRESHOLDS,
    "vn_2025": VN_2025_THRESHOLDS,
}


def threshold_set(key: str) -> ServiceThresholds:
    """The threshold set named ``key`` (``"ntia_fcc"`` or ``"vn_2025"``); ValueError otherwise."""
    try:
        return THRESHOLD_SETS[str(key).strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown threshold set {key!r}: choose one of {', '.join(THRESHOLD_SETS)}"
        ) from None


def thresholds_from_mapping(
    mapping: Mapping[str, Any], *, base: ServiceThresholds = DEFAULT_THRESHOLDS
) -> ServiceThresholds:
    """Thresholds from a mapping of overrides (e.g. a config file), on top of ``base``.

    Keys are :class:`ServiceThresholds` field names; speeds may be numbers or numeric strings;
    technology fields a rank or a name in ``TECH_RANK`` (``"4G"``). Unknown keys, served below
    unserved, or a bad value raise ``ValueError``. When values change but no ``name`` is given, the
    name says so, so no figure carries the name of thresholds it was not computed with.

    >>> thr = thresholds_from_mapping({"fixed_served_down_mbps": 50, "mobile_min_served_tech": "4G"})
    >>> thr.fixed_served_down_mbps, thr.mobile_min_served_tech
    (50.0, 3)
    >>> thr.name.endswith("fixed_served_down_mbps=50.0, mobile_min_served_tech=3)")
    True
    """
    fields = {f.name for f in dataclasses.fields(ServiceThresholds)}
    unknown = sorted(set(mapping) - fields)
    if unknown:
        raise ValueError(f"unknown threshold field(s) {unknown}; known: {sorted(fields)}")
    values: dict[str, Any] = {}
    for key, raw in mapping.items():
        if key in _TECH_FIELDS:
            if isinstance(raw, str) and raw in TECH_RANK:
                values[key] = TECH_RANK.index(raw)
            elif isinstance(raw, int | np.integer) and not isinstance(raw, bool):
                values[key] = int(raw)
            else:
                raise ValueError(f"{key} must be a rank or one of {TECH_RANK}, got {raw!r}")
        elif key in _SPEED_FIELDS:
            try:
                values[key] = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number of Mbps, got {raw!r}") from None
        else:
            values[key] = str(raw)
    changed = {
        k: v for k, v in values.items() if k not in ("name", "source") and getattr(base, k) != v
    }
    if changed and "name" not in values:
        values["name"] = (
            f"{base.name} (modified: " + ", ".join(f"{k}={v}" for k, v in changed.items()) + ")"
        )
    return dataclasses.replace(base, **values)


def _f64(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(a, dtype=np.float64)


def _classify_speed(
    down: npt.NDArray[np.float64],
    up: npt.NDArray[np.float64],
    served: tuple[float, float],
    unserved: tuple[float, float],
) -> npt.NDArray[np.int8]:
    """Unserved / underserved / served of measured speeds (no NaN here)."""
    out = np.full(down.shape, _UNDERSERVED, dtype=np.int8)
    out[(down >= served[0]) & (up >= served[1])] = _SERVED
    out[(down < unserved[0]) | (up < unserved[1])] = _UNSERVED
    return out


def _measured(
    down: npt.NDArray[np.float64], up: npt.NDArray[np.float64], tests: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return (_f64(tests) >= 1) & np.isfinite(down) & np.isfinite(up)


def classify_fixed(
    down: npt.ArrayLike,
    up: npt.ArrayLike,
    tests: npt.ArrayLike,
    thr: ServiceThresholds = DEFAULT_THRESHOLDS,
) -> npt.NDArray[np.int8]:
    """Fixed service class code (index in :data:`SERVICE_CLASSES`) of each cell.

    A cell is measured when it has at least one test and finite download and upload speeds;
    otherwise its fixed class is ``no_data`` (no measurement is not unserved).

    Parameters
    ----------
    down, up : tests-weighted mean download / upload speed (Mbps), NaN where unmeasured
    tests : number of fixed tests in the cell (NaN counts as 0)
    thr : thresholds

    Returns
    -------
    int8 codes: 0 no_data, 1 unserved, 2 underserved, 3 served
    """
    d, u = _f64(down), _f64(up)
    measured = _measured(d, u, tests)
    codes = np.full(d.shape, _NO_DATA, dtype=np.int8)
    codes[measured] = _classify_speed(
        d[measured],
        u[measured],
        (thr.fixed_served_down_mbps, thr.fixed_served_up_mbps),
        (thr.fixed_unserved_down_mbps, thr.fixed_unserved_up_mbps),
    )
    return codes


def classify_mobile(
    down: npt.ArrayLike,
    up: npt.ArrayLike,
    tests: npt.ArrayLike,
    best_tech_rank: npt.ArrayLike,
    thr: ServiceThresholds = DEFAULT_THRESHOLDS,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """Mobile service class code and its basis code (index in :data:`MOBILE_BASES`) per cell.

    * measured (tests >= 1, finite speeds): the speed tiers of ``thr`` (basis ``speed``);
    * else coverage known (``best_tech_rank >= 0``): the best technology, basis ``coverage``:
      rank >= ``thr.mobile_min_served_tech`` (5G) served, >= ``thr.mobile_min_underserved_tech``
      (4G) underserved, lower (3G, 2G, none) unserved. The FCC counts 4G LTE at 5/1 Mbps as the
      minimum mobile broadband and 5G-NR at 35/3 Mbps as the tier that meets the served speed, so
      a technology stands for the speed tier it is built to deliver;
    * else (``best_tech_rank == -1``, no test): ``no_data``, basis ``none``.

    >>> codes, basis = classify_mobile([40.0, np.nan, np.nan], [5.0, np.nan, np.nan], [2, 0, 0],
    ...                                [1, 3, -1])
    >>> [SERVICE_CLASSES[c] for c in codes], [MOBILE_BASES[b] for b in basis]
    (['served', 'underserved', 'no_data'], ['speed', 'coverage', 'none'])
    """
    d, u = _f64(down), _f64(up)
    rank = np.nan_to_num(_f64(best_tech_rank), nan=-1.0)
    measured = _measured(d, u, tests)
    covered = ~measured & (rank >= 0)
    codes = np.full(d.shape, _NO_DATA, dtype=np.int8)
    basis = np.full(d.shape, _BASIS_NONE, dtype=np.int8)
    codes[measured] = _classify_speed(
        d[measured],
        u[measured],
        (thr.mobile_served_down_mbps, thr.mobile_served_up_mbps),
        (thr.mobile_unserved_down_mbps, thr.mobile_unserved_up_mbps),
    )
    basis[measured] = _BASIS_SPEED
    r = rank[covered]
    codes[covered] = np.where(
        r >= thr.mobile_min_served_tech,
        _SERVED,
        np.where(r >= thr.mobile_min_underserved_tech, _UNDERSERVED, _UNSERVED),
    )
    basis[covered] = _BASIS_COVERAGE
    return codes, basis


_CLASS_INPUTS = (
    "fixed_d_mbps",
    "fixed_u_mbps",
    "fixed_tests",
    "mobile_d_mbps",
    "mobile_u_mbps",
    "mobile_tests",
    "best_tech_rank",
)


def _check_cells(cells: pd.DataFrame) -> None:
    missing = [c for c in _CLASS_INPUTS if c not in cells.columns]
    if missing:
        raise SchemaError(_TABLE, f"missing column(s) {missing}", column=missing[0])
    rank = np.nan_to_num(_f64(cells["best_tech_rank"]), nan=-1.0)
    bad = np.flatnonzero((rank < -1) | (rank > len(TECH_RANK) - 1) | (rank != np.round(rank)))
    if bad.size:
        raise InputError(
            _TABLE,
            f"best_tech_rank {rank[bad[0]]} is not -1 (no information) or a rank 0..."
            f"{len(TECH_RANK) - 1} of {TECH_RANK} ({bad.size} cells)",
            row=int(bad[0]) + 1,
            column="best_tech_rank",
        )


def _categorical(codes: npt.NDArray[np.int8], names: tuple[str, ...]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(names), ordered=True)


def classify_cells(
    cells: pd.DataFrame, thr: ServiceThresholds = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """A copy of the cell table with ``fixed_class``, ``mobile_class``, ``mobile_basis`` and
    ``service_class`` (the better of fixed and mobile; ``no_data`` only when both are).

    Classes are ordered ``pd.Categorical`` over :data:`SERVICE_CLASSES` (basis over
    :data:`MOBILE_BASES`), so ``== "served"`` and ``astype(str)`` work and order is kept.

    Raises
    ------
    SchemaError : a column of the cell table contract is missing
    InputError : ``best_tech_rank`` outside -1..4 (names the first bad row)
    """
    _check_cells(cells)
    fixed = classify_fixed(cells["fixed_d_mbps"], cells["fixed_u_mbps"], cells["fixed_tests"], thr)
    mobile, basis = classify_mobile(
        cells["mobile_d_mbps"],
        cells["mobile_u_mbps"],
        cells["mobile_tests"],
        cells["best_tech_rank"],
        thr,
    )
    out = cells.copy()
    out["fixed_class"] = _categorical(fixed, SERVICE_CLASSES)
    out["mobile_class"] = _categorical(mobile, SERVICE_CLASSES)
    out["mobile_basis"] = _categorical(basis, MOBILE_BASES)
    out["service_class"] = _categorical(np.maximum(fixed, mobile), SERVICE_CLASSES)
    return out
