"""What a killed refresh leaves behind is swept; retention keeps what was served, not names."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from geodata.provenance import TEMP_PREFIX, atomic_path, atomic_write_text, temp_name_prefix
from geodata.publishing.generations import (
    CURRENT,
    LOCK_NAME,
    PUBLISHED,
    SERVED_RECORD,
    current_generation,
    generations,
    publish_generation,
    served_generations,
    sweep_leftovers,
    verify_generation,
)
from geodata.publishing.outputs import build_manifest
from tests.reliability.conftest import PROJECT_ROOT
from tests.reliability.test_publication import _KILL_INSIDE_PUBLISH

EMPTY = {
    "temp_files": 0,
    "temp_bytes": 0,
    "unfinished_generations": 0,
    "orphan_generations": 0,
    "removed": [],
    "errors": [],
}


def _working_set(root: Path, version: int) -> None:
    atomic_write_text(root / "downloads/34/04_cao_bang/2026Q3_cells.geojson", f'{{"v": {version}}}')
    for rel in ("tables/a.csv", "maps/m.png"):
        atomic_write_text(root / rel, f"{rel} v{version}\n" * (10 + version))
    build_manifest(root)


def _publish(root: Path, version: int, **kw) -> Path:
    _working_set(root, version)
    return publish_generation(root, **kw)


def _killed_temp(dest: Path, size: int) -> Path:
    """The temporary file an ``atomic_path`` writer killed -9 mid-write leaves beside ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=temp_name_prefix(dest), suffix=".tmp", dir=dest.parent)
    os.write(fd, b"x" * size)
    os.close(fd)
    return Path(name)


def _orphan(root: Path) -> Path:
    """A complete generation that was never made current (publisher killed before the swap)."""
    gen = root / PUBLISHED / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-0rphan00"
    shutil.copytree(current_generation(root), gen)
    return gen


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and symlink below ``root`` (not following links): bytes or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            out[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else p.read_bytes().hex()
    return out


def test_atomic_path_temp_files_have_the_sweepable_prefix(tmp_path):
    with atomic_path(tmp_path / "a.csv") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(f"{TEMP_PREFIX}a.csv.") and tmp.name.endswith(".tmp")
        tmp.write_text("x")
    with atomic_path(tmp_path / ("n" * 250)) as tmp:  # still fits in 255 bytes
        tmp.write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "n" * 250]


def test_sweep_removes_what_a_killed_refresh_left_and_nothing_else(tmp_path):
    root = tmp_path
    gen = _publish(root, 1)
    _working_set(root, 2)  # the next refresh rewrote the working set, then was killed
    # --- leftovers
    leftovers = [
        _killed_temp(root / "maps/m.png", 3_000_000),
        _killed_temp(root / "downloads/34/04_cao_bang/2026Q3_cells.geojson", 1_500_000),
        _killed_temp(root / "manifest.json", 100),
        root / "tables/.a.csv.k3j2h1x_.tmp",  # atomic_path's name before the .tmp- prefix
        root / f".{CURRENT}.4242.tmp",  # a publisher's temporary link
        root / "tables/.write-probe",
    ]
    leftovers[3].write_bytes(b"y" * 400)
    os.symlink(Path(PUBLISHED) / gen.name, leftovers[4])
    leftovers[5].write_bytes(b"gap-monitor write probe\n")
    temp_dir = root / "maps" / f"{TEMP_PREFIX}m.gpkg.abc12345"  # a writer's temporary folder
    (temp_dir / "sub").mkdir(parents=True)
    (temp_dir / "sub" / "m.gpkg").write_bytes(b"z" * 50_000)
    incomplete = root / PUBLISHED / ".incomplete-20261129T130000000000Z-3f2a9c1e"
    (incomplete / "maps").mkdir(parents=True)
    (incomplete / "maps" / "m.png").write_bytes(b"half a generation")
    served_tmp = root / PUBLISHED / f"{TEMP_PREFIX}{SERVED_RECORD}.q1w2e3r4.tmp"
    served_tmp.write_text("{")
    # --- look-alikes that must never be touched
    keep = {
        root / ".portal_cache" / "sheets" / ".abc.123.140.tmp": b"portal writing",
        root / ".portal_cache" / f"{TEMP_PREFIX}x.pdf.abcdefgh.tmp": b"portal's own",
        root / ".portal_cache" / "gis" / ".x.gpkg.abcdefgh" / "x.gpkg": b"portal work dir",
        gen / "maps" / f"{TEMP_PREFIX}m.png.abcdefgh.tmp": b"inside a generation",
        gen / "tables" / ".a.csv.abcdefgh.tmp": b"inside a generation",
        root / "tables" / "notes.tmp": b"no leading dot",
        root / "tables" / ".hidden.csv": b"hidden, not temporary",
        root / "tables" / "tmp-a.csv": b"no leading dot",
        root / "tables" / ".a.csv.toolong123.tmp": b"not 8 characters",
        root / ".manifest_hints" / "h.json": b"{}",
    }
    for path, data in keep.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    swept_names = {str(p.relative_to(root)) for p in [*leftovers, temp_dir, incomplete, served_tmp]}
    before = {
        rel: v
        for rel, v in _snapshot(root).items()
        if not any(rel == s or rel.startswith(s + "/") for s in swept_names)
    }

    report = sweep_leftovers(root)

    assert report["temp_files"] == 8  # six files, the folder's one file, published/'s one
    expected_bytes = 3_000_000 + 1_500_000 + 100 + 400 + 50_000 + 24 + 1
    expected_bytes += len(str(Path(PUBLISHED) / gen.name))  # the symlink's own size
    assert report["temp_bytes"] == expected_bytes
    assert report["unfinished_generations"] == 1 and report["orphan_generations"] == 0
    assert set(report["removed"]) == swept_names and report["errors"] == []
    after = _snapshot(root)
    assert after.pop(LOCK_NAME) == f"{os.getpid()}\n".encode().hex()  # the sweep takes the lock
    before.pop(LOCK_NAME, None)
    assert after == before  # every other file, byte for byte, and `current`
    for path, data in keep.items():
        assert path.read_bytes() == data
    assert current_generation(root) == gen
    assert sweep_leftovers(root) == EMPTY  # a second sweep finds nothing
    os.unlink(gen / "maps" / f"{TEMP_PREFIX}m.png.abcdefgh.tmp")
    os.unlink(gen / "tables" / ".a.csv.abcdefgh.tmp")
    assert verify_generation(gen) == 3


def test_sweep_of_an_empty_or_missing_output_directory(tmp_path):
    assert sweep_leftovers(tmp_path / "missing") == EMPTY
    assert not (tmp_path / "missing").exists()
    assert sweep_leftovers(tmp_path) == EMPTY


def test_a_kill_between_rename_and_swap_leaves_an_orphan_the_sweep_removes(tmp_path):
    first = _publish(tmp_path, 1)
    _working_set(tmp_path, 2)
    proc = subprocess.run(  # killed as it makes the temporary link: complete, never served
        [sys.executable, "-c", _KILL_INSIDE_PUBLISH, str(tmp_path), "symlink", "1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    orphan = next(g for g in generations(tmp_path) if g != first)
    assert current_generation(tmp_path) == first and served_generations(tmp_path) == [first]
    report = sweep_leftovers(tmp_path)
    assert report["orphan_generations"] == 1 and report["removed"] == [f"{PUBLISHED}/{orphan.name}"]
    assert generations(tmp_path) == [first] == served_generations(tmp_path)
    assert sweep_leftovers(tmp_path) == EMPTY


def test_retention_keeps_what_was_served_and_drops_orphans_first(tmp_path):
    a = _publish(tmp_path, 1)
    b = _publish(tmp_path, 2)
    _orphan(tmp_path)
    c = _publish(tmp_path, 3)
    o2, o3 = _orphan(tmp_path), _orphan(tmp_path)
    assert generations(tmp_path)[-3:] == [c, o2, o3]  # what retention by name would have kept
    d = _publish(tmp_path, 4, keep=3)
    assert current_generation(tmp_path) == d
    assert generations(tmp_path) == [b, c, d] == served_generations(tmp_path)
    record = json.loads((tmp_path / PUBLISHED / SERVED_RECORD).read_text())
    assert record["served"] == [b.name, c.name, d.name]
    assert not a.exists()
    # keep=1 still keeps the current generation and its predecessor
    _orphan(tmp_path)
    e = _publish(tmp_path, 5, keep=1)
    assert generations(tmp_path) == [d, e] == served_generations(tmp_path)


def test_a_kill_between_the_swap_and_the_record_is_repaired(tmp_path):
    first = _publish(tmp_path, 1)
    _working_set(tmp_path, 2)
    proc = subprocess.run(  # the 2nd os.replace: `current` swapped, served.json not yet written
        [sys.executable, "-c", _KILL_INSIDE_PUBLISH, str(tmp_path), "replace", "2"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    second = current_generation(tmp_path)
    assert second != first
    record = json.loads((tmp_path / PUBLISHED / SERVED_RECORD).read_text())
    assert record["served"] == [first.name]  # the kill came before the record
    assert served_generations(tmp_path) == [first, second]  # current is served, by definition
    report = sweep_leftovers(tmp_path)  # killed inside the record's write: its temporary file
    assert report["temp_files"] == 1 and report["removed"][0].startswith(
        f"{PUBLISHED}/{TEMP_PREFIX}{SERVED_RECORD}."
    )
    assert report["orphan_generations"] == 0  # the served generation is not an orphan
    assert generations(tmp_path) == [first, second]
    _orphan(tmp_path)
    third = _publish(tmp_path, 3, keep=2)
    assert generations(tmp_path) == [second, third]  # the predecessor is kept, orphan dropped


def test_an_output_directory_published_before_the_record_existed(tmp_path):
    a = _publish(tmp_path, 1)
    b = _publish(tmp_path, 2)
    (tmp_path / PUBLISHED / SERVED_RECORD).unlink()
    newer = _orphan(tmp_path)  # newer than current by name: never served
    assert served_generations(tmp_path) == [a, b]
    c = _publish(tmp_path, 3)
    assert not newer.exists() and generations(tmp_path) == [a, b, c]


@pytest.mark.parametrize("keep", [2, 3])
def test_many_publications_keep_the_last_served(tmp_path, keep):
    made = [_publish(tmp_path, v, keep=keep) for v in range(5)]
    assert generations(tmp_path) == made[-keep:] == served_generations(tmp_path)
    assert sweep_leftovers(tmp_path) == EMPTY
