"""The input directory: where each kind of input lives, which quarters are present, what changed.

Every file found that is not read is listed in :attr:`InputInventory.skipped` with the reason
(the run prints them and the input assets show them in the UI).

Layout (the generated sample and a user's own directory alike)::

    SAMPLE.json                 present only in generated synthetic sample data
    speed_tiles/**/*.parquet|csv|csv.gz|shp|zip|geojson|gpkg
                                Ookla layout, one file per type and quarter, global or cut to
                                Vietnam; the path holds the kind (fixed|mobile, or the hive folder
                                ``type=fixed``) and the quarter (2026-07-01_performance_fixed_tiles,
                                2026Q3, or the hive folders ``year=2026/quarter=3`` that
                                ``aws s3 cp --recursive`` of Ookla's bucket produces)
    cell_sites/*.csv[.gz]       OpenCelliD / MLS layout
    coverage/*.tif              coverage GeoTIFFs per operator and technology (covered 0/1)
    population/*.tif            optional population grid; default: the shipped WorldPop 2020 1 km
    adoption/*.csv              per-province adoption tables (long format)
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from geodata.provenance import fingerprint, sha256_file
from geodata.reference import population_raster_path

__all__ = [
    "InputKind",
    "InputFile",
    "InputInventory",
    "SPEED_SUFFIXES",
    "quarter_from_name",
    "quarter_end_unix",
    "quarter_start",
    "raster_date_unix",
    "scan_input_dir",
    "settling_files",
    "SettleReport",
]

InputKind = Literal["speed_tiles", "cell_sites", "coverage", "population", "adoption"]
SPEED_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".shp", ".zip", ".geojson", ".gpkg")
#: Folders of the input directory, one per kind.
KIND_FOLDERS = ("speed_tiles", "cell_sites", "coverage", "population", "adoption")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "speed_tiles": SPEED_SUFFIXES,
    "cell_sites": (".csv", ".csv.gz", ".gz"),
    "coverage": (".tif", ".tiff"),
    "population": (".tif", ".tiff"),
    "adoption": (".csv",),
}

_OOKLA_DATE = re.compile(r"(\d{4})-(\d{2})-01_performance")
_QUARTER = re.compile(r"(\d{4})[-_ ]?Q([1-4])", re.IGNORECASE)
_HIVE = re.compile(r"year=(\d{4})[/\\]quarter=([1-4])")
_HIVE_TYPE = re.compile(r"(?:^|[/\\])type=(fixed|mobile)(?:[/\\]|$)", re.IGNORECASE)


def quarter_from_name(path: str | Path) -> str | None:
    """The quarter (``"2026Q3"``) named by an input path, or None.

    >>> quarter_from_name("speed_tiles/2026-07-01_performance_fixed_tiles.parquet")
    '2026Q3'
    >>> quarter_from_name("type=fixed/year=2023/quarter=4/x.parquet")
    '2023Q4'
    """
    text = str(path)
    if m := _OOKLA_DATE.search(text):
        month = int(m.group(2))
        if month in (1, 4, 7, 10):
            return f"{m.group(1)}Q{(month - 1) // 3 + 1}"
    if m := _HIVE.search(text):
        return f"{m.group(1)}Q{m.group(2)}"
    if m := _QUARTER.search(Path(text).name):
        return f"{m.group(1)}Q{m.group(2)}"
    return None


def quarter_start(quarter: str) -> str:
    """ISO date of the first day of a quarter: ``"2026Q3"`` -> ``"2026-07-01"``."""
    year, q = quarter.upper().split("Q")
    return f"{int(year):04d}-{(int(q) - 1) * 3 + 1:02d}-01"


def quarter_end_unix(quarter: str) -> int:
    """The last second of a quarter (UTC) as unix seconds: ``"2026Q3"`` -> 2026-09-30 23:59:59.

    >>> quarter_end_unix("2026Q3")
    1790812799
    """
    year, q = (int(x) for x in quarter.upper().split("Q"))
    year, month = (year + 1, 1) if q == 4 else (year, 3 * q + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) - 1


def raster_date_unix(tags: Mapping[str, str]) -> int | None:
    """The date a raster describes, from its ``TIFFTAG_DATETIME`` (``YYYY:MM:DD HH:MM:SS``, the
    TIFF standard) or an ``AS_OF`` tag (ISO date), as unix seconds (UTC); None when undated.

    >>> raster_date_unix({"TIFFTAG_DATETIME": "2026:09:30 00:00:00"})
    1790726400
    """
    for key, fmt in (("AS_OF", "%Y-%m-%d"), ("TIFFTAG_DATETIME", "%Y:%m:%d %H:%M:%S")):
        text = str(tags.get(key, "")).strip()
        if text:
            try:
                when = datetime.strptime(text[: len(datetime(2000, 1, 1).strftime(fmt))], fmt)
            except ValueError:
                continue
            return int(when.replace(tzinfo=UTC).timestamp())
    return None


def _speed_kind(path: Path) -> str | None:
    """``fixed`` or ``mobile`` from the hive folder ``type=...``, else from the file name, else
    from a folder name."""
    if m := _HIVE_TYPE.search(str(path)):
        return m.group(1).lower()
    for text in (path.name.lower(), str(path.parent).lower()):
        found = [kind for kind in ("fixed", "mobile") if kind in text]
        if len(found) == 1:
            return found[0]
    return None


@dataclass(frozen=True)
class InputFile:
    """One input file with its kind, quarter (speed tiles), speed type and content hash."""

    path: Path
    kind: InputKind
    sha256: str
    quarter: str | None = None
    speed_type: str | None = None


@dataclass
class InputInventory:
    """Everything found in an input directory, with fingerprints for change detection."""

    root: Path
    files: list[InputFile] = field(default_factory=list)
    sample: bool = False
    sample_info: dict[str, object] = field(default_factory=dict)
    #: files found but not read, with why (``path -> reason``)
    skipped: dict[Path, str] = field(default_factory=dict)

    @property
    def unrecognised(self) -> list[Path]:
        """The skipped files' paths."""
        return list(self.skipped)

    def skipped_report(self) -> dict[str, str]:
        """``relative path -> reason`` of every file skipped, for logs and metadata."""
        return {_relative(p, self.root): why for p, why in self.skipped.items()}

    def of_kind(self, kind: InputKind) -> list[InputFile]:
        return [f for f in self.files if f.kind == kind]

    @property
    def quarters(self) -> list[str]:
        """Quarters with at least one speed-tile file, oldest first."""
        return sorted({f.quarter for f in self.of_kind("speed_tiles") if f.quarter})

    def speed_files(self, quarter: str) -> list[InputFile]:
        return [f for f in self.of_kind("speed_tiles") if f.quarter == quarter]

    def population_path(self) -> Path:
        """The population grid: the input directory's own, else the shipped WorldPop 2020 1 km."""
        own = self.of_kind("population")
        if len(own) > 1:
            names = ", ".join(f.path.name for f in own)
            raise ValueError(
                f"{self.root / 'population'}: expected one population GeoTIFF, found {names}"
            )
        return own[0].path if own else population_raster_path()

    def fingerprint(self, kinds: tuple[InputKind, ...], quarter: str | None = None) -> str:
        """Hash of the named kinds' files (and of one quarter's speed tiles when given)."""
        parts = [
            f"{f.path.relative_to(self.root)}:{f.sha256}" for f in self.files if f.kind in kinds
        ]
        if quarter is not None:
            parts += [
                f"{f.path.relative_to(self.root)}:{f.sha256}" for f in self.speed_files(quarter)
            ]
        parts.append(f"population:{self.population_path().name}")
        return fingerprint(parts)

    def sha256_by_file(self, kinds: tuple[InputKind, ...] | None = None) -> dict[str, str]:
        return {
            str(f.path.relative_to(self.root)): f.sha256
            for f in self.files
            if kinds is None or f.kind in kinds
        }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


#: In-process memo of file hashes, ``absolute path -> (size, mtime_ns, sha256)``: a sensor that
#: scans every minute re-hashes only the files whose size or modification time changed.
_MEMORY: dict[str, tuple[int, int, str]] = {}


def _known_sha256(path: Path, st: os.stat_result) -> str | None:
    """The memoised sha256 of ``path`` if its size and mtime are those of ``st``, else None."""
    entry = _MEMORY.get(os.path.abspath(path))
    return entry[2] if entry is not None and entry[:2] == (st.st_size, st.st_mtime_ns) else None


def _sha256_memo(path: Path) -> str:
    """sha256 of ``path``, read only when its size or mtime changed since it was last read."""
    st = path.stat()
    if (known := _known_sha256(path, st)) is not None:
        return known
    digest = sha256_file(path)
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns):  # not while it changes
        _MEMORY[os.path.abspath(path)] = (st.st_size, st.st_mtime_ns, digest)
    return digest


def _walk(root: Path) -> Iterator[tuple[Path, str | None, str | None, str | None, str | None]]:
    """Every entry of the input directory in scan order: ``(path, kind, quarter, speed_type,
    None)`` for an input file, ``(path, None, None, None, reason)`` for a skipped one."""
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name == "SAMPLE.json" or path.name in KIND_FOLDERS:
            continue
        yield (
            path,
            None,
            None,
            None,
            f"not in a kind folder: put it in one of {', '.join(k + '/' for k in KIND_FOLDERS)}",
        )
    for kind, suffixes in _SUFFIXES.items():
        folder = root / kind
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.name.lower()
            if name.startswith("."):
                continue  # hidden files, editors' and copy tools' partial files
            if name.endswith((".tmp", ".part", ".crdownload")):
                yield path, None, None, None, "a partial download or temporary file"
                continue
            if name.endswith((".aux.xml", ".ovr", ".tfw")):
                continue  # GDAL side-cars travel with their raster
            if kind == "speed_tiles" and path.suffix.lower() in (
                ".shx",
                ".dbf",
                ".prj",
                ".cpg",
                ".sbn",
                ".sbx",
                ".qmd",
                ".xml",
            ):
                continue  # shapefile side-cars travel with their .shp
            if not name.endswith(suffixes):
                yield (
                    path,
                    None,
                    None,
                    None,
                    f"not a {kind} format (expected {', '.join(suffixes)})",
                )
                continue
            quarter = quarter_from_name(path.relative_to(root)) if kind == "speed_tiles" else None
            speed_type = _speed_kind(path.relative_to(root)) if kind == "speed_tiles" else None
            if kind == "speed_tiles" and quarter is None:
                yield (
                    path,
                    None,
                    None,
                    None,
                    "no quarter in its path: name it like 2026-07-01_performance_fixed_tiles, "
                    "or 2026Q3, or put it under year=2026/quarter=3/",
                )
                continue
            if kind == "speed_tiles" and speed_type is None:
                yield (
                    path,
                    None,
                    None,
                    None,
                    "fixed or mobile? neither (or both) in its path: name it like "
                    "..._performance_fixed_tiles, or put it under type=fixed/",
                )
                continue
            yield path, kind, quarter, speed_type, None


def scan_input_dir(root: str | Path) -> InputInventory:
    """List the input files of ``root`` by kind (see the module docstring for the layout).

    The files' sha256 are memoised in the process by (path, size, mtime_ns), so an unchanged
    file is read once (a sensor scans every minute).

    Raises
    ------
    FileNotFoundError
        When ``root`` does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"input directory {root} does not exist")
    inv = InputInventory(root=root)
    marker = root / "SAMPLE.json"
    if marker.exists():
        inv.sample = True
        inv.sample_info = json.loads(marker.read_text(encoding="utf-8"))
    for path, kind, quarter, speed_type, reason in _walk(root):
        if reason is not None:
            inv.skipped[path] = reason
            continue
        inv.files.append(
            InputFile(path, kind, _sha256_memo(path), quarter, speed_type)  # type: ignore[arg-type]
        )
    return inv


@dataclass
class SettleReport:
    """Input files not hashed yet (new or changed) and whether they have settled."""

    #: ``relative path -> why it is not settled yet`` (still being written, or changed lately)
    settling: dict[str, str] = field(default_factory=dict)
    #: ``relative path -> [size, mtime_ns]`` of every new or changed file, settled or not: pass it
    #: back as ``seen`` on the next check, so a file that changed between two checks waits again
    pending: dict[str, list[int]] = field(default_factory=dict)


def settling_files(
    root: str | Path,
    settle_seconds: float,
    *,
    seen: Mapping[str, list[int]] | None = None,
    now: float | None = None,
) -> SettleReport:
    """Which new or changed input files of ``root`` are still settling, without hashing any.

    A file whose (size, mtime) was hashed already in this process is known and settled. Any other file counts
    only when its modification time is at least ``settle_seconds`` old and its size and mtime are
    those ``seen`` on the previous check (when it was seen): a file still being copied has a
    fresh mtime or a growing size, and is reported instead of read half-written.
    """
    root = Path(root)
    now = time.time() if now is None else now
    seen = seen or {}
    report = SettleReport()
    for path, _kind, _quarter, _speed, reason in _walk(root):
        if reason is not None:
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue  # moved away between listing and stat
        if _known_sha256(path, st) is not None:
            continue
        rel = _relative(path, root)
        stat = [st.st_size, st.st_mtime_ns]
        report.pending[rel] = stat
        age = now - st.st_mtime_ns / 1e9
        if age < settle_seconds:
            report.settling[rel] = f"modified {max(age, 0):.0f} s ago"
        elif rel in seen and list(seen[rel]) != stat:
            report.settling[rel] = "size or modification time changed since the last check"
    return report
