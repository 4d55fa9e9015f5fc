"""A small exception tree for bad input, raised loudly.

Every error names the file and, where it applies, the row (1-based data row, header excluded),
the column and the reason, so a user can find and fix the problem.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "InputError",
    "CorruptFileError",
    "SchemaError",
    "CRSError",
    "EncodingError",
    "EmptyFileError",
]


class InputError(Exception):
    """An input file cannot be used as it is.

    Parameters
    ----------
    file : path of the offending file
    reason : what is wrong, in words a data provider understands
    row : 1-based data row (header not counted), if the problem is in one row
    column : column name, if the problem is in one column
    """

    def __init__(
        self,
        file: str | PathLike[str],
        reason: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = str(file)
        self.reason = reason
        self.row = row
        self.column = column
        super().__init__(self._message())

    def _message(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.reason}"


class CorruptFileError(InputError):
    """The file cannot be parsed at all (truncated, not the format its name says, ...)."""


class SchemaError(InputError):
    """Required columns are missing or have an unusable type."""


class CRSError(InputError):
    """A raster or vector has no coordinate reference system, or one that cannot be used."""


class EncodingError(InputError):
    """A text file is not UTF-8 (with or without BOM)."""


class EmptyFileError(InputError):
    """The file holds no data rows."""
