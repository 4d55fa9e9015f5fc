"""Shared handling of tabular inputs: UTF-8 checks, CSV as text, required columns, sample marker.

Every CSV reader goes through the same steps, written once here:

1. :func:`inspect_text_file` hashes the file bytes (sha256), checks the whole text is UTF-8 (with
   or without BOM; gzip is decompressed first), finds leading ``#`` comment lines and the
   synthetic-sample marker, and raises :class:`~geodata.errors.EncodingError` /
   :class:`~geodata.errors.EmptyFileError` with the file name and the reason.
2. :func:`read_csv_text` parses the CSV with every value kept as text (``""`` when empty), so the
   quarantine can show exactly what the file said.
3. :func:`match_columns` finds the required columns (case and surrounding spaces ignored) and
   raises :class:`~geodata.errors.SchemaError` naming the missing ones, with a hint when the file
   uses another delimiter.
4. :class:`ReaderChecks` (a :class:`~geodata.validation.RowChecks` with per-row reasons and a
   duplicate-key check) collects row failures; :func:`finish` builds the
   :class:`~geodata.validation.ReadResult` and asserts that the counts reconcile.

Synthetic sample data is marked, in every format, by the key :data:`SAMPLE_KEY`
(``gap_monitor_sample``, also spelt ``gap_monitor:sample``) with a true value: a leading CSV
comment line ``# gap_monitor_sample=true``, a Parquet key-value metadata entry, a GeoTIFF tag
``GAP_MONITOR_SAMPLE=true``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geodata.errors import (
    CorruptFileError,
    EmptyFileError,
    EncodingError,
    InputError,
    SchemaError,
)
from geodata.provenance import sha256_file
from geodata.validation import ReadResult, RowChecks

__all__ = [
    "SAMPLE_KEY",
    "is_sample_key",
    "is_sample_marker",
    "TextFacts",
    "inspect_text_file",
    "inspect_text_head",
    "read_csv_text",
    "read_csv_filtered",
    "match_columns",
    "ReaderChecks",
    "finish",
]

#: Key marking synthetic sample data (CSV comment, Parquet metadata, GeoTIFF tag upper-cased).
SAMPLE_KEY = "gap_monitor_sample"

_CHUNK = 1 << 20
_TRUE = {"true", "1", "yes", "y", "t"}
_DELIMITERS = {";": "semicolon ';'", "\t": "tab", "|": "pipe '|'"}


def is_sample_key(key: str | bytes) -> bool:
    """True for the sample-marker key in any spelling: ``gap_monitor_sample``,
    ``GAP_MONITOR_SAMPLE``, ``gap_monitor:sample`` (as :mod:`geodata.sample` writes Parquet)."""
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    norm = str(key).strip().lower()
    for sep in (":", ".", "-", " "):
        norm = norm.replace(sep, "_")
    return norm == SAMPLE_KEY


def is_sample_marker(value: Any) -> bool:
    """True when a marker value (bytes, str, bool) says "synthetic sample data"."""
    if value is None:
        return False
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).strip().strip("\"'").lower() in _TRUE


@dataclass(frozen=True)
class TextFacts:
    """What :func:`inspect_text_file` learnt about a text file.

    Attributes
    ----------
    sha256 : hex sha256 of the file bytes (compressed bytes for ``.gz``)
    bom : the text starts with a UTF-8 byte-order mark
    n_comment_lines : leading lines starting with ``#`` (skipped when parsing)
    sample : a comment line carries ``gap_monitor_sample=true``
    first_line : the first line after the comments (the header, if the file has one)
    """

    sha256: str
    bom: bool
    n_comment_lines: int
    sample: bool
    first_line: str


def _open_binary(path: Path) -> Any:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _check_bom(path: Path, head: bytes) -> None:
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise EncodingError(path, "file is UTF-32 (byte-order mark found); save it as UTF-8")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise EncodingError(
            path,
            "file is UTF-16 (byte-order mark found), not UTF-8; "
            "save it as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)')",
        )
    sample = head[:4096]
    if len(sample) >= 4 and sample.count(b"\x00") >= len(sample) // 4:
        raise EncodingError(
            path,
            "file looks like UTF-16 without a byte-order mark (many NUL bytes); save it as UTF-8",
        )


def inspect_text_file(path: str | PathLike[str]) -> TextFacts:
    """Hash a text file and check, in one streaming pass, that all of it is UTF-8.

    Raises
    ------
    EncodingError
        UTF-16/32 (with or without BOM) or bytes that are not UTF-8 (Windows-1258, TCVN3, ...);
        the message gives the line of the first bad byte and asks for UTF-8.
    EmptyFileError
        No bytes, or nothing but blank and comment lines.
    CorruptFileError
        A ``.gz`` file that does not decompress.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    sha = sha256_file(path)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    head = b""
    lines_before = 0
    chunk = b""
    try:
        with _open_binary(path) as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not head:
                    if not chunk:
                        raise EmptyFileError(path, "file is empty (0 bytes)")
                    head = chunk
                    _check_bom(path, head)
                decoder.decode(chunk, final=not chunk)
                if not chunk:
                    break
                lines_before += chunk.count(b"\n")
    except UnicodeDecodeError as exc:
        line = lines_before + chunk[: exc.start].count(b"\n") + 1
        bad = chunk[exc.start : exc.start + 1].hex().upper()
        raise EncodingError(
            path,
            f"file is not UTF-8: byte 0x{bad} on line {line} cannot be decoded (the file may be "
            "Windows-1258, Windows-1252 or TCVN3); save it as UTF-8 "
            "(in Excel: 'CSV UTF-8 (comma delimited)')",
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(path, f"cannot decompress or read the file ({exc})") from exc
    return _facts_from_head(path, sha, head)


def inspect_text_head(path: str | PathLike[str]) -> TextFacts:
    """:func:`inspect_text_file` on the first MiB only, for files read by a streaming parser.

    The encoding of the rest is checked by the parser itself (:func:`read_csv_filtered` falls
    back to :func:`inspect_text_file` for the exact message when it finds a bad byte).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    sha = sha256_file(path)
    try:
        with _open_binary(path) as fh:
            head = fh.read(_CHUNK)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(path, f"cannot decompress or read the file ({exc})") from exc
    if not head:
        raise EmptyFileError(path, "file is empty (0 bytes)")
    _check_bom(path, head)
    return _facts_from_head(path, sha, head)


def _facts_from_head(path: Path, sha: str, head: bytes) -> TextFacts:
    bom = head.startswith(codecs.BOM_UTF8)
    text = head[3:] if bom else head
    lines = text.decode("utf-8", errors="ignore").splitlines()
    n_comments, sample = 0, False
    for text_line in lines:
        if not text_line.lstrip().startswith("#"):
            break
        n_comments += 1
        key, _, value = text_line.lstrip("# \t").partition("=")
        if is_sample_key(key) and is_sample_marker(value):
            sample = True
    rest = [ln for ln in lines[n_comments:] if ln.strip()]
    if not rest:
        raise EmptyFileError(path, "file holds no header and no data rows")
    return TextFacts(sha, bom, n_comments, sample, rest[0])


def read_csv_text(
    path: str | PathLike[str], facts: TextFacts, *, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Parse a checked CSV with every value as text (``""`` when empty).

    With ``names`` the file has no header row and the columns get these names.

    Raises
    ------
    CorruptFileError
        Rows with a different number of fields than the header, unbalanced quotes, ...
    EmptyFileError
        A header but no data rows.
    """
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skiprows=facts.n_comment_lines,
            header=None if names is not None else 0,
            names=list(names) if names is not None else None,
            compression="infer",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError as exc:
        raise EmptyFileError(path, "file holds no data rows") from exc
    except pd.errors.ParserError as exc:
        raise CorruptFileError(path, f"not a well-formed CSV: {exc}".strip()) from exc
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"cannot parse the CSV ({exc})") from exc
    if frame.empty:
        raise EmptyFileError(path, "file has a header row but no data rows")
    return frame


class _RaggedRow(Exception):
    """Raised from pyarrow's invalid-row handler to leave the fast path."""


def read_csv_filtered(
    path: str | PathLike[str],
    facts: TextFacts,
    keep: Callable[[pa.Table], npt.NDArray[np.bool_]],
    *,
    names: Sequence[str] | None = None,
    renames: Mapping[str, str] | None = None,
    block_size: int = 1 << 24,
) -> tuple[pd.DataFrame, npt.NDArray[np.int64], int]:
    """Stream a CSV (``.gz`` too) in blocks, keeping only the rows ``keep`` selects.

    Every value is text (``""`` when empty), as with :func:`read_csv_text`. ``keep`` gets each
    block as a pyarrow table of strings and returns a boolean mask; rows it drops are never
    converted to Python objects, so memory is bounded by the kept rows and one block. Columns are
    renamed by ``renames`` (from :func:`match_columns`) before ``keep`` sees them.

    Returns ``(kept rows, their 0-based data-row positions, data rows in the file)``.

    A file the fast parser cannot take as it is (rows with a wrong number of fields, bytes that
    are not UTF-8, a broken gzip stream) is read again by :func:`read_csv_text`, which keeps the
    row-by-row semantics and the exact error messages of the small-file path.
    """
    path = Path(path)
    header = None if names is not None else next(csv.reader([facts.first_line]), [])
    columns = list(names) if names is not None else [h for h in header or []]
    if names is None and (len(set(columns)) != len(columns) or not all(columns)):
        return _filtered_fallback(path, facts, keep, names, renames)
    renamed = [dict(renames or {}).get(c, c) for c in columns]

    def ragged(_row: object) -> str:
        raise _RaggedRow()

    try:
        source = (
            pa.input_stream(str(path), compression="gzip")
            if path.name.lower().endswith(".gz")
            else pa.OSFile(str(path))
        )
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                skip_rows=facts.n_comment_lines,
                column_names=list(names) if names is not None else None,
                block_size=block_size,
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=ragged),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        parts: list[pa.Table] = []
        positions: list[npt.NDArray[np.int64]] = []
        n_total = 0
        for batch in reader:
            table = pa.Table.from_batches([batch]).rename_columns(renamed)
            mask = np.asarray(keep(table), dtype=bool)
            idx = np.flatnonzero(mask)
            if idx.size:
                parts.append(table.take(pa.array(idx)))
                positions.append(idx + n_total)
            n_total += batch.num_rows
    except (_RaggedRow, pa.ArrowException, OSError, EOFError, zlib.error, UnicodeDecodeError):
        return _filtered_fallback(path, facts, keep, names, renames)
    if n_total == 0:
        raise EmptyFileError(path, "file has a header row but no data rows")
    if parts:
        frame = pa.concat_tables(parts).to_pandas()
    else:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in renamed})
    pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    return frame, pos, n_total


def _filtered_fallback(
    path: Path,
    facts: TextFacts,
    keep: Callable[[pa.Table], npt.NDArray[np.bool_]],
    names: Sequence[str] | None,
    renames: Mapping[str, str] | None,
) -> tuple[pd.DataFrame, npt.NDArray[np.int64], int]:
    facts = inspect_text_file(path)  # the whole-file encoding check, with its exact message
    frame = read_csv_text(path, facts, names=names).rename(columns=dict(renames or {}))
    table = pa.Table.from_pandas(frame.astype(str), preserve_index=False)
    mask = np.asarray(keep(table), dtype=bool)
    idx = np.flatnonzero(mask)
    return frame.iloc[idx].reset_index(drop=True), idx.astype(np.int64), len(frame)


def match_columns(
    path: str | PathLike[str],
    columns: Sequence[str],
    required: Sequence[str],
    *,
    header_line: str | None = None,
) -> dict[str, str]:
    """Map each required column to the file's column (case and spaces ignored).

    Returns ``{file_column: canonical_name}`` for the renames needed (an empty dict when the
    file already uses the canonical names).

    Raises
    ------
    SchemaError
        Naming the missing columns; when the header splits into the required columns on ``;``,
        tab or ``|``, the message says so.
    """
    by_key: dict[str, str] = {}
    for col in columns:
        by_key.setdefault(str(col).strip().lower(), str(col))
    missing = [c for c in required if c.lower() not in by_key]
    if missing:
        hint = ""
        if header_line is not None:
            for sep, label in _DELIMITERS.items():
                parts = {p.strip().strip("\"'").lower() for p in header_line.split(sep)}
                if len(parts) > 1 and all(c.lower() in parts for c in required):
                    hint = f"; the file seems to use {label} as delimiter: use a comma ','"
                    break
        found = ", ".join(str(c) for c in columns[:12])
        raise SchemaError(
            path,
            f"missing required column(s) {', '.join(missing)} (found: {found}){hint}",
            column=missing[0],
        )
    renames = {by_key[c.lower()]: c for c in required if by_key[c.lower()] != c}
    return renames


class ReaderChecks(RowChecks):
    """:class:`~geodata.validation.RowChecks` with per-row reasons and a duplicate-key check."""

    def fail_rows(self, idx: npt.ArrayLike, column: str, reasons: Sequence[str]) -> None:
        """Mark rows ``idx`` (0-based positions) as failing, each with its own reason."""
        rows = np.asarray(idx, dtype=np.intp).ravel()
        if len(rows) != len(reasons):
            raise ValueError("one reason per row is needed")
        self._bad[rows] = True
        for i, reason in zip(rows.tolist(), reasons, strict=True):  # failing rows only
            self._columns[i].append(column)
            self._reasons[i].append(reason)

    def fail_duplicates(
        self,
        keys: pd.DataFrame | pd.Series,
        valid: npt.ArrayLike,
        column: str,
        label: str,
    ) -> None:
        """Quarantine every repeat of a key among ``valid`` rows: ``"duplicate <label> of row N"``.

        The first occurrence is kept; ``N`` is its row number as reported in ``_row``.
        """
        ok = np.asarray(valid, dtype=bool)
        frame = keys.to_frame() if isinstance(keys, pd.Series) else keys
        frame = frame.reset_index(drop=True)
        pos = np.flatnonzero(ok)
        if len(pos) < 2:
            return
        sub = frame.iloc[pos]
        dup = sub.duplicated(keep="first").to_numpy()
        if not dup.any():
            return
        group = sub.groupby(list(sub.columns), sort=False, dropna=False).ngroup().to_numpy()
        first = pd.Series(pos).groupby(group).transform("first").to_numpy()
        rows = pos[dup]
        refs = self.row_numbers[first[dup]]
        self.fail_rows(rows, column, [f"duplicate {label} of row {r}" for r in refs.tolist()])


def finish(
    checks: RowChecks,
    typed: pd.DataFrame,
    *,
    n_read: int,
    path: str | PathLike[str],
    meta: Mapping[str, Any],
    n_outside: int = 0,
) -> ReadResult:
    """Accepted rows of ``typed`` (the converted frame), quarantined raw rows, reconciled counts.

    ``n_read`` counts every data row of the file; ``n_outside`` of them were skipped as outside
    the study area before ``checks`` saw the rest.

    Raises
    ------
    AssertionError
        If ``n_read != accepted + quarantined`` (a bug in the reader, never a user error).
    """
    _, quarantined = checks.split()
    accepted = typed.loc[~checks.bad].reset_index(drop=True)
    result = ReadResult(accepted, quarantined, n_read, [str(path)], dict(meta), n_outside)
    if not result.reconciles():
        raise AssertionError(
            f"{path}: counts do not reconcile: read {n_read}, accepted {result.n_accepted}, "
            f"quarantined {result.n_quarantined}, outside {n_outside}"
        )
    return result
