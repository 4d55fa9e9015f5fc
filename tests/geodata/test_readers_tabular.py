"""Shared CSV handling: UTF-8 checks, comment and sample lines, column matching, duplicate keys."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import EmptyFileError, EncodingError, SchemaError
from geodata.readers.tabular import (
    ReaderChecks,
    finish,
    inspect_text_file,
    is_sample_key,
    is_sample_marker,
    match_columns,
    read_csv_text,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"", EmptyFileError, "0 bytes"),
        (b"\n\n  \n", EmptyFileError, "no header"),
        (b"# only a comment\n", EmptyFileError, "no header"),
        ("a,b\n1,2\n".encode("utf-16-le"), EncodingError, "UTF-16 without a byte-order mark"),
        ("a,b\n1,2\n".encode("utf-16-be"), EncodingError, "UTF-16 without a byte-order mark"),
        ("a,b\n1,2\n".encode("utf-16"), EncodingError, r"UTF-16 \(byte-order mark"),
        ("a,b\n1,2\n".encode("utf-32"), EncodingError, "UTF-32"),
        ("a,b\n1,Hà Nội\n".encode("cp1252", errors="replace"), EncodingError, "line 2"),
        ("a,b\n1,Đà Nẵng\n".encode(), None, None),
    ],
)
def test_inspect_text_file(tmp_path, data, error, match):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    if error is None:
        facts = inspect_text_file(path)
        assert facts.first_line == "a,b" and not facts.bom
        return
    with pytest.raises(error, match=match) as info:
        inspect_text_file(path)
    assert str(path) in str(info.value)


def test_bad_byte_far_into_a_big_file_names_its_line(tmp_path):
    """The UTF-8 check streams in chunks: a bad byte after the first MiB is still found."""
    line = "79,Hồ Chí Minh,2026Q1,ind,1,%,src\n"
    n = (1 << 20) // len(line.encode()) + 500
    body = line * n
    path = tmp_path / "big.csv"
    path.write_bytes(b"h\n" + body.encode() + b"79,H\xe0 N\xf4i\n")
    with pytest.raises(EncodingError, match=f"line {n + 2}"):
        inspect_text_file(path)


def test_multibyte_char_split_across_chunks_is_fine(tmp_path):
    head = b"a\n" + b"x" * ((1 << 20) - 3)
    path = tmp_path / "f.csv"
    path.write_bytes(head + "ộ\n".encode())  # 'ộ' (3 bytes) straddles the 1 MiB boundary
    assert inspect_text_file(path).first_line == "a"


def test_bom_comments_and_sample_marker(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"# gap_monitor_sample = true\n# note\nx,y\n1,2\n")
    facts = inspect_text_file(path)
    assert facts.bom and facts.sample and facts.n_comment_lines == 2 and facts.first_line == "x,y"
    frame = read_csv_text(path, facts)
    assert list(frame.columns) == ["x", "y"] and frame.iloc[0].tolist() == ["1", "2"]


@pytest.mark.parametrize(
    ("key", "value", "sample"),
    [
        ("gap_monitor_sample", "true", True),
        (b"gap_monitor:sample", b"true", True),
        ("GAP_MONITOR_SAMPLE", "1", True),
        ("gap_monitor_sample", "false", False),
        ("sample", "true", False),
    ],
)
def test_sample_key_and_marker(key, value, sample):
    assert (is_sample_key(key) and is_sample_marker(value)) is sample


def test_values_kept_as_text(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("quadkey,v\n0123,\n0012,NA\n")
    frame = read_csv_text(path, inspect_text_file(path))
    assert frame["quadkey"].tolist() == ["0123", "0012"]
    assert frame["v"].tolist() == ["", "NA"]


def test_match_columns_case_and_spaces():
    assert match_columns("f.csv", [" Quadkey", "tests"], ["quadkey", "tests"]) == {
        " Quadkey": "quadkey"
    }
    with pytest.raises(SchemaError, match="tab as delimiter"):
        match_columns("f.csv", ["a\tb"], ["a", "b"], header_line="a\tb")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from("xy")), min_size=0, max_size=30),
    st.integers(0, 2**31 - 1),
)
def test_fail_duplicates_matches_a_loop(keys, seed):
    frame = pd.DataFrame(keys, columns=["a", "b"]) if keys else pd.DataFrame({"a": [], "b": []})
    valid = np.random.default_rng(seed).random(len(frame)) < 0.8
    checks = ReaderChecks(frame, "f.csv")
    checks.fail_duplicates(frame, valid, "a", "key")
    result = finish(checks, frame, n_read=len(frame), path="f.csv", meta={})
    first: dict[tuple, int] = {}
    want = {}
    for i, (key, ok) in enumerate(zip(keys, valid, strict=True), start=1):
        if not ok:
            continue
        if key in first:
            want[i] = f"duplicate key of row {first[key]}"
        else:
            first[key] = i
    got = dict(
        zip(result.quarantined["_row"].astype(int), result.quarantined["_reason"], strict=True)
    )
    assert got == want
    assert result.n_accepted == len(frame) - len(want)


def test_finish_refuses_counts_that_do_not_reconcile():
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(AssertionError, match="do not reconcile"):
        finish(ReaderChecks(frame, "f.csv"), frame, n_read=3, path="f.csv", meta={})


def test_fixture_corpus_is_small_and_documented():
    files = [f for f in FIXTURES.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
    assert sum(f.stat().st_size for f in files) < 2_000_000
    readme = (FIXTURES / "bad_inputs" / "README.md").read_text(encoding="utf-8")
    for f in (FIXTURES / "bad_inputs").rglob("*"):
        if f.is_file() and f.name != "README.md":
            assert f"`{f.relative_to(FIXTURES / 'bad_inputs')}`" in readme, f
