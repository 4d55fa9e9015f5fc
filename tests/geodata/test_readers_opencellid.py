"""OpenCelliD / MLS cell-site reader: the malformed corpus, header detection, gzip, rules vs a loop."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import CorruptFileError, EmptyFileError, EncodingError, SchemaError
from geodata.readers.opencellid import COLUMNS, read_cell_sites
from geodata.study_area import study_area
from geodata.technology import TECH_RANK

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = FIXTURES / "bad_inputs" / "cell_sites"
GOOD = FIXTURES / "good_inputs" / "cell_sites"
HEADER = ",".join(COLUMNS)


def _quarantine(res) -> dict[int, tuple[str, str]]:
    q = res.quarantined
    return dict(
        zip(q["_row"].astype(int), zip(q["_column"], q["_reason"], strict=True), strict=True)
    )


BAD_CASES = [
    # other countries' networks are out of scope: counted in n_outside, never quarantined
    ("foreign_mcc.csv", {}, 1),
    # "5G" written as text is NR; WIMAX is no radio OpenCelliD knows
    ("unknown_radio.csv", {1: ("radio", "unknown radio")}, 2),
    ("swapped_latlon.csv", {2: ("lat", "lat/lon swapped")}, 1),
    ("outside_vietnam.csv", {}, 1),
    (
        "range_duplicates_missing.csv",
        {
            2: ("range", "range negative"),
            3: ("cell", "duplicate cell (radio, mcc, net, area, cell) of row 1"),
            4: ("lon", "lon missing"),
        },
        1,
    ),
    ("noheader_unknown_first_radio.csv", {1: ("radio", "unknown radio")}, 1),
]


#: Rows of each file outside the study area or of other networks.
OUTSIDE = {"foreign_mcc.csv": 2, "outside_vietnam.csv": 2}


@pytest.mark.parametrize(
    ("name", "expected", "n_accepted"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_inputs(name, expected, n_accepted):
    path = BAD / name
    res = read_cell_sites(path)
    assert res.reconciles()
    assert res.n_read == res.n_accepted + res.n_quarantined + res.n_outside
    assert res.n_outside == OUTSIDE.get(name, 0)
    assert res.n_accepted == n_accepted
    got = _quarantine(res)
    assert set(got) == set(expected)
    for row, (column, reason) in expected.items():
        assert got[row][0] == column
        assert reason in got[row][1]


def test_lower_case_radio_is_accepted_and_normalised():
    res = read_cell_sites(BAD / "unknown_radio.csv")
    assert res.accepted["radio"].tolist() == ["NR", "LTE"]
    assert res.accepted["tech"].tolist() == ["5G", "4G"]
    assert res.meta["radio_spellings_mapped"] == 1


@pytest.mark.parametrize("name", ["vn_cells.csv", "vn_cells_noheader.csv.gz"])
def test_good_files(name):
    res = read_cell_sites(GOOD / name)
    assert res.n_quarantined == 0 and res.n_accepted == 12
    assert res.meta["header"] is (name == "vn_cells.csv")
    a = res.accepted
    assert a["mcc"].eq(452).all() and a["cell"].dtype == np.int64
    assert set(a["tech"]) == {"2G", "3G", "4G", "5G"}
    assert (np.asarray(TECH_RANK)[a["tech_rank"]] == a["tech"].to_numpy(dtype=str)).all()
    assert a["averageSignal"].dtype == "Int64"


def test_header_and_headerless_agree():
    a = read_cell_sites(GOOD / "vn_cells.csv").accepted
    b = read_cell_sites(GOOD / "vn_cells_noheader.csv.gz").accepted
    assert a.equals(b)


def test_headerless_with_wrong_field_count(tmp_path):
    (tmp_path / "c.csv").write_text("LTE,452,4,12001,27141121,105.85,21.03\n")
    with pytest.raises(SchemaError, match="expected 14"):
        read_cell_sites(tmp_path / "c.csv")


def test_header_missing_columns(tmp_path):
    (tmp_path / "c.csv").write_text(
        "radio;mcc;net;area;cell;unit;lon;lat;range\nLTE;452;4;1;2;;105.8;21.0;100\n"
    )
    with pytest.raises(SchemaError, match="semicolon") as info:
        read_cell_sites(tmp_path / "c.csv")
    assert info.value.column == "radio"


def test_corrupt_gzip(tmp_path):
    blob = (GOOD / "vn_cells_noheader.csv.gz").read_bytes()
    (tmp_path / "c.csv.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CorruptFileError, match="decompress"):
        read_cell_sites(tmp_path / "c.csv.gz")


def test_empty_and_utf16(tmp_path):
    (tmp_path / "e.csv").write_text(HEADER + "\n")
    with pytest.raises(EmptyFileError):
        read_cell_sites(tmp_path / "e.csv")
    text = (GOOD / "vn_cells.csv").read_text()
    (tmp_path / "u.csv").write_bytes(text.encode("utf-16"))
    with pytest.raises(EncodingError, match="UTF-16"):
        read_cell_sites(tmp_path / "u.csv")


def test_ragged_row_is_a_corrupt_file(tmp_path):
    lines = (GOOD / "vn_cells.csv").read_text().splitlines()
    lines[3] += ",extra,fields"
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptFileError, match="r.csv"):
        read_cell_sites(tmp_path / "r.csv")


# ------------------------------------------------------------------ rules vs a slow loop


def _slow_reason_columns(
    radio: str, mcc: int, lon: float | None, lat: float | None, rng: float
) -> set[str]:
    """Columns that quarantine the row; ``None`` when it is out of scope (not quarantined)."""
    out = set()
    if mcc != 452:
        return None  # another country's network
    if radio.upper() not in ("GSM", "UMTS", "LTE", "NR", "CDMA", "5G"):
        out.add("radio")
    if rng < 0:
        out.add("range")
    if lon is None:
        out.add("lon")
    if lat is None:
        out.add("lat")
    if lon is None or lat is None:
        return out
    if 102 <= lat <= 110 and 8 <= lon <= 24:
        out.add("lat")
    elif abs(lon) > 180 or abs(lat) > 90:
        out |= {"lon"} if abs(lon) > 180 else set()
        out |= {"lat"} if abs(lat) > 90 else set()
    elif not shapely.intersects_xy(study_area().geometry, lon, lat):
        return None  # at sea or abroad
    return out


_coord = st.one_of(st.none(), st.floats(-200, 200, allow_nan=False).map(lambda v: round(v, 3)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GSM", "umts", "LTE", "NR", "CDMA", "WIMAX", "5G"]),
            st.sampled_from([452, 452, 452, 520, 456]),
            _coord,
            _coord,
            st.sampled_from([-10.0, 0.0, 500.0, 35_000.0]),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_site_rules_match_a_loop(tmp_path_factory, rows):
    lines = [HEADER]
    for i, (radio, mcc, lon, lat, rng) in enumerate(rows):
        lon_s = "" if lon is None else repr(lon)
        lat_s = "" if lat is None else repr(lat)
        lines.append(f"{radio},{mcc},4,100,{1000 + i},,{lon_s},{lat_s},{rng},3,1,1,2,")
    path = tmp_path_factory.mktemp("sites") / "s.csv"
    path.write_text("\n".join(lines) + "\n")
    res = read_cell_sites(path)
    assert res.reconciles()
    got = {r: set(c.split("; ")) for r, (c, _) in _quarantine(res).items()}
    slow = [_slow_reason_columns(*row) for row in rows]
    want = {i + 1: s for i, s in enumerate(slow) if s}
    assert got == want
    assert res.n_outside == sum(s is None for s in slow)


def test_gzip_equals_plain(tmp_path):
    text = (GOOD / "vn_cells.csv").read_bytes()
    with gzip.open(tmp_path / "c.csv.gz", "wb") as fh:
        fh.write(text)
    a = read_cell_sites(GOOD / "vn_cells.csv")
    b = read_cell_sites(tmp_path / "c.csv.gz")
    assert a.accepted.equals(b.accepted) and a.meta["sha256"] != b.meta["sha256"]
