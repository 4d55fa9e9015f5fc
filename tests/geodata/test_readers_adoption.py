"""Adoption CSV reader: the malformed corpus, both code systems against the crosswalk, periods."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import EmptyFileError, EncodingError, SchemaError
from geodata.readers.adoption import parse_periods, read_adoption
from geodata.reference import (
    boundary_version_for_period,
    load_crosswalk,
    province_codes,
    province_names,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = FIXTURES / "bad_inputs" / "adoption"
GOOD = FIXTURES / "good_inputs" / "adoption"
HEADER = "province_code,province_name,period,indicator,value,unit,source"


def _quarantine(res) -> dict[int, tuple[str, str]]:
    q = res.quarantined
    return dict(
        zip(q["_row"].astype(int), zip(q["_column"], q["_reason"], strict=True), strict=True)
    )


BAD_CASES = [
    # file, kwargs, error class | None, expected (message substring | {row: (column, reason)}), n_accepted
    ("empty.csv", {}, EmptyFileError, "empty (0 bytes)", None),
    ("header_only.csv", {}, EmptyFileError, "no data rows", None),
    ("utf16.csv", {}, EncodingError, "UTF-16", None),
    ("windows1258.csv", {}, EncodingError, "not UTF-8", None),
    ("wrong_delimiter.csv", {}, SchemaError, "semicolon ';' as delimiter", None),
    ("missing_column.csv", {}, SchemaError, "missing required column(s) value", None),
    ("utf8_bom.csv", {}, None, {}, 4),
    ("extra_column.csv", {}, None, {}, 4),
    ("misspelt_diacritics.csv", {}, None, {}, 3),
    (
        "unknown_province.csv",
        {},
        None,
        {
            2: ("province_code", "unknown province code"),
            3: ("province_code", "unknown province code"),
        },
        1,
    ),
    (
        "merged_code_2026.csv",
        {},
        None,
        {
            2: (
                "province_code",
                "pre-2025 code 77 for a period after 1 July 2025 (province Bà Rịa - Vũng Tàu merged into 79",
            )
        },
        3,
    ),
    (
        "name_of_other_code.csv",
        {},
        None,
        {
            2: ("province_name", "does not match code 01 (Hà Nội); it is the name of code 79"),
            3: ("province_name", "name 'Yên Bái' does not match code 15 (Lào Cai)"),
        },
        1,
    ),
    ("percent_140.csv", {}, None, {2: ("value", "percentage outside 0..100")}, 2),
    (
        "duplicate_indicator.csv",
        {},
        None,
        {3: ("indicator", "duplicate (province_code, period, indicator) of row 1")},
        2,
    ),
    (
        "value_and_period.csv",
        {},
        None,
        {
            1: ("value", "value missing or not a number"),
            2: ("period", "period not understood"),
            3: ("value", "value missing or not a number"),
        },
        1,
    ),
    (
        "other_province.csv",
        {"expect_province": "79"},
        None,
        {2: ("province_code", "another province than 79")},
        2,
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "expected", "n_accepted"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_inputs(name, kwargs, error, expected, n_accepted):
    path = BAD / name
    if error is not None:
        with pytest.raises(error) as info:
            read_adoption(path, **kwargs)
        assert type(info.value) is error
        assert str(path) in str(info.value) and expected in str(info.value)
        return
    res = read_adoption(path, **kwargs)
    assert res.reconciles() and res.n_read == res.n_accepted + res.n_quarantined
    assert res.n_accepted == n_accepted
    got = _quarantine(res)
    assert set(got) == set(expected)
    for row, (column, reason) in expected.items():
        assert got[row][0] == column
        assert reason in got[row][1]


def test_encoding_errors_suggest_utf8():
    for name in ("utf16.csv", "windows1258.csv"):
        with pytest.raises(EncodingError, match="save it as UTF-8"):
            read_adoption(BAD / name)
    with pytest.raises(EncodingError, match="line 2"):
        read_adoption(BAD / "windows1258.csv")


def test_bom_file_equals_plain_file():
    a = read_adoption(BAD / "utf8_bom.csv")
    b = read_adoption(GOOD / "79_ho_chi_minh_2025_2026.csv")
    assert a.meta["bom"] is True and b.meta["bom"] is False
    assert (a.accepted["source_file"] == "utf8_bom.csv").all()
    pd.testing.assert_frame_equal(
        a.accepted.drop(columns="source_file"), b.accepted.drop(columns="source_file")
    )


def test_extra_column_is_kept():
    assert read_adoption(BAD / "extra_column.csv").accepted["note"].eq("provisional").all()


def test_accepted_columns_and_versions():
    res = read_adoption(GOOD / "63_provinces_2024.csv")
    a = res.accepted.set_index("province_code")
    assert a.loc["01", "boundary_version"] == "63" and a.loc["01", "code_34"] == "01"
    assert a.loc["74", "code_63"] == "74" and a.loc["74", "code_34"] == "79"  # Bình Dương -> HCM
    assert a.loc["77", "period"] == "2025Q2"
    assert a.loc["77", "period_start"] == pd.Timestamp("2025-04-01")
    res = read_adoption(BAD / "merged_code_2026.csv")
    a = res.accepted.set_index(["province_code", "period"])
    assert a.loc[("01", "2026"), "code_34"] == "01" and a.loc[("01", "2026"), "code_63"] == "01"
    assert a.loc[("79", "2026Q1"), "boundary_version"] == "34"
    assert pd.isna(a.loc[("79", "2026Q1"), "code_63"])  # the new HCM is not one old province


def test_sample_flag_from_source_column(tmp_path):
    """geodata.sample labels every row's source "SYNTHETIC sample ..."."""
    (tmp_path / "s.csv").write_text(
        HEADER + "\n" + '79,Hồ Chí Minh,2026Q1,x,1,%,"SYNTHETIC sample"\n'
    )
    assert read_adoption(tmp_path / "s.csv").meta["sample"] is True
    assert read_adoption(GOOD / "63_provinces_2024.csv").meta["sample"] is False


def test_expect_province_must_be_a_code():
    with pytest.raises(ValueError, match="not an official province code"):
        read_adoption(GOOD / "63_provinces_2024.csv", expect_province="999")


# ------------------------------------------------------------------ codes vs the crosswalk, exhaustively


def _slow_code_outcome(code: str, period_start: str) -> tuple[str | None, str | None, str | None]:
    """(code_63, code_34, failure) for one code and period, from the crosswalk, row by row."""
    cw = load_crosswalk()
    n_old = cw.groupby("new_code").size()
    version = boundary_version_for_period(period_start)
    if version == "63":
        if code in cw.index:
            return code, cw.loc[code, "new_code"], None
        return None, None, "unknown"
    if code in set(province_codes("34")):
        return (code if n_old[code] == 1 else None), code, None
    if code in cw.index:
        new = cw.loc[code, "new_code"]
        if n_old[new] == 1:
            return code, new, None
        return None, None, "pre-2025"
    return None, None, "unknown"


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("2024", "2024-01-01"),
        ("2025-06", "2025-06-01"),
        ("2025Q3", "2025-07-01"),
        ("2026-Q1", "2026-01-01"),
    ],
)
def test_every_code_against_the_crosswalk(tmp_path, period, start):
    codes = [f"{i:02d}" for i in range(100)]
    body = "\n".join(f"{c},,{period},ind,1,%,src" for c in codes)
    (tmp_path / "a.csv").write_text(HEADER + "\n" + body + "\n")
    res = read_adoption(tmp_path / "a.csv")
    assert res.reconciles()
    q = _quarantine(res)
    acc = res.accepted.set_index("province_code")
    assert acc["boundary_version"].eq(boundary_version_for_period(start)).all()
    for i, code in enumerate(codes, start=1):
        c63, c34, failure = _slow_code_outcome(code, start)
        if failure is None:
            assert i not in q, code
            got63 = acc.loc[code, "code_63"]
            assert (None if pd.isna(got63) else got63) == c63, code
            assert acc.loc[code, "code_34"] == c34, code
        else:
            assert failure in q[i][1], (code, q.get(i))


def test_single_digit_codes_are_padded(tmp_path):
    (tmp_path / "a.csv").write_text(HEADER + "\n1,Hà Nội,2026,ind,1,%,src\n8,,2024,ind,1,%,src\n")
    res = read_adoption(tmp_path / "a.csv")
    assert res.accepted["province_code"].tolist() == ["01", "08"]


def test_every_official_name_is_accepted_and_foreign_names_rejected(tmp_path):
    names = province_names("34")
    rows = []
    for code, name in zip(names["code"], names["name"], strict=True):
        rows.append(f"{code},Tỉnh {name},2026Q1,ind,1,%,src")
        rows.append(f"{code},{name.upper()},2026Q2,ind,1,%,src")
    other = names["code"].tolist()
    for i, code in enumerate(other):  # each code with the next province's name
        rows.append(f"{code},{names['name'].iloc[(i + 1) % len(other)]},2026Q3,ind,1,%,src")
    (tmp_path / "n.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    res = read_adoption(tmp_path / "n.csv")
    q = _quarantine(res)
    assert set(q) == set(range(2 * len(names) + 1, 3 * len(names) + 1))
    assert all("it is the name of code" in reason for _, reason in q.values())


# ------------------------------------------------------------------ periods vs a scalar rule


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1990, 2040),
    st.sampled_from(["year", "q", "-q", "month", "bad"]),
    st.integers(1, 4),
    st.integers(1, 12),
)
def test_parse_periods_matches_scalar(year, form, q, month):
    text, canonical, start = {
        "year": (f"{year}", f"{year}", f"{year}-01-01"),
        "q": (f"{year}Q{q}", f"{year}Q{q}", f"{year}-{3 * q - 2:02d}-01"),
        "-q": (f"{year}-q{q}", f"{year}Q{q}", f"{year}-{3 * q - 2:02d}-01"),
        "month": (f"{year}-{month:02d}", f"{year}-{month:02d}", f"{year}-{month:02d}-01"),
        "bad": (f"{month}/{year}", None, None),
    }[form]
    got = parse_periods(pd.Series([text])).iloc[0]
    if canonical is None:
        assert pd.isna(got["period"]) and pd.isna(got["period_start"])
    else:
        assert got["period"] == canonical
        assert got["period_start"] == pd.Timestamp(start)
        assert boundary_version_for_period(start) == (
            "34" if pd.Timestamp(start) >= pd.Timestamp("2025-07-01") else "63"
        )


def test_percent_spellings_are_one_unit_for_the_0_100_check(tmp_path):
    rows = [
        "79,,2026Q1,a,140,%,src",
        "79,,2026Q1,b,140,percent,src",
        "79,,2026Q1,c,140, PCT ,src",
        "79,,2026Q1,d,140,Percent,src",
        "79,,2026Q1,e,55,pct,src",
        "79,,2026Q1,f,140,subscriptions,src",
    ]
    (tmp_path / "p.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    res = read_adoption(tmp_path / "p.csv")
    q = _quarantine(res)
    assert sorted(q) == [1, 2, 3, 4]
    assert all("0..100" in reason for _, reason in q.values())
    a = res.accepted.set_index("indicator")
    assert a.loc["e", "unit"] == "%" and a.loc["f", "unit"] == "subscriptions"
    assert res.meta["percent_units_normalised"] == 4


def test_a_resubmission_in_another_file_replaces_the_first_and_is_reported(tmp_path):
    from geodata.readers.adoption import resolve_resubmissions
    from geodata.validation import read_files

    first = tmp_path / "79_tp_hcm_2026-10-01.csv"
    again = tmp_path / "79_tp_hcm_2026-10-15.csv"
    first.write_text(
        HEADER + "\n79,,2026Q3,fixed_share,40,%,src\n79,,2026Q3,mobile_share,80,%,src\n"
    )
    again.write_text(HEADER + "\n79,,2026Q3,fixed_share,42.5,%,corrected\n")
    result, errors = read_files(read_adoption, [again, first])  # order read does not matter
    assert not errors and result.n_accepted == 3
    kept, superseded = resolve_resubmissions(result.accepted)
    k = kept.set_index("indicator")
    assert k.loc["fixed_share", "value"] == 42.5 and k.loc["mobile_share", "value"] == 80
    assert len(kept) == 2 and len(superseded) == 1
    s = superseded.iloc[0]
    assert s["source_file"] == first.name and s["source_row"] == 1 and s["value"] == 40
    assert s["superseded_by"] == f"{again.name} row 1" and s["value_standing"] == 42.5
    # nothing to resolve: the frame comes back whole
    kept2, none = resolve_resubmissions(kept)
    assert len(kept2) == 2 and none.empty
