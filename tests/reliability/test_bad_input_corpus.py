"""Every file of the malformed-input corpus: rejected whole with a named error, or its bad rows
quarantined with file, row, column and reason; counts reconcile; no row is lost."""

from __future__ import annotations

import re

import pytest

from geodata import errors
from tests.reliability.corpus import CORPUS, expectations, read_corpus, totals

OUTCOMES = {str(o.file.relative_to(CORPUS)): o for o in read_corpus()}

#: each defect the issue lists -> the corpus file that carries it
LISTED_DEFECTS = {
    "truncated Parquet": "speed_tiles/truncated.parquet",
    "wrong delimiter": "speed_tiles/wrong_delimiter_semicolon.csv",
    "UTF-16": "adoption/utf16.csv",
    "Windows-1258": "adoption/windows1258.csv",
    "BOM": "adoption/utf8_bom.csv",
    "missing column": "cell_sites/missing_column_lat.csv",
    "extra column": "speed_tiles/extra_column.csv",
    "swapped lat/lon": "cell_sites/swapped_latlon.csv",
    "points in the sea": "cell_sites/in_the_sea.csv",
    "points in another country": "speed_tiles/outside_vietnam.csv",
    "negative / zero / absurd speeds": "speed_tiles/speeds_negative_zero_absurd.csv",
    "tests = 0": "speed_tiles/tests_zero.csv",
    "duplicate quadkeys": "speed_tiles/duplicate_quadkeys.csv",
    "quadkeys of the wrong zoom": "speed_tiles/wrong_zoom_quadkeys.csv",
    "WKT disagreeing with the quadkey": "speed_tiles/wkt_mismatch.csv",
    "GeoTIFF with no CRS": "rasters/no_crs.tif",
    "GeoTIFF with a different CRS": "rasters/epsg3857.tif",
    "GeoTIFF truncated": "rasters/truncated.tif",
    "GeoTIFF all nodata": "rasters/all_nodata.tif",
    "cell site with a foreign MCC": "cell_sites/foreign_mcc.csv",
    "cell site with an unknown radio": "cell_sites/unknown_radio.csv",
    "adoption: unknown province": "adoption/unknown_province.csv",
    "adoption: pre-2025 code for a 2026 period": "adoption/merged_code_2026.csv",
    "adoption: misspelt diacritics": "adoption/misspelt_diacritics.csv",
    "adoption: 140 %": "adoption/percent_140.csv",
    "adoption: duplicated indicator": "adoption/duplicate_indicator.csv",
    "adoption: empty file": "adoption/empty.csv",
}


def _expected_rows(expected: str, word: str = "quarantined") -> set[int]:
    """Row numbers the README says are quarantined (``rows 2,3 (zoom), 4,5 (...) quarantined``),
    or with ``word="skipped"`` skipped as outside the study area (``rows 1,2 skipped: ...``)."""
    text = re.sub(r"\([^)]*\)", "", expected)
    parts = [p for p in text.split(";") if word in p]
    if not parts:
        return set()
    return {int(n) for n in re.findall(r"\d+", parts[0].split(":")[0])}


def test_the_corpus_holds_every_listed_defect_and_every_input_kind():
    assert len(OUTCOMES) >= 40
    missing = {d: f for d, f in LISTED_DEFECTS.items() if f not in OUTCOMES}
    assert not missing
    kinds = {rel.split("/")[0] for rel in OUTCOMES}
    assert kinds == {"speed_tiles", "cell_sites", "rasters", "adoption"}


@pytest.mark.parametrize("rel", sorted(expectations()))
def test_each_bad_input_is_rejected_or_quarantined_as_documented(rel):
    o = OUTCOMES[rel]
    error_name = re.match(r"(\w+Error)\b", o.expected)
    if error_name:
        assert o.error is not None, f"{rel}: expected {o.expected}, got {o.describe()}"
        assert isinstance(o.error, getattr(errors, error_name.group(1)))
        assert o.error.file == str(o.file) and o.error.reason  # names the file and the reason
        assert str(o.file) in str(o.error)
        return
    assert o.error is None, f"{rel}: {o.error}"
    if o.result is None:  # a raster that is fine (a different CRS is reprojected)
        assert "accepted" in o.expected
        return
    r = o.result
    assert r.reconciles() and r.n_read == r.n_accepted + r.n_quarantined + r.n_outside
    # rows outside the study area are counted, never quarantined
    assert r.n_outside == len(_expected_rows(o.expected, "skipped"))
    if "quarantined" not in o.expected:
        assert r.n_quarantined == 0
        return
    q = r.quarantined
    assert set(q["_row"].astype(int)) == _expected_rows(o.expected)
    assert (q["_file"].astype(str) == str(o.file)).all()
    assert q["_row"].astype(int).between(1, r.n_read).all()
    assert q["_column"].notna().all() and (q["_column"].astype(str).str.len() > 0).all()
    assert (q["_reason"].astype(str).str.len() > 0).all()


def test_counts_reconcile_and_no_row_is_lost():
    t = totals(list(OUTCOMES.values()))
    assert t["rows_lost"] == 0
    assert t["rows_read"] == t["rows_accepted"] + t["rows_quarantined"] + t["rows_outside"]
    assert t["rows_outside"] >= 8
    assert t["files_rejected_whole"] >= 15 and t["rows_quarantined"] >= 30
    print("\ncorpus: " + " ".join(f"{k}={v}" for k, v in t.items()))
