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
    <out>/published/served.json                   generations made current, in serving order
    <out>/.refresh.lock                           flock held by the refresh that is running

A kill -9 at any point leaves ``current`` on the previous generation: an unfinished generation
lives under ``published/.incomplete-*`` until the next refresh sweeps it
(:func:`sweep_leftovers`, with the writers' temporary files) or the next publication removes it.

Retention goes by service, not by name: ``served.json`` lists the generations that were made
``current``, oldest first, and a publication keeps the last :data:`KEEP_GENERATIONS` of them
(the current one and its predecessor always). A generation that was complete but never served
(a publisher killed between its rename and the swap of ``current``) is an orphan and is removed.
The record is written after the swap; a kill in between is repaired when it is read, since the
generation ``current`` points at has been served by definition.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geodata.provenance import TEMP_PREFIX, atomic_write_bytes, atomic_write_json, sha256_file

__all__ = [
    "CURRENT",
    "PUBLISHED",
    "LOCK_NAME",
    "PUBLISH_LOCK_NAME",
    "publication_lock",
    "RESERVED_NAMES",
    "KEEP_GENERATIONS",
    "PublicationError",
    "RefreshLocked",
    "publish_generation",
    "current_generation",
    "generations",
    "PORTAL_CACHE_ENV",
    "PORTAL_CACHE_DIRNAME",
    "portal_cache_dir",
    "served_generations",
    "sweep_leftovers",
    "SERVED_RECORD",
    "refresh_lock",
    "probe_writable",
    "verify_generation",
]

CURRENT = "current"
PUBLISHED = "published"
LOCK_NAME = ".refresh.lock"
PUBLISH_LOCK_NAME = ".publish.lock"
#: Top-level names of the output directory that are not outputs (never listed in a manifest).
RESERVED_NAMES = (CURRENT, PUBLISHED)
#: Generations kept, the current one included: a download that started on an older generation
#: finishes from its open file; a page listed from it still finds its files for a while.
KEEP_GENERATIONS = 3
_INCOMPLETE = ".incomplete-"
#: The serving order, inside ``published/`` (a file: never taken for a generation).
SERVED_RECORD = "served.json"
#: Folders of the output directory the sweep never enters: the portal's cache (its own
#: temporary files may belong to a portal that is running) and version control.
#: The portal's cache of formats made on request (GIS formats, A4 sheets): by default a hidden
#: folder of the output directory (never in a manifest, never swept), or ``$PORTAL_CACHE_ENV``.
PORTAL_CACHE_ENV = "GAP_MONITOR_PORTAL_CACHE"
PORTAL_CACHE_DIRNAME = ".portal_cache"
_SWEEP_SKIP = frozenset({PORTAL_CACHE_DIRNAME, ".git"})
#: ``atomic_path``'s temporary names before they had the ``.tmp-`` prefix:
#: ``.<name>.<8 characters of mkstemp>.tmp``.
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: The temporary link of a publisher (``.current.<pid>.tmp``) and the write probe's file.
_OWN_TEMP = re.compile(rf"^\.{CURRENT}\.\d+\.tmp$|^\.write-probe$")


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
    """Hold the exclusive refresh lock of ``output_dir`` (non-blocking ``flock``): one refresh
    (``make run``) at a time on an output directory.

    Re-entrant within one process. The kernel releases the lock when the process dies, so a
    refresh killed with SIGKILL never leaves a stale lock behind.

    Raises
    ------
    RefreshLocked
        Another process holds the lock; the message names the lock file and its holder's pid.
    """
    with _exclusive_lock(Path(output_dir), LOCK_NAME, wait_seconds=0.0) as path:
        yield path


@contextmanager
def publication_lock(
    output_dir: str | os.PathLike[str], wait_seconds: float = 600.0
) -> Iterator[Path]:
    """Hold the publication lock of ``output_dir``: one publisher at a time, whichever process or
    host runs the publishing step (``make run`` in-process, a step process, a Celery worker,
    ``dagster dev``). Separate from :func:`refresh_lock`, which the refresh's own process holds
    for its whole length: a step in a child process must not wait for its parent. Waits up to
    ``wait_seconds`` for another publisher (publishing takes seconds), then raises
    :class:`RefreshLocked`."""
    with _exclusive_lock(Path(output_dir), PUBLISH_LOCK_NAME, wait_seconds) as path:
        yield path


@contextmanager
def _exclusive_lock(root: Path, name: str, wait_seconds: float) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    path = (root / name).resolve()
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
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                fh.close()
                raise
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            what = "refresh" if name == LOCK_NAME else "publication"
            raise RefreshLocked(
                f"another {what} is running on {root} (lock {path} held by pid {holder}); "
                "wait for it to finish"
            ) from None
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


def _served_current(root: Path) -> Path | None:
    """``current``'s generation when it is a generation folder of ``published/``, else None."""
    gen = current_generation(root)
    if gen is None or gen.name.startswith(".") or gen.parent != (root / PUBLISHED).resolve():
        return None
    return gen


def _served_ids(root: Path) -> list[str]:
    """Ids of the existing generations that were made ``current``, in serving order (the
    current one last), from ``served.json`` repaired with what ``current`` points at.

    Without a record (an output directory published before it existed) the generations up to
    the current one by name are taken as served and the newer ones as orphans; with no current
    generation either, every existing one counts as served (nothing is known to be an orphan).
    """
    existing = {g.name for g in generations(root)}
    current = _served_current(root)
    ids = _read_served(root)
    if ids is None:
        ids = sorted(n for n in existing if current is None or n <= current.name)
    ids = list(reversed(dict.fromkeys(reversed(ids))))  # served again: its last time counts
    ids = [i for i in ids if i in existing]
    if current is not None and (not ids or ids[-1] != current.name):
        # killed between the swap of ``current`` and the record: current is served, and last
        ids = [i for i in ids if i != current.name] + [current.name]
    return ids


def _read_served(root: Path) -> list[str] | None:
    """The ids listed in ``served.json``, or None when there is no readable record."""
    try:
        doc = json.loads((root / PUBLISHED / SERVED_RECORD).read_text(encoding="utf-8"))
        return [str(i) for i in doc["served"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_served(root: Path, ids: list[str]) -> None:
    atomic_write_json(
        root / PUBLISHED / SERVED_RECORD,
        {"served": ids, "about": "generations made current, oldest first (retention)"},
    )


def served_generations(output_dir: str | os.PathLike[str]) -> list[Path]:
    """The generations that were made ``current``, in the order they were served (the current
    one last); complete generations not listed here were never served (orphans)."""
    root = Path(output_dir)
    return [root / PUBLISHED / i for i in _served_ids(root)]


def _generation_id(manifest_sha: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{manifest_sha[:8]}"


def publish_generation(
    output_dir: str | os.PathLike[str],
    *,
    keep: int = KEEP_GENERATIONS,
    lock_wait: float = 600.0,
) -> Path:
    """Publish the working set described by ``output_dir/manifest.json`` as a new generation.

    Every listed file must still have the size and modification time the manifest recorded
    (else a writer touched it after the manifest was built, and :class:`PublicationError` is
    raised with nothing published). Returns the new generation's directory, which ``current``
    now points at. Of the generations served before, the last ``keep`` (the new one included,
    and always its predecessor) are kept; older ones, unfinished ones and orphans (complete but
    never made current) are removed. Holds :func:`publication_lock` (waiting up to
    ``lock_wait`` seconds for another publisher).
    """
    root = Path(output_dir)
    manifest_path = root / "manifest.json"
    with publication_lock(root, lock_wait):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        published = root / PUBLISHED
        published.mkdir(exist_ok=True)
        served = _served_ids(root)
        if _read_served(root) != served:  # seeded or repaired before the swap (see above)
            _write_served(root, served)
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
        # retention by service: the last ``keep`` generations made current (this one and its
        # predecessor always); orphans, never served, go first
        kept = _served_ids(root)[-max(keep, 2) :]
        for old in generations(root):
            if old.name not in kept and old != final:
                shutil.rmtree(old, ignore_errors=True)
        _write_served(root, kept)
    return final


def _is_temp_file(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) or bool(_LEGACY_TEMP.match(name) or _OWN_TEMP.match(name))


def _tree_size(path: Path) -> tuple[int, int]:
    """(files, bytes) below ``path``, symlinks not followed."""
    files = size = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                pass
    return files, size


def portal_cache_dir(output_dir: str | os.PathLike[str]) -> Path:
    """The portal's cache directory: ``$GAP_MONITOR_PORTAL_CACHE``, else
    ``<output_dir>/.portal_cache``."""
    configured = os.environ.get(PORTAL_CACHE_ENV, "").strip()
    return Path(configured) if configured else Path(output_dir) / PORTAL_CACHE_DIRNAME


def sweep_leftovers(output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Remove what a killed refresh left in ``output_dir``; call it before a refresh starts.

    * the writers' temporary files and folders in the working set: names starting with
      ``.tmp-`` (:data:`geodata.provenance.TEMP_PREFIX`), the older ``.<name>.<8 chars>.tmp``
      of ``atomic_path``, a publisher's ``.current.<pid>.tmp`` link and ``.write-probe``;
    * unfinished generations (``published/.incomplete-*``) and temporary files in ``published/``;
    * orphan generations: complete but never made ``current`` (see :func:`served_generations`).

    Nothing else is touched: no output, nothing inside a generation, nothing under
    ``.portal_cache`` (or ``$GAP_MONITOR_PORTAL_CACHE``), no symlink is followed. Takes the
    refresh lock (re-entrant: run.py already holds it), so it never races a running writer and
    raises :class:`RefreshLocked` if another process is refreshing.

    Returns ``{"temp_files", "temp_bytes", "unfinished_generations", "orphan_generations",
    "removed": [paths relative to output_dir], "errors": [messages]}``.
    """
    root = Path(output_dir)
    report: dict[str, Any] = {
        "temp_files": 0,
        "temp_bytes": 0,
        "unfinished_generations": 0,
        "orphan_generations": 0,
        "removed": [],
        "errors": [],
    }
    if not root.is_dir():
        return report
    skip = {root / name for name in _SWEEP_SKIP} | {portal_cache_dir(root).absolute()}

    def remove(path: Path, kind: str) -> None:
        try:
            if path.is_dir() and not path.is_symlink():
                files, size = _tree_size(path)
                shutil.rmtree(path)
            else:
                files, size = 1, path.lstat().st_size
                path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            report["errors"].append(f"{path}: {exc.strerror or exc}")
            return
        if kind == "temp":
            report["temp_files"] += files
            report["temp_bytes"] += size
        else:
            report[kind] += 1
        report["removed"].append(str(path.relative_to(root)))

    # no refresh and no publisher (a `dagster dev` run's, say) may be half-way through
    with refresh_lock(root), publication_lock(root, wait_seconds=60.0):
        for dirpath, dirnames, filenames in os.walk(root):  # symlinks are never followed
            here = Path(dirpath)
            descend = []
            for name in dirnames:
                path = here / name
                if path.is_symlink():  # a link to a folder (`current`): never followed
                    if _is_temp_file(name):
                        remove(path, "temp")
                    continue
                if path in skip or path.absolute() in skip:
                    continue
                if here == root and name == PUBLISHED:
                    continue  # only its top level, below
                if name.startswith(TEMP_PREFIX):
                    remove(path, "temp")
                else:
                    descend.append(name)
            dirnames[:] = sorted(descend)
            for name in sorted(filenames):
                if _is_temp_file(name):
                    remove(here / name, "temp")
        published = root / PUBLISHED
        if published.is_dir() and not published.is_symlink():
            for path in sorted(published.iterdir()):
                if path.name.startswith(_INCOMPLETE) and not path.is_symlink():
                    remove(path, "unfinished_generations")
                elif path.is_file() and _is_temp_file(path.name):
                    remove(path, "temp")
            served = set(_served_ids(root))
            for gen in generations(root):
                if gen.name not in served and not gen.is_symlink():
                    remove(gen, "orphan_generations")
    return report


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
