"""Service classes: threshold boundaries, no measurement is not unserved, best of fixed and mobile."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import InputError, SchemaError
from geodata.indicators.service import (
    DEFAULT_THRESHOLDS,
    MOBILE_BASES,
    SERVICE_CLASSES,
    ServiceThresholds,
    classify_cells,
    classify_fixed,
    classify_mobile,
    thresholds_from_mapping,
)
from geodata.technology import TECH_RANK

THR = DEFAULT_THRESHOLDS


def names(codes):
    return [SERVICE_CLASSES[c] for c in codes]


# --- slow, obvious oracle: the rules written one cell at a time --------------------------------


def _speed_class(d, u, served, unserved):
    if d >= served[0] and u >= served[1]:
        if d < unserved[0] or u < unserved[1]:  # impossible when served >= unserved
            return "unserved"
        return "served"
    if d < unserved[0] or u < unserved[1]:
        return "unserved"
    return "underserved"


def _measured(d, u, t):
    return t == t and t >= 1 and np.isfinite(d) and np.isfinite(u)


def slow_fixed(d, u, t, thr=THR):
    if not _measured(d, u, t):
        return "no_data"
    return _speed_class(
        d,
        u,
        (thr.fixed_served_down_mbps, thr.fixed_served_up_mbps),
        (thr.fixed_unserved_down_mbps, thr.fixed_unserved_up_mbps),
    )


def slow_mobile(d, u, t, rank, thr=THR):
    if _measured(d, u, t):
        cls = _speed_class(
            d,
            u,
            (thr.mobile_served_down_mbps, thr.mobile_served_up_mbps),
            (thr.mobile_unserved_down_mbps, thr.mobile_unserved_up_mbps),
        )
        return cls, "speed"
    if rank >= 0:
        tech = TECH_RANK[rank]
        cls = {"5G": "served", "4G": "underserved"}.get(tech, "unserved")
        return cls, "coverage"
    return "no_data", "none"


# --- thresholds --------------------------------------------------------------------------------


def test_default_thresholds_are_the_cited_definitions():
    assert (THR.fixed_served_down_mbps, THR.fixed_served_up_mbps) == (100, 20)
    assert (THR.fixed_unserved_down_mbps, THR.fixed_unserved_up_mbps) == (25, 3)
    assert (THR.mobile_served_down_mbps, THR.mobile_served_up_mbps) == (35, 3)
    assert (THR.mobile_unserved_down_mbps, THR.mobile_unserved_up_mbps) == (5, 1)
    assert TECH_RANK[THR.mobile_min_served_tech] == "5G"
    assert TECH_RANK[THR.mobile_min_underserved_tech] == "4G"
    for cited in ("60102", "BEAD", "National Broadband Map", "Broadband Data Collection"):
        assert cited in THR.source
    assert "BEAD" in THR.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        THR.fixed_served_down_mbps = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "field,value",
    [
        ("fixed_served_down_mbps", 10.0),  # below unserved 25
        ("fixed_unserved_up_mbps", 30.0),  # above served 20
        ("mobile_served_down_mbps", 1.0),
        ("mobile_unserved_up_mbps", 9.0),
        ("fixed_served_up_mbps", -1.0),
        ("fixed_served_up_mbps", float("nan")),
        ("mobile_min_served_tech", 7),
        ("mobile_min_underserved_tech", 4.0),
        ("name", " "),
    ],
)
def test_invalid_thresholds_raise(field, value):
    with pytest.raises(ValueError, match=field.split("_mbps")[0] if field != "name" else "name"):
        dataclasses.replace(THR, **{field: value})


def test_underserved_tech_above_served_tech_raises():
    with pytest.raises(ValueError, match="mobile_min_underserved_tech"):
        dataclasses.replace(THR, mobile_min_served_tech=2, mobile_min_underserved_tech=3)


def test_thresholds_from_mapping_overrides_and_renames():
    thr = thresholds_from_mapping({"fixed_served_down_mbps": "50", "mobile_min_served_tech": "4G"})
    assert thr.fixed_served_down_mbps == 50.0 and thr.mobile_min_served_tech == 3
    assert thr.fixed_unserved_down_mbps == THR.fixed_unserved_down_mbps
    assert thr.name != THR.name and "fixed_served_down_mbps=50.0" in thr.name
    named = thresholds_from_mapping({"name": "national plan 2025", "fixed_served_up_mbps": 10})
    assert named.name == "national plan 2025" and named.fixed_served_up_mbps == 10.0
    assert thresholds_from_mapping({}) == THR
    assert thresholds_from_mapping({"fixed_served_down_mbps": 100}) == THR


@pytest.mark.parametrize(
    "mapping,match",
    [
        ({"fixed_servd_down_mbps": 1}, "unknown threshold"),
        ({"fixed_served_down_mbps": "fast"}, "number of Mbps"),
        ({"fixed_served_down_mbps": 20}, "must be >="),
        ({"mobile_min_served_tech": "6G"}, "mobile_min_served_tech"),
        ({"mobile_min_served_tech": True}, "mobile_min_served_tech"),
    ],
)
def test_thresholds_from_mapping_rejects_bad_values(mapping, match):
    with pytest.raises(ValueError, match=match):
        thresholds_from_mapping(mapping)


# --- fixed ---------------------------------------------------------------------------------------


def test_fixed_threshold_boundaries():
    down = [25.0, 24.999, 25.0, 100.0, 99.999, 100.0, 1000.0, 1000.0]
    up = [3.0, 3.0, 2.999, 20.0, 20.0, 19.999, 1000.0, 2.0]
    got = names(classify_fixed(down, up, np.ones(len(down))))
    assert got == [
        "underserved",  # exactly 25/3: not unserved
        "unserved",
        "unserved",
        "served",  # exactly 100/20
        "underserved",
        "underserved",
        "served",
        "unserved",  # fast download, upload below 3
    ]


def test_fixed_without_tests_is_no_data_never_unserved():
    down = [0.5, 200.0, np.nan, 0.5, 10.0]
    up = [0.1, 50.0, np.nan, 0.1, np.nan]
    tests = [0, 0, 5, np.nan, 3]
    assert names(classify_fixed(down, up, tests)) == ["no_data"] * 5


def test_fixed_returns_int8_codes_of_the_input_shape():
    codes = classify_fixed(np.array([]), np.array([]), np.array([]))
    assert codes.dtype == np.int8 and codes.shape == (0,)


# --- mobile --------------------------------------------------------------------------------------


def test_mobile_speed_boundaries():
    down = [35.0, 34.99, 5.0, 4.99, 100.0, 100.0]
    up = [3.0, 3.0, 1.0, 1.0, 0.99, 2.99]
    codes, basis = classify_mobile(down, up, [1] * 6, [-1] * 6)
    assert names(codes) == [
        "served",
        "underserved",
        "underserved",  # exactly 5/1 is mobile broadband
        "unserved",
        "unserved",
        "underserved",
    ]
    assert {MOBILE_BASES[b] for b in basis} == {"speed"}


def test_mobile_coverage_mapping_when_untested():
    ranks = [-1, 0, 1, 2, 3, 4]
    nan = [np.nan] * len(ranks)
    codes, basis = classify_mobile(nan, nan, [0] * len(ranks), ranks)
    assert names(codes) == ["no_data", "unserved", "unserved", "unserved", "underserved", "served"]
    assert [MOBILE_BASES[b] for b in basis] == ["none"] + ["coverage"] * 5


def test_measured_mobile_speed_beats_coverage():
    codes, basis = classify_mobile([2.0, 50.0], [0.5, 10.0], [3, 1], [4, 0])
    assert names(codes) == ["unserved", "served"]
    assert [MOBILE_BASES[b] for b in basis] == ["speed", "speed"]


# --- cells -------------------------------------------------------------------------------------

_speed = st.one_of(
    st.just(np.nan),
    st.sampled_from([0.0, 1.0, 3.0, 5.0, 20.0, 25.0, 35.0, 100.0]),
    st.floats(0, 2000, allow_nan=False),
)
_row = st.tuples(
    _speed,
    _speed,
    st.sampled_from([0, 1, 7, np.nan]),
    _speed,
    _speed,
    st.sampled_from([0, 1, 2]),
    st.integers(-1, 4),
)


def _table(rows):
    cols = [
        "fixed_d_mbps",
        "fixed_u_mbps",
        "fixed_tests",
        "mobile_d_mbps",
        "mobile_u_mbps",
        "mobile_tests",
        "best_tech_rank",
    ]
    df = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    df["fixed_tests"] = df["fixed_tests"].astype(float)
    df["mobile_tests"] = df["mobile_tests"].astype(np.int32)
    df["best_tech_rank"] = df["best_tech_rank"].astype(np.int8)
    df.insert(0, "cell", np.arange(len(df), dtype=np.uint64) + 1)
    return df


@settings(max_examples=150, deadline=None)
@given(st.lists(_row, max_size=40))
def test_classify_cells_matches_a_slow_row_loop(rows):
    df = _table(rows)
    out = classify_cells(df)
    for i, (fd, fu, ft, md, mu, mt, rank) in enumerate(rows):
        fixed = slow_fixed(fd, fu, ft)
        mobile, basis = slow_mobile(md, mu, mt, rank)
        best = max(fixed, mobile, key=SERVICE_CLASSES.index)
        assert out["fixed_class"].iloc[i] == fixed
        assert out["mobile_class"].iloc[i] == mobile
        assert out["mobile_basis"].iloc[i] == basis
        assert out["service_class"].iloc[i] == best
    # no_data only where both are no_data
    both = (out["fixed_class"] == "no_data") & (out["mobile_class"] == "no_data")
    assert ((out["service_class"] == "no_data") == both).all()


def test_classify_cells_keeps_input_and_adds_ordered_categoricals():
    df = _table(
        [(150.0, 30.0, 2, np.nan, np.nan, 0, -1), (np.nan, np.nan, 0, np.nan, np.nan, 0, -1)]
    )
    before = df.copy()
    out = classify_cells(df)
    pd.testing.assert_frame_equal(df, before)
    assert list(out["service_class"].cat.categories) == list(SERVICE_CLASSES)
    assert out["service_class"].cat.ordered
    assert out["service_class"].astype(str).tolist() == ["served", "no_data"]
    assert list(out["mobile_basis"].cat.categories) == list(MOBILE_BASES)


def test_cell_without_tests_or_coverage_is_no_data_not_unserved():
    df = _table([(np.nan, np.nan, 0, np.nan, np.nan, 0, -1)])
    out = classify_cells(df)
    assert out["service_class"].iloc[0] == "no_data"
    # coverage information saying "no mobile at all" is knowledge: unserved
    out = classify_cells(_table([(np.nan, np.nan, 0, np.nan, np.nan, 0, 0)]))
    assert out["service_class"].iloc[0] == "unserved"


def test_classify_cells_uses_given_thresholds():
    df = _table([(60.0, 12.0, 3, np.nan, np.nan, 0, -1)])
    assert classify_cells(df)["service_class"].iloc[0] == "underserved"
    lenient = thresholds_from_mapping({"fixed_served_down_mbps": 50, "fixed_served_up_mbps": 10})
    assert classify_cells(df, lenient)["service_class"].iloc[0] == "served"


def test_missing_column_is_a_schema_error():
    df = _table([(1.0, 1.0, 1, 1.0, 1.0, 1, 3)]).drop(columns=["mobile_tests"])
    with pytest.raises(SchemaError, match="mobile_tests") as exc:
        classify_cells(df)
    assert exc.value.column == "mobile_tests"


def test_bad_tech_rank_names_the_row():
    df = _table([(1.0, 1.0, 1, 1.0, 1.0, 1, 3)] * 3)
    df.loc[1, "best_tech_rank"] = 9
    with pytest.raises(InputError, match="best_tech_rank") as exc:
        classify_cells(df)
    assert exc.value.row == 2 and exc.value.column == "best_tech_rank"


def test_custom_threshold_type_is_a_plain_dataclass():
    thr = ServiceThresholds(
        name="test",
        source="none",
        fixed_served_down_mbps=10,
        fixed_served_up_mbps=1,
        fixed_unserved_down_mbps=1,
        fixed_unserved_up_mbps=0.5,
        mobile_served_down_mbps=10,
        mobile_served_up_mbps=1,
        mobile_unserved_down_mbps=1,
        mobile_unserved_up_mbps=0.5,
    )
    assert dataclasses.asdict(thr)["mobile_min_served_tech"] == 4
    assert names(classify_fixed([10.0], [1.0], [1], thr)) == ["served"]


def test_vietnamese_threshold_set_is_named_and_stricter_for_served():
    from geodata.indicators.service import (
        DEFAULT_THRESHOLDS,
        THRESHOLD_SETS,
        VN_2025_THRESHOLDS,
        threshold_set,
    )

    assert threshold_set("vn_2025") is VN_2025_THRESHOLDS
    assert threshold_set("NTIA_FCC") is DEFAULT_THRESHOLDS
    assert set(THRESHOLD_SETS) == {"ntia_fcc", "vn_2025"}
    assert "36/QĐ-TTg" in VN_2025_THRESHOLDS.name and "36/QĐ-TTg" in VN_2025_THRESHOLDS.source
    # 150 Mbps fixed: served under NTIA (100/20), underserved under Vietnam's 200 Mbps target
    down, up, tech = [150.0], [30.0], [3]
    assert SERVICE_CLASSES[classify_fixed(down, up, tech, DEFAULT_THRESHOLDS)[0]] == "served"
    assert SERVICE_CLASSES[classify_fixed(down, up, tech, VN_2025_THRESHOLDS)[0]] == "underserved"
    with pytest.raises(ValueError, match="vn_2025"):
        threshold_set("eu_gigabit")
