"""Published generations, the refresh lock and output-write errors, on small output folders."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geodata.provenance import OutputWriteError, atomic_write_bytes, atomic_write_text
from geodata.publishing.generations import (
    CURRENT,
    LOCK_NAME,
    PUBLISH_LOCK_NAME,
    PUBLISHED,
    PublicationError,
    RefreshLocked,
    current_generation,
    generations,
    publish_generation,
    refresh_lock,
    verify_generation,
)
from geodata.publishing.outputs import build_manifest
from tests.reliability.conftest import PROJECT_ROOT, tree_digests


def _working_set(root: Path, version: int) -> None:
    """A few outputs in the usual folders, their bytes depending on ``version``."""
    geojson = {"type": "FeatureCollection", "features": [], "provenance": {"version": version}}
    atomic_write_text(root / "downloads/34/04_cao_bang/2026Q3_cells.geojson", json.dumps(geojson))
    for rel in ("tables/a.csv", "maps/m.png"):
        atomic_write_text(root / rel, f"{rel} v{version}\n" * (10 + version))
    build_manifest(root)


def test_a_generation_is_byte_for_byte_immune_to_the_next_refresh(tmp_path):
    _working_set(tmp_path, 1)
    first = publish_generation(tmp_path)
    assert (tmp_path / CURRENT).resolve() == first
    digests = tree_digests(first)
    assert set(digests) == {
        "manifest.json",
        "downloads/34/04_cao_bang/2026Q3_cells.geojson",
        "tables/a.csv",
        "maps/m.png",
    }
    _working_set(tmp_path, 2)  # the next refresh rewrites every file (atomically) and the manifest
    assert tree_digests(first) == digests  # hard links: the old inodes were not written into
    assert tree_digests(tmp_path / CURRENT) == digests  # not published yet: still the old set
    second = publish_generation(tmp_path)
    assert current_generation(tmp_path) == second != first
    assert verify_generation(second) == 3 and tree_digests(second) != digests
    # the manifest of the working set never lists the published folders
    assert "published" not in (tmp_path / "manifest.json").read_text()


def test_old_generations_are_pruned_and_unfinished_ones_removed(tmp_path):
    made = []
    for v in range(5):
        _working_set(tmp_path, v)
        made.append(publish_generation(tmp_path, keep=3))
    assert generations(tmp_path) == made[-3:]
    (tmp_path / PUBLISHED / ".incomplete-x").mkdir()
    _working_set(tmp_path, 9)
    publish_generation(tmp_path)
    assert not list((tmp_path / PUBLISHED).glob(".incomplete-*"))


def test_a_file_changed_after_the_manifest_is_not_published(tmp_path):
    _working_set(tmp_path, 1)
    first = publish_generation(tmp_path)
    _working_set(tmp_path, 2)
    atomic_write_text(tmp_path / "tables" / "a.csv", "rewritten after the manifest\n")
    with pytest.raises(PublicationError, match="a.csv changed after"):
        publish_generation(tmp_path)
    assert current_generation(tmp_path) == first
    assert generations(tmp_path) == [first]


_KILL_INSIDE_PUBLISH = textwrap.dedent(
    """
    import os, signal, sys
    from geodata.publishing.generations import publish_generation
    name, nth = sys.argv[2], int(sys.argv[3])
    real = getattr(os, name)
    calls = [0]
    def dying(*args, **kw):
        calls[0] += 1
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kw)
    setattr(os, name, dying)
    publish_generation(sys.argv[1])
    """
)


@pytest.mark.parametrize(
    ("call", "nth"),
    [
        ("link", 1),  # before the first file is linked
        ("link", 3),  # half-way through the files
        ("fsync", 2),  # while flushing the new generation's folders
        ("rename", 1),  # the complete generation is about to get its final name
        ("symlink", 1),  # the generation is complete, the temporary link not yet made
        ("replace", 1),  # the temporary link exists, current not yet swapped
    ],
)
def test_kill_9_inside_the_publication_keeps_the_previous_generation(tmp_path, call, nth):
    _working_set(tmp_path, 1)
    first = publish_generation(tmp_path)
    before = tree_digests(first)
    _working_set(tmp_path, 2)
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_INSIDE_PUBLISH, str(tmp_path), call, str(nth)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert current_generation(tmp_path) == first
    assert tree_digests(tmp_path / CURRENT) == before
    # the lock died with the process; the next publication completes and tidies up
    second = publish_generation(tmp_path)
    assert current_generation(tmp_path) == second and verify_generation(second) == 3
    assert not list((tmp_path / PUBLISHED).glob(".incomplete-*"))
    assert not list(tmp_path.glob(f".{CURRENT}.*"))


_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from geodata.publishing.generations import publication_lock, refresh_lock
    with refresh_lock(sys.argv[1]), publication_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_two_refreshes_at_once_the_second_is_refused_and_a_killed_holder_frees_the_lock(
    tmp_path,
):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(tmp_path)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RefreshLocked, match=f"held by pid {holder.pid}"):
            with refresh_lock(tmp_path):
                pass
        _working_set(tmp_path, 1)
        with pytest.raises(RefreshLocked, match="another publication"):
            publish_generation(tmp_path, lock_wait=0.5)  # one publisher at a time
        assert current_generation(tmp_path) is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).exists()  # the file stays, the lock is gone with the process
    with refresh_lock(tmp_path):
        with refresh_lock(tmp_path):  # re-entrant within one process (run.py, then the asset)
            pass
    assert publish_generation(tmp_path) == current_generation(tmp_path)


def _make_run(tmp_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`make run`'s command on the good fixture inputs, writing to ``out``."""
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.run"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DAGSTER_HOME": str(tmp_path / "home"),
            "GAP_MONITOR_INPUT_DIR": str(PROJECT_ROOT / "tests" / "fixtures" / "good_inputs"),
            "GAP_MONITOR_OUTPUT_DIR": str(out),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_run_refuses_to_start_while_another_refresh_holds_the_lock(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(out)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        run = _make_run(tmp_path, out)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert run.returncode == 3
    assert run.stderr.strip().splitlines() == [
        f"error: another refresh is running on {out} (lock {(out / LOCK_NAME).resolve()} held "
        f"by pid {holder.pid}); wait for it to finish"
    ]
    assert {p.name for p in out.iterdir()} <= {LOCK_NAME, PUBLISH_LOCK_NAME}  # the holder's


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_is_a_clear_error_and_the_previous_file_stays(tmp_path, monkeypatch):
    dest = tmp_path / "tables" / "a.csv"
    atomic_write_text(dest, "previous\n")
    monkeypatch.setattr(os, "replace", _enospc)
    with pytest.raises(OutputWriteError) as err:
        atomic_write_text(dest, "new\n")
    assert str(err.value) == f"cannot write output {dest}: No space left on device (disk full?)"
    assert err.value.errno == errno.ENOSPC
    assert dest.read_text() == "previous\n"
    assert [p.name for p in dest.parent.iterdir()] == ["a.csv"]  # the temporary file is gone


def test_disk_full_while_writing_the_bytes(tmp_path, monkeypatch):
    dest = tmp_path / "a.bin"
    atomic_write_bytes(dest, b"old")
    monkeypatch.setattr(Path, "write_bytes", _enospc)
    with pytest.raises(OutputWriteError, match="No space left on device"):
        atomic_write_bytes(dest, b"new")
    assert dest.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_disk_full_during_publication_keeps_current(tmp_path, monkeypatch):
    _working_set(tmp_path, 1)
    first = publish_generation(tmp_path)
    before = tree_digests(first)
    _working_set(tmp_path, 2)
    monkeypatch.setattr(os, "symlink", _enospc)
    with pytest.raises(OSError, match="No space left"):
        publish_generation(tmp_path)
    monkeypatch.undo()
    assert current_generation(tmp_path) == first and tree_digests(first) == before


def test_an_output_path_in_the_way_is_a_clear_error(tmp_path):
    blocker = tmp_path / "maps"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputWriteError, match=f"cannot write output {blocker}/m.png"):
        atomic_write_bytes(blocker / "m.png", b"png")
    assert blocker.read_text() == "a file where a folder should be"


def _immutable_supported(path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_an_immutable_output_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    atomic_write_text(folder / "a.csv", "previous\n")
    if not _immutable_supported(folder):
        pytest.skip("chattr +i is not available on this file system")
    try:
        with pytest.raises(OutputWriteError, match=f"cannot write output {folder}/a.csv"):
            atomic_write_text(folder / "a.csv", "new\n")
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert (folder / "a.csv").read_text() == "previous\n"


def test_make_run_with_an_unwritable_output_directory_prints_one_line(tmp_path):
    not_a_dir = tmp_path / "assets"
    not_a_dir.write_text("a file, not a folder\n")
    run = _make_run(tmp_path, not_a_dir)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert lines[0].startswith(f"error: output directory {not_a_dir}:")
    assert not_a_dir.read_text() == "a file, not a folder\n"


def test_a_step_in_a_child_process_publishes_while_its_refresh_holds_the_refresh_lock(tmp_path):
    """make run holds the refresh lock for its whole length; the publishing step may run in
    another process (multiprocess, a Celery worker) and takes only the publication lock."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from geodata.publishing.generations import refresh_lock\n"
            "with refresh_lock(sys.argv[1]):\n"
            "    print('locked', flush=True); time.sleep(120)\n",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        _working_set(tmp_path, 1)
        assert publish_generation(tmp_path, lock_wait=0.5) == current_generation(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
