"""Atomic writes leave the previous file intact on failure; hashes are content hashes."""

import hashlib

import pytest

from geodata.provenance import atomic_path, atomic_write_text, fingerprint, sha256_file


def test_atomic_write_replaces_whole_file(tmp_path):
    dest = tmp_path / "out.txt"
    atomic_write_text(dest, "old")
    atomic_write_text(dest, "new")
    assert dest.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    dest = tmp_path / "out.txt"
    atomic_write_text(dest, "previous")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert dest.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_sha256_and_fingerprint(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"x" * 3_000_000)
    assert sha256_file(p) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert fingerprint(["a", "b"]) == fingerprint(["b", "a"])
    assert fingerprint(["a", "b"]) != fingerprint(["a", "c"])
