"""Published generations on an object store (``s3://...`` or any fsspec URL), behind a pointer.

An object store has no symlink to swap and no rename of a folder, so a generation is published
there the way :mod:`geodata.publishing.generations` does it on a POSIX folder, with objects:

1. every file of the (already verified, immutable) local generation is put under
   ``<url>/published/<generation>/``, ``manifest.json`` last;
2. then the pointer object ``<url>/current.json`` is written: the generation's id, the sha256 of
   its manifest and when it was published. One PUT replaces the object whole, so a reader sees
   the previous pointer or the new one; the pointer names only a generation whose every object
   is already there.

``<url>/published/served.json`` lists the generations made current, in order; the last
:data:`~geodata.publishing.generations.KEEP_GENERATIONS` are kept (the current one and its
predecessor always), the others deleted after the pointer moved. A reader (the portal) resolves
the pointer once per request with :func:`read_pointer` and mirrors a generation into a local
folder once with :func:`mirror_generation`, checking every file against the manifest.

Credentials and endpoint come from the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for an S3-compatible server, ...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from geodata.provenance import atomic_write_bytes, sha256_bytes, sha256_file, utc_now_iso
from geodata.publishing.generations import KEEP_GENERATIONS, PublicationError

__all__ = [
    "POINTER",
    "PUBLISH_URL_ENV",
    "upload_generation",
    "read_pointer",
    "mirror_generation",
]

POINTER = "current.json"
PUBLISH_URL_ENV = "GAP_MONITOR_PUBLISH_URL"
_SERVED = "published/served.json"


def _fs(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url)
    return fs, root.rstrip("/")


def _put_bytes(fs: Any, path: str, data: bytes) -> None:
    with fs.open(path, "wb") as fh:  # one object, written whole
        fh.write(data)


def read_pointer(url: str) -> dict[str, Any] | None:
    """The pointer ``<url>/current.json`` (generation, manifest_sha256, published_at), or None
    before the first publication."""
    fs, root = _fs(url)
    try:
        with fs.open(f"{root}/{POINTER}", "rb") as fh:
            return json.loads(fh.read())
    except FileNotFoundError:
        return None


def upload_generation(generation: str | os.PathLike[str], url: str) -> dict[str, Any]:
    """Put the local published ``generation`` folder under ``<url>/published/<name>/``, then
    move the pointer to it, then apply retention. Returns the pointer written.

    Every file is checked against the generation's manifest before it is put (size and sha256),
    so a damaged local copy is never published; :class:`PublicationError` otherwise."""
    gen = Path(generation)
    manifest_bytes = (gen / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    fs, root = _fs(url)
    base = f"{root}/published/{gen.name}"
    for entry in manifest["files"]:
        src = gen / entry["path"]
        if src.stat().st_size != entry["bytes"] or sha256_file(src) != entry["sha256"]:
            raise PublicationError(f"{src}: does not match {gen / 'manifest.json'}; not uploaded")
        fs.makedirs(f"{base}/{Path(entry['path']).parent.as_posix()}", exist_ok=True)
        fs.put_file(str(src), f"{base}/{entry['path']}")
    _put_bytes(fs, f"{base}/manifest.json", manifest_bytes)  # the generation is complete
    pointer = {
        "generation": gen.name,
        "manifest_sha256": sha256_bytes(manifest_bytes),
        "files": len(manifest["files"]),
        "published_at": utc_now_iso(),
    }
    _put_bytes(fs, f"{root}/{POINTER}", json.dumps(pointer, indent=1).encode())  # written last
    _retain(fs, root, gen.name)
    return pointer


def _retain(fs: Any, root: str, current: str, keep: int = KEEP_GENERATIONS) -> None:
    try:
        with fs.open(f"{root}/{_SERVED}", "rb") as fh:
            served = [str(i) for i in json.loads(fh.read())["served"]]
    except (FileNotFoundError, ValueError, KeyError):
        served = []
    served = [i for i in served if i != current] + [current]
    kept = served[-max(2, keep) :]
    _put_bytes(fs, f"{root}/{_SERVED}", json.dumps({"served": kept}, indent=1).encode())
    listed = {Path(p).name for p in fs.ls(f"{root}/published", detail=False)}
    for name in sorted(listed - set(kept) - {Path(_SERVED).name}):
        fs.rm(f"{root}/published/{name}", recursive=True)


def mirror_generation(url: str, dest: str | os.PathLike[str]) -> Path | None:
    """The current generation of ``url`` as a local folder ``dest/<generation>`` (downloaded
    once, every file checked against the manifest; later calls cost one read of the pointer).
    None before the first publication."""
    pointer = read_pointer(url)
    if pointer is None:
        return None
    local = Path(dest) / pointer["generation"]
    if (local / "manifest.json").is_file():
        return local
    fs, root = _fs(url)
    base = f"{root}/published/{pointer['generation']}"
    with fs.open(f"{base}/manifest.json", "rb") as fh:
        manifest_bytes = fh.read()
    if sha256_bytes(manifest_bytes) != pointer["manifest_sha256"]:
        raise PublicationError(f"{base}/manifest.json does not match {root}/{POINTER}")
    staging = Path(dest) / f".incomplete-{pointer['generation']}"
    for entry in json.loads(manifest_bytes)["files"]:
        with fs.open(f"{base}/{entry['path']}", "rb") as fh:
            data = fh.read()
        if sha256_bytes(data) != entry["sha256"]:
            raise PublicationError(f"{base}/{entry['path']}: sha256 differs from the manifest")
        atomic_write_bytes(staging / entry["path"], data)
    atomic_write_bytes(staging / "manifest.json", manifest_bytes)
    os.replace(staging, local)  # the mirror appears complete or not at all
    return local
