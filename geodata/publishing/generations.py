"""Published generations: a complete, immutable set of outputs that a crash cannot touch.

The refresh writes its outputs in place under the output directory (each file atomically, by
``os.replace``). Once ``manifest.json`` describes a complete set, :func:`publish_generation`
hard-links every listed file and the manifest into ``published/<generation>/`` and then swaps the
symlink ``current -> published/<generation>`` in one ``os.replace``. Readers (the portal) resolve
``current`` once per request, so they see either the previous complete set or the new one, never a
mix. Because every writer replaces files (a new inode) rather than writing into them, the hard
links of a published generation are never modified by a later refresh.

Layout::

    <out>/manifest.json, downloads/, maps/, ...   the working set the refresh rewrites
    <out>/published/20261129T130000Z-3f2a9c1e/    one complete generation (hard links)
    <out>/current -> published/20261129T130000Z-3f2a9c1e
    <out>/.refresh.lock                           flock held by the refresh that is running

A kill -9 at any point leaves ``current`` on the previous generation: an unfinished generation
lives under ``published/.incomplete-*`` until the next publication removes it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geodata.provenance import atomic_write_bytes, sha256_file

__all__ = [
    "CURRENT",
    "PUBLISHED",
    "LOCK_NAME",
    "RESERVED_NAMES",
    "KEEP_GENERATIONS",
    "PublicationError",
    "RefreshLocked",
    "publish_generation",
    "current_generation",
    "generations",
    "refresh_lock",
    "probe_writable",
    "verify_generation",
]

CURRENT = "current"
PUBLISHED = "published"
LOCK_NAME = ".refresh.lock"
#: Top-level names of the output directory that are not outputs (never listed in a manifest).
RESERVED_NAMES = (CURRENT, PUBLISHED)
#: Generations kept, the current one included: a download that started on an older generation
#: finishes from its open file; a page listed from it still finds its files for a while.
KEEP_GENERATIONS = 3
_INCOMPLETE = ".incomplete-"


class PublicationError(RuntimeError):
    """The working set does not match its manifest, so it is not published."""


class RefreshLocked(RuntimeError):
    """Another process holds the refresh lock of this output directory."""


# flock locks belong to an open file description: a second open() in the same process would
# conflict with the first, so the lock is re-entrant per process through this registry.
_held: dict[Path, list[Any]] = {}  # lock path -> [file object, depth]
_held_guard = threading.Lock()


@contextmanager
def refresh_lock(output_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive refresh lock of ``output_dir`` (non-blocking ``flock``).

    Re-entrant within one process. The kernel releases the lock when the process dies, so a
    refresh killed with SIGKILL never leaves a stale lock behind.

    Raises
    ------
    RefreshLocked
        Another process holds the lock; the message names the lock file and its holder's pid.
    """
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = (root / LOCK_NAME).resolve()
    with _held_guard:
        if path in _held:
            _held[path][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _held_guard:
                _held[path][1] -= 1
        return
    fh = open(path, "a+")  # noqa: SIM115 - kept open while the lock is held
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise RefreshLocked(
                f"another refresh is running on {root} (lock {path} held by pid {holder}); "
                "wait for it to finish"
            ) from None
        raise
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        with _held_guard:
            _held[path] = [fh, 1]
        yield path
    finally:
        with _held_guard:
            _held.pop(path, None)
        fh.close()  # closing the only descriptor releases the flock


def probe_writable(output_dir: str | os.PathLike[str]) -> None:
    """Write and remove a small file in the output directory and each of its output folders.

    Raises
    ------
    geodata.provenance.OutputWriteError
        A folder cannot be written (read-only, immutable, full disk, a file in the way), named
        with the reason; nothing else has been touched.
    """
    root = Path(output_dir)
    folders = [root] + sorted(
        p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and p.name != PUBLISHED
    )
    for folder in folders:
        probe = atomic_write_bytes(folder / ".write-probe", b"gap-monitor write probe\n")
        probe.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:  # a symlink stays a symlink: the portal refuses one that leads outside its folder
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)


def generations(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete generations under ``published/``, oldest first (ids sort by time)."""
    folder = Path(output_dir) / PUBLISHED
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def current_generation(output_dir: str | os.PathLike[str]) -> Path | None:
    """The generation ``current`` points at (resolved), or None before the first publication."""
    link = Path(output_dir) / CURRENT
    if not link.is_symlink():
        return None
    target = link.resolve()
    return target if target.is_dir() else None


def _generation_id(manifest_sha: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{manifest_sha[:8]}"


def publish_generation(output_dir: str | os.PathLike[str], *, keep: int = KEEP_GENERATIONS) -> Path:
    """Publish the working set described by ``output_dir/manifest.json`` as a new generation.

    Every listed file must still have the size and modification time the manifest recorded
    (else a writer touched it after the manifest was built, and :class:`PublicationError` is
    raised with nothing published). Returns the new generation's directory, which ``current``
    now points at. Older generations beyond ``keep`` are removed, as are unfinished ones.
    """
    root = Path(output_dir)
    manifest_path = root / "manifest.json"
    with refresh_lock(root):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        published = root / PUBLISHED
        published.mkdir(exist_ok=True)
        for stale in published.glob(_INCOMPLETE + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        gen_id = _generation_id(sha256_file(manifest_path))
        staging = published / f"{_INCOMPLETE}{gen_id}"
        staging.mkdir()
        for entry in manifest["files"]:
            rel = entry["path"]
            if Path(rel).parts[0] in RESERVED_NAMES:
                raise PublicationError(f"{manifest_path}: {rel} is inside a reserved folder")
            src = root / rel
            st = src.stat()
            recorded = entry.get("mtime_ns")
            if st.st_size != entry["bytes"] or (
                recorded is not None and st.st_mtime_ns != recorded
            ):
                shutil.rmtree(staging, ignore_errors=True)
                raise PublicationError(
                    f"{src} changed after {manifest_path} was written (size {st.st_size}, "
                    f"manifest {entry['bytes']}); not published"
                )
            _link_or_copy(src, staging / rel)
        _link_or_copy(manifest_path, staging / "manifest.json")
        for folder in sorted({(staging / e["path"]).parent for e in manifest["files"]}):
            _fsync_dir(folder)
        _fsync_dir(staging)
        final = published / gen_id
        os.rename(staging, final)
        _fsync_dir(published)
        for stale_link in root.glob(f".{CURRENT}.*.tmp"):  # left by a publisher killed -9
            stale_link.unlink(missing_ok=True)
        tmp_link = root / f".{CURRENT}.{os.getpid()}.tmp"
        os.symlink(Path(PUBLISHED) / gen_id, tmp_link)
        os.replace(tmp_link, root / CURRENT)
        _fsync_dir(root)
        for old in generations(root)[: -max(keep, 1)]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    return final


def verify_generation(generation: str | os.PathLike[str]) -> int:
    """Check every file of a generation against its manifest (size and sha256).

    Returns the number of files checked; raises :class:`PublicationError` on the first mismatch.
    """
    gen = Path(generation)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        path = gen / entry["path"]
        if not path.is_file():
            raise PublicationError(f"{path}: listed in the manifest but missing")
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise PublicationError(f"{path}: differs from the manifest")
    return len(manifest["files"])
