"""What the portal may serve: the current ``manifest.json``, read into a catalogue of files.

Only files listed in the manifest are ever served. The manifest is re-read whenever its
modification time, size or inode changes (the nightly refresh replaces it atomically), so a file
that has left the manifest is no longer served from the next request on.

A file's boundary version, province and kind come from its path:

====================================================  =======  ====  =============
path                                                  version  code  kind
====================================================  =======  ====  =============
``downloads/34/01_ha_noi/2026Q3_cells.geojson``       34       01    cells
``downloads/34/01_ha_noi/2026Q3_summary.geojson``     34       01    summary
``downloads/63/vn_cells_res6_2026Q3.geojson``         63       --    vn_cells_res6
``geojson/provinces_34_2026Q3.geojson``               34       --    provinces
``tables/change_63_2026Q2_to_2026Q3.csv``             63       --    change
``cells/gap_cells_2026Q3_res6.parquet``               --       --    gap_cells_res6
====================================================  =======  ====  =============

Examples
--------
>>> classify_path("downloads/34/01_ha_noi/2026Q3_cells.geojson")
('34', '01', 'cells', '2026Q3')
>>> classify_path("geojson/provinces_63_2026Q2.geojson")
('63', None, 'provinces', '2026Q2')
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import pandas as pd

from geodata.errors import CorruptFileError, SchemaError
from geodata.publishing.generations import CURRENT, PUBLISHED
from geodata.reference import BOUNDARY_VERSIONS, province_names

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_NAME",
    "FileEntry",
    "Province",
    "Catalogue",
    "ManifestStore",
    "ObjectStoreManifestStore",
    "classify_path",
    "load_catalogue",
]

MANIFEST_NAME = "manifest.json"

_QUARTER = re.compile(r"\d{4}Q[1-4]")
_VERSION_TOKEN = re.compile(r"(?:^|_)(34|63)(?=_|$)")
_PROVINCE_DIR = re.compile(r"^(\d{2})_[^/]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def classify_path(path: str) -> tuple[str | None, str | None, str, str | None]:
    """``(version, province code, kind, period)`` of a manifest path (see the module table).

    The version is a path segment ``34``/``63`` or a ``_34_`` token of the file name; the province
    is a ``{code}_{slug}`` folder right below the version segment; the period is the last
    ``YYYYQn`` of the file name; the kind is what is left of the file stem.
    """
    parts = PurePosixPath(path).parts
    version: str | None = None
    code: str | None = None
    for i, seg in enumerate(parts[:-1]):
        if seg in BOUNDARY_VERSIONS:
            version = seg
            if i + 1 < len(parts) - 1 and (m := _PROVINCE_DIR.match(parts[i + 1])):
                code = m.group(1)
            break
    stem = parts[-1].split(".", 1)[0]
    if version is None and (m := _VERSION_TOKEN.search(stem)):
        version = m.group(1)
    quarters = _QUARTER.findall(stem)
    period = quarters[-1] if quarters else None
    kind = _QUARTER.sub("", stem)
    if version is not None:
        kind = _VERSION_TOKEN.sub("_", kind)
    kind = re.sub(r"_to_", "_", kind)
    kind = re.sub(r"_+", "_", kind).strip("_") or "file"
    return version, code, kind, period


@dataclass(frozen=True)
class FileEntry:
    """One file of the manifest, with what its path says about it."""

    path: str
    bytes: int
    sha256: str
    features: int | None
    period: str | None
    version: str | None
    code: str | None
    kind: str
    mtime: float | None  # seconds since the epoch when the catalogue was read; None if absent

    @property
    def url(self) -> str:
        """Download URL of the file (``/files/...``, percent-encoded)."""
        return "/files/" + quote(self.path)

    @property
    def suffix(self) -> str:
        """Lower-case extension without the dot (``geojson``, ``csv``, ...)."""
        return PurePosixPath(self.path).suffix.lower().lstrip(".")

    @property
    def download_name(self) -> str:
        """File name offered to the browser: the path below ``downloads/`` joined with ``_``
        (so ``2026Q3_cells.geojson`` keeps its province), else the base name."""
        parts = PurePosixPath(self.path).parts
        if len(parts) > 1 and parts[0] == "downloads":
            return "_".join(parts[1:])
        return parts[-1]


@dataclass(frozen=True)
class Province:
    """A province of one boundary version and the files published for it."""

    version: str
    code: str
    name: str
    name_ascii: str
    files: tuple[FileEntry, ...] = ()

    @property
    def last_refresh(self) -> float | None:
        """Latest modification time of the province's files (None without files)."""
        times = [f.mtime for f in self.files if f.mtime is not None]
        return max(times) if times else None

    @property
    def cells_quarters(self) -> list[str]:
        """Quarters with the province's cells GeoJSON, newest first: those the formats made on
        request (GIS formats, the A4 sheet) are offered for."""
        return sorted(
            {
                f.period
                for f in self.files
                if f.kind == "cells" and f.suffix == "geojson" and f.period
            },
            reverse=True,
        )


@dataclass(frozen=True)
class Catalogue:
    """The manifest, read: every file by path, grouped by boundary version and province.

    ``provinces`` holds every province of the reference lists (``geodata.reference``), so
    provinces without files appear too.
    """

    generated_at: str | None
    sample: bool | None
    files: dict[str, FileEntry]
    provinces: dict[str, dict[str, Province]]
    national: dict[str, tuple[FileEntry, ...]]
    other: tuple[FileEntry, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary_periods(self, version: str) -> list[str]:
        """Periods with a province-summary GeoJSON (``provinces`` kind) for ``version``, sorted."""
        return sorted(
            {
                f.period
                for f in self.national.get(version, ())
                if f.kind == "provinces" and f.suffix == "geojson" and f.period
            }
        )

    def summary_file(self, version: str, period: str) -> FileEntry | None:
        """The province-summary GeoJSON of one version and period, if published."""
        for f in self.national.get(version, ()):
            if f.kind == "provinces" and f.suffix == "geojson" and f.period == period:
                return f
        return None

    def plan_file(self, kind: str, period: str) -> FileEntry | None:
        """The national GeoJSON of an investment plan (``mobile_sites`` or ``fixed_routes``) for
        ``period``, if published (``priorities/{kind}_{period}.geojson``)."""
        f = self.files.get(f"priorities/{kind}_{period}.geojson")
        return f if f is not None and f.suffix == "geojson" else None

    def province_files(self, version: str, period: str, kind: str) -> dict[str, FileEntry]:
        """Per-province GeoJSON files of one kind (``cells``/``summary``) and period, by code."""
        out = {}
        for code, prov in self.provinces.get(version, {}).items():
            for f in prov.files:
                if f.kind == kind and f.period == period and f.suffix == "geojson":
                    out[code] = f
        return out


def _entry(root: Path, manifest: Path, i: int, raw: Any) -> FileEntry:
    if not isinstance(raw, dict):
        raise SchemaError(manifest, "file entry is not an object", row=i)
    path, size, sha = raw.get("path"), raw.get("bytes"), raw.get("sha256")
    if not isinstance(path, str) or not path:
        raise SchemaError(manifest, "missing or empty path", row=i, column="path")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path or "\0" in path:
        raise SchemaError(
            manifest, f"path {path!r} leaves the output directory", row=i, column="path"
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise SchemaError(
            manifest, f"bytes must be a non-negative integer, got {size!r}", row=i, column="bytes"
        )
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise SchemaError(
            manifest, f"sha256 must be 64 hex digits, got {sha!r}", row=i, column="sha256"
        )
    version, code, kind, period = classify_path(path)
    features = raw.get("features")
    try:
        mtime: float | None = os.stat(root / path).st_mtime
    except OSError:
        mtime = None
    return FileEntry(
        path=path,
        bytes=size,
        sha256=sha,
        features=features if isinstance(features, int) else None,
        period=raw.get("period") or period,
        version=version,
        code=code,
        kind=kind,
        mtime=mtime,
    )


def load_catalogue(root: str | os.PathLike[str]) -> Catalogue:
    """Read ``root/manifest.json`` into a :class:`Catalogue` (empty if there is no manifest).

    Raises
    ------
    CorruptFileError
        The manifest is not JSON.
    SchemaError
        An entry lacks ``path``/``bytes``/``sha256`` or its path leaves the output directory
        (``row`` is the 1-based entry number).
    """
    root = Path(root)
    manifest = root / MANIFEST_NAME
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc: dict[str, Any] = {"files": []}
    else:
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(manifest, f"not valid JSON ({exc})") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
            raise SchemaError(manifest, "expected an object with a 'files' list", column="files")
    entries = [_entry(root, manifest, i, raw) for i, raw in enumerate(doc["files"], start=1)]
    files = {e.path: e for e in entries}

    by_province: dict[tuple[str, str], list[FileEntry]] = {}
    national: dict[str, list[FileEntry]] = {v: [] for v in BOUNDARY_VERSIONS}
    other: list[FileEntry] = []
    names: dict[str, pd.DataFrame] = {v: province_names(v) for v in BOUNDARY_VERSIONS}
    for e in entries:
        if e.version is not None and e.code is not None and e.code in names[e.version].index:
            by_province.setdefault((e.version, e.code), []).append(e)
        elif e.version is not None and e.code is None:
            national[e.version].append(e)
        else:
            other.append(e)

    provinces: dict[str, dict[str, Province]] = {
        v: {
            code: Province(
                version=v,
                code=code,
                name=str(row["name"]),
                name_ascii=str(row["name_ascii"]),
                files=_ordered(by_province.get((v, code), [])),
            )
            for code, row in names[v].iterrows()
        }
        for v in BOUNDARY_VERSIONS
    }
    extra = {k: v for k, v in doc.items() if k not in ("files", "generated_at")}
    sample = doc.get("sample")
    return Catalogue(
        generated_at=doc.get("generated_at"),
        sample=sample if isinstance(sample, bool) else None,
        files=files,
        provinces=provinces,
        national={v: _ordered(fs) for v, fs in national.items()},
        other=tuple(sorted(other, key=lambda f: f.path)),
        extra=extra,
    )


def _ordered(files: list[FileEntry]) -> tuple[FileEntry, ...]:
    """Newest period first, then by kind and path (two stable sorts)."""
    by_name = sorted(files, key=lambda f: (f.kind, f.path))
    return tuple(sorted(by_name, key=lambda f: f.period or "", reverse=True))


class ManifestStore:
    """The catalogue of one output directory, re-read when ``manifest.json`` changes.

    Files are served from the published generation ``current`` points at (see
    ``geodata.publishing.generations``), resolved once per request so that the manifest and the file come
    from the same complete set; before the first publication, from the output directory itself.
    A change is a different generation or ``(mtime_ns, size, inode)`` of its manifest, checked by
    one ``os.stat`` per call.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._key: tuple[Any, ...] | None = None
        self._catalogue: Catalogue | None = None

    def served_root(self) -> Path:
        """The directory served right now: the generation of ``current``, else the root."""
        link = self.root / CURRENT
        try:
            target = link.resolve(strict=True)
        except OSError:
            return self.root
        published = self.root / PUBLISHED
        if link.is_symlink() and target.is_dir() and target.is_relative_to(published):
            return target
        return self.root

    def snapshot(self) -> tuple[Path, Catalogue]:
        """``(served root, catalogue)`` of one generation, read together."""
        root = self.served_root()
        try:
            st = os.stat(root / MANIFEST_NAME)
            key: tuple[Any, ...] = (str(root), st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            key = (str(root),)
        if self._catalogue is None or key != self._key:
            self._catalogue = load_catalogue(root)
            self._key = key
        return root, self._catalogue

    def current(self) -> Catalogue:
        """The catalogue of the manifest as it is now on disk."""
        return self.snapshot()[1]


class ObjectStoreManifestStore(ManifestStore):
    """The current generation of an object store (``GAP_MONITOR_PUBLISH_URL``), served from a
    local mirror under ``root``.

    The pointer ``current.json`` is read at most every ``check_seconds``; a generation it names
    is downloaded once, every file checked against its manifest, into ``root/<generation>``
    (:func:`geodata.publishing.object_store.mirror_generation`), and then served like a local
    one. While the store cannot be reached, the last mirrored generation stays served."""

    def __init__(self, root: str | os.PathLike[str], url: str, check_seconds: float = 30.0) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        super().__init__(root)
        self.url = url
        self.check_seconds = check_seconds
        self._served: Path | None = None
        self._checked = -float("inf")

    def served_root(self) -> Path:
        from geodata.publishing.object_store import mirror_generation

        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now
            try:
                mirrored = mirror_generation(self.url, self.root)
            except Exception as exc:  # noqa: BLE001 - the store is away: keep serving the last
                log.warning("object store %s: %s; serving %s", self.url, exc, self._served)
            else:
                if mirrored is not None and mirrored != self._served:
                    self._served = mirrored
                    self._prune()
        return self._served or self.root

    def _prune(self, keep: int = 3) -> None:
        """Keep the newest ``keep`` mirrored generations (a download started on an older one
        finishes from its open file)."""
        mirrors = sorted(
            (
                p
                for p in self.root.iterdir()
                if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_NAME).is_file()
            ),
            key=lambda p: p.stat().st_mtime_ns,
        )
        for old in mirrors[:-keep]:
            if old != self._served:
                shutil.rmtree(old, ignore_errors=True)
