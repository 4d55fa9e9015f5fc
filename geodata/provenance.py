"""Provenance and atomic output: sha256 of inputs, run facts, and files written all-or-nothing.

Every output is written to a temporary file in the destination folder and moved into place with
``os.replace``, so a crash or a concurrent reader never sees half a file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "OutputWriteError",
    "sha256_file",
    "sha256_bytes",
    "fingerprint",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "published_file_mode",
    "utc_now_iso",
    "TEMP_PREFIX",
    "temp_name_prefix",
]

#: Every temporary file or folder a writer makes beside its destination starts with this prefix
#: (``.tmp-<name>.<random>.tmp``), so that what a killed writer left behind can be recognised
#: and swept (:func:`geodata.publishing.generations.sweep_leftovers`) without touching anything else.
TEMP_PREFIX = ".tmp-"

_CHUNK = 1 << 20
#: Errors of the output file system (not of the data): disk full, quota, read-only, permission.
_OUTPUT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EEXIST,
    }
)


class OutputWriteError(OSError):
    """An output could not be written (disk full, read-only or unwritable output directory).

    The message names the output path and the reason; the previous version of the file, if
    any, is left as it was and the temporary file is removed.
    """

    def __init__(self, dest: str | os.PathLike[str], cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        hint = " (disk full?)" if cause.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        super().__init__(cause.errno, f"cannot write output {dest}: {reason}{hint}")
        self.dest = str(dest)

    def __str__(self) -> str:
        return str(self.strerror)


_SHA_MEMO: dict[tuple[str, int, int, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks.

    Remembered per process by (path, device, inode, size, mtime in ns): a global Ookla file of
    500 MB is hashed once per refresh, not once per step that looks at the input directory. A
    file rewritten in place gets a new mtime and is hashed again.
    """
    st = os.stat(path)
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if (known := _SHA_MEMO.get(key)) is not None:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if len(_SHA_MEMO) > 100_000:
        _SHA_MEMO.clear()
    _SHA_MEMO[key] = digest
    return digest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(parts: Iterable[str]) -> str:
    """One short hash of several hashes/strings, order-independent (for change detection)."""
    h = hashlib.sha256()
    for part in sorted(parts):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=1)
def published_file_mode() -> int:
    """Mode of every published file: ``0o666`` less the process's umask (0644 under the usual
    022), as ``open`` would give; ``mkstemp`` alone would leave 0600, unreadable to a portal or
    web server running as another user. Read once per process (``/proc`` where it can be read, so
    that the umask is never changed, not even for a moment, while other threads write)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return 0o666 & ~old


def temp_name_prefix(dest: str | os.PathLike[str]) -> str:
    """The ``prefix`` for ``tempfile.mkstemp``/``mkdtemp`` beside ``dest``: ``.tmp-<name>.``
    (the name shortened so that the temporary name still fits in 255 bytes)."""
    return f"{TEMP_PREFIX}{Path(dest).name[:200]}."


@contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success move it over ``dest`` atomically.

    The temporary file is ``.tmp-<name>.<random>.tmp`` (see :data:`TEMP_PREFIX`).

    On any exception the temporary file is removed and ``dest`` is left as it was.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=temp_name_prefix(dest), suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise OutputWriteError(dest, exc) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, published_file_mode())
        os.replace(tmp, dest)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
            raise OutputWriteError(dest, exc) from exc
        raise


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(
    dest: str | os.PathLike[str], obj: Any, default: Callable[[Any], Any] = str
) -> Path:
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, default=default)
    return atomic_write_text(dest, text + "\n")
