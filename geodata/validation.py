"""Row-level validation results: accepted rows, quarantined rows with reasons, reconciled counts.

Readers never drop a row silently. Each reader returns a :class:`ReadResult` whose ``quarantined``
frame holds every rejected row's original values plus ``_file``, ``_row``, ``_column`` and
``_reason``. Rows outside the study area (a tile in Laos, a site of another country's network) are
not invalid: they are counted in ``n_outside``, never quarantined, and
``n_read == len(accepted) + len(quarantined) + n_outside`` always holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.errors import InputError

__all__ = ["QUARANTINE_COLUMNS", "ReadResult", "RowChecks", "read_files", "quarantine_table"]

#: Columns added to every quarantined row, in this order, before the original columns.
QUARANTINE_COLUMNS = ("_file", "_row", "_column", "_reason")


@dataclass
class ReadResult:
    """What a reader returns: accepted rows, quarantined rows with reasons, and provenance.

    Attributes
    ----------
    accepted : the validated rows, typed
    quarantined : rejected rows: ``_file, _row, _column, _reason`` then the original values as text
    n_read : data rows in the file(s), including those skipped as outside the study area
    files : the files read
    meta : reader-specific facts (period, sha256, sample flag, ...)
    n_outside : rows outside the study area (out of scope: counted, not quarantined)
    """

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    n_read: int
    files: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    n_outside: int = 0

    @property
    def n_accepted(self) -> int:
        return len(self.accepted)

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def n_in_area(self) -> int:
        """Rows inside the study area: the base of the quarantine share."""
        return self.n_read - self.n_outside

    def reconciles(self) -> bool:
        """True when every row read is accepted, quarantined or outside the study area, once."""
        return self.n_read == self.n_accepted + self.n_quarantined + self.n_outside

    @staticmethod
    def empty_quarantine() -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})


class RowChecks:
    """Collects per-row failures over a frame with vectorised boolean masks.

    Each :meth:`fail` call marks rows with a reason; a row failing several checks is quarantined
    once, with every reason and column joined by ``"; "``.

    Examples
    --------
    >>> df = pd.DataFrame({"tests": [1, 0, 3]})
    >>> checks = RowChecks(df, file="x.csv")
    >>> checks.fail(df["tests"].to_numpy() < 1, "tests", "tests < 1")
    >>> ok, bad = checks.split()
    >>> len(ok), len(bad)
    (2, 1)
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        file: str | PathLike[str],
        row_offset: int = 1,
        rows: npt.ArrayLike | None = None,
    ) -> None:
        self.frame = frame.reset_index(drop=True)
        self.file = str(file)
        self.row_offset = row_offset
        #: the file's row number (``_row``) of each frame row: ``rows + row_offset`` when a reader
        #: skipped rows (outside the study area) before checking the rest, else the position
        self.row_numbers = (
            np.arange(len(self.frame), dtype=np.int64)
            if rows is None
            else np.asarray(rows, dtype=np.int64).ravel()
        ) + row_offset
        if len(self.row_numbers) != len(self.frame):
            raise ValueError("one row number per frame row is needed")
        self._bad = np.zeros(len(self.frame), dtype=bool)
        # per failing row only: two lists per row cost ~0.5 s and ~100 MB per million rows
        self._columns: defaultdict[int, list[str]] = defaultdict(list)
        self._reasons: defaultdict[int, list[str]] = defaultdict(list)

    @property
    def bad(self) -> npt.NDArray[np.bool_]:
        """Rows failed so far (a copy)."""
        return self._bad.copy()

    def fail(self, mask: npt.ArrayLike, column: str, reason: str) -> None:
        """Mark the rows where ``mask`` is true as failing ``reason`` in ``column``."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != self._bad.shape:
            raise ValueError(f"mask has shape {m.shape}, frame has {len(self.frame)} rows")
        idx = np.flatnonzero(m)
        self._bad[idx] = True
        for i in idx.tolist():  # only failing rows: small by construction
            self._columns[i].append(column)
            self._reasons[i].append(reason)

    def split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return (accepted, quarantined) frames; accepted keeps the original index order."""
        good = self.frame.loc[~self._bad].reset_index(drop=True)
        idx = np.flatnonzero(self._bad)
        bad = self.frame.iloc[idx].astype("string").reset_index(drop=True)
        head = pd.DataFrame(
            {
                "_file": self.file,
                "_row": self.row_numbers[idx],
                "_column": ["; ".join(dict.fromkeys(self._columns[i])) for i in idx],
                "_reason": ["; ".join(self._reasons[i]) for i in idx],
            }
        )
        return good, pd.concat([head, bad], axis=1)


def read_files(
    reader: Callable[..., ReadResult], paths: Sequence[str | PathLike[str]], **kwargs: Any
) -> tuple[ReadResult, list[InputError]]:
    """Read several files with one reader; a file that fails whole does not stop the others.

    Returns the combined result (accepted rows of every good file, quarantined rows of every
    file) and the file-level errors. Counts reconcile per file, so they reconcile in total.
    """
    accepted, quarantined, errors = [], [], []
    files: list[str] = []
    meta: dict[str, Any] = {"sha256": {}, "sample": False, "per_file": {}}
    n_read = n_outside = 0
    for path in paths:
        try:
            res = reader(path, **kwargs)
        except InputError as exc:
            errors.append(exc)
            continue
        accepted.append(res.accepted)
        quarantined.append(res.quarantined)
        n_read += res.n_read
        n_outside += res.n_outside
        files.extend(res.files or [str(path)])
        meta["sha256"][str(path)] = res.meta.get("sha256")
        meta["sample"] = bool(meta["sample"] or res.meta.get("sample"))
        meta["per_file"][str(path)] = {
            k: v for k, v in res.meta.items() if isinstance(v, str | int | float | bool | None)
        } | {"n_read": res.n_read, "n_quarantined": res.n_quarantined, "n_outside": res.n_outside}
    acc = pd.concat(accepted, ignore_index=True) if accepted else pd.DataFrame()
    qua = (
        pd.concat([q for q in quarantined if len(q)], ignore_index=True)
        if any(len(q) for q in quarantined)
        else ReadResult.empty_quarantine()
    )
    return ReadResult(acc, qua, n_read, files, meta, n_outside), errors


def quarantine_table(result: ReadResult, errors: Sequence[InputError]) -> pd.DataFrame:
    """Quarantined rows plus one row per file rejected whole (``_row`` empty), for one output."""
    file_rows = pd.DataFrame(
        {
            "_file": [e.file for e in errors],
            "_row": [e.row for e in errors],
            "_column": [e.column for e in errors],
            "_reason": [f"whole file rejected: {e.reason}" for e in errors],
        }
    )
    frames = [f for f in (file_rows, result.quarantined) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else ReadResult.empty_quarantine()
