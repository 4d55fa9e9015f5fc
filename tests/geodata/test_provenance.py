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


def test_manifest_lists_files_and_reuses_unchanged_entries(tmp_path):
    import json
    import os

    from geodata.publishing.outputs import build_manifest

    (tmp_path / "a.geojson").write_text(
        json.dumps(
            {"type": "FeatureCollection", "provenance": {"period": "2026Q3"}, "features": [{}]}
        )
    )
    (tmp_path / "t.csv").write_text("x\n1\n")
    (tmp_path / "summary_34_2026Q2.csv").write_text("x\n1\n")
    build_manifest(tmp_path)
    first = json.loads((tmp_path / "manifest.json").read_text())["files"]
    assert [(f["path"], f.get("features"), f.get("period")) for f in first] == [
        ("a.geojson", 1, "2026Q3"),
        ("summary_34_2026Q2.csv", None, "2026Q2"),
        ("t.csv", None, None),
    ]
    # a recorded entry is reused only while size and mtime are unchanged
    (tmp_path / "t.csv").write_text("x\n2\n")
    st = (tmp_path / "t.csv").stat()
    os.utime(tmp_path / "t.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    build_manifest(tmp_path)
    second = {f["path"]: f for f in json.loads((tmp_path / "manifest.json").read_text())["files"]}
    assert second["t.csv"]["sha256"] == sha256_file(tmp_path / "t.csv")
    assert second["a.geojson"] == first[0]


def test_manifest_takes_writers_hints_only_for_unchanged_files(tmp_path):
    """A writer's entry (sha256 and features from the bytes it wrote) is used while size and
    mtime match; a file rewritten since, or without a hint, is read and parsed."""
    import json
    import os

    from geodata.provenance import atomic_write_bytes
    from geodata.publishing.outputs import (
        MANIFEST_HINTS_DIR,
        build_manifest,
        manifest_hint,
        write_manifest_hints,
    )

    doc = {"type": "FeatureCollection", "provenance": {"period": "2026Q3"}, "features": [{}, {}]}
    data = json.dumps(doc).encode()
    hints = []
    for name in ("a.geojson", "b.geojson"):
        dest = atomic_write_bytes(tmp_path / "d" / name, data)
        hints.append(manifest_hint(dest, tmp_path, data, features=2, period="2026Q3"))
    hints[0]["sha256"] = "from-the-writer"  # proves the hint is used, not the file
    write_manifest_hints(tmp_path, "downloads_2026Q3", hints)
    # b.geojson is rewritten after its hint: same size, later mtime
    st = (tmp_path / "d" / "b.geojson").stat()
    os.utime(tmp_path / "d" / "b.geojson", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    build_manifest(tmp_path)
    files = {f["path"]: f for f in json.loads((tmp_path / "manifest.json").read_text())["files"]}
    assert sorted(files) == ["d/a.geojson", "d/b.geojson"]  # the hidden hints are not listed
    assert files["d/a.geojson"]["sha256"] == "from-the-writer"
    assert files["d/b.geojson"]["sha256"] == sha256_file(tmp_path / "d" / "b.geojson")
    assert files["d/b.geojson"]["features"] == 2 and files["d/b.geojson"]["period"] == "2026Q3"
    assert (tmp_path / MANIFEST_HINTS_DIR / "downloads_2026Q3.json").is_file()
    assert list(files["d/a.geojson"]) == list(files["d/b.geojson"])  # same keys, same order


def test_published_files_are_readable_by_others_and_respect_the_umask(tmp_path):
    import subprocess
    import sys

    from geodata.provenance import atomic_write_bytes, published_file_mode

    out = atomic_write_bytes(tmp_path / "a" / "x.csv", b"x\n")
    want = 0o666 & ~_umask()
    assert published_file_mode() == want
    assert out.stat().st_mode & 0o777 == want
    # a process with umask 077 keeps its files private: the umask is respected, not overridden
    code = (
        "import os, sys; os.umask(0o077); from geodata.provenance import atomic_write_bytes; "
        "p = atomic_write_bytes(sys.argv[1], b'y'); print(oct(os.stat(p).st_mode & 0o777))"
    )
    private = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "y.csv")], capture_output=True, text=True
    )
    assert private.stdout.strip() == "0o600", private.stderr


def _umask() -> int:
    import os

    old = os.umask(0o022)
    os.umask(old)
    return old
