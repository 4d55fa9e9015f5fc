"""OpenCelliD / Mozilla Location Service cell-site CSV, validated row by row for Vietnam.

The exchange format (``radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,
updated,averageSignal``) is described in ``data/cell_towers/FORMAT_mls_opencellid_import_export.rst``.
OpenCelliD dumps often come without a header row and gzip-compressed: both are read.

Examples
--------
>>> res = read_cell_sites("cell_sites/452.csv.gz")  # doctest: +SKIP
>>> res.accepted[["radio", "tech", "tech_rank"]].drop_duplicates()  # doctest: +SKIP
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.errors import SchemaError
from geodata.readers.ookla import VIETNAM_BBOX
from geodata.readers.tabular import (
    ReaderChecks,
    finish,
    inspect_text_file,
    match_columns,
    read_csv_text,
)
from geodata.technology import RADIO_TO_TECH, tech_rank
from geodata.validation import ReadResult

__all__ = ["COLUMNS", "KEY_COLUMNS", "VIETNAM_MCC", "RADIOS", "read_cell_sites"]

#: Columns of the exchange format, in file order.
COLUMNS = (
    "radio",
    "mcc",
    "net",
    "area",
    "cell",
    "unit",
    "lon",
    "lat",
    "range",
    "samples",
    "changeable",
    "created",
    "updated",
    "averageSignal",
)
#: The first five fields jointly identify one logical cell.
KEY_COLUMNS = ("radio", "mcc", "net", "area", "cell")
#: Mobile Country Code of Vietnam.
VIETNAM_MCC = 452
#: Radio types accepted (MLS/OpenCelliD spelling); NR is 5G.
RADIOS = tuple(RADIO_TO_TECH)

_REQUIRED = ("radio", "mcc", "net", "area", "cell", "lon", "lat", "range")
_INTEGERS = ("net", "area", "cell")
_OPTIONAL_INTEGERS = ("unit", "samples", "changeable", "created", "updated", "averageSignal")
#: A swapped point: "lat" holds Vietnam's longitudes and "lon" its latitudes.
_SWAPPED_LAT = (102.0, 110.0)
_SWAPPED_LON = (8.0, 24.0)


def read_cell_sites(
    path: str | PathLike[str],
    *,
    bbox: tuple[float, float, float, float] | None = VIETNAM_BBOX,
) -> ReadResult:
    """Read and validate one OpenCelliD/MLS cell-site CSV (``.csv`` or ``.csv.gz``).

    Parameters
    ----------
    path : the CSV, with or without the header row
    bbox : ``(west, south, east, north)``: sites outside are quarantined; None disables

    Returns
    -------
    ReadResult
        ``accepted``: ``radio`` (upper case), ``mcc, net, area, cell`` int64, ``lon, lat, range``
        float64, the optional integer fields as nullable ``Int64``, plus ``tech`` (``"2G"``..
        ``"5G"``) and ``tech_rank`` (int8, index in ``TECH_RANK``). Quarantine reasons: unknown
        radio, foreign MCC, missing or out-of-range coordinates, lat/lon swapped, outside Vietnam,
        missing or negative range, non-integer key field, duplicate cell key.
        ``meta``: ``sha256, sample, header`` (whether the file had a header row).

    Raises
    ------
    EncodingError, EmptyFileError, CorruptFileError, SchemaError
        When the file cannot be read as a cell-site CSV at all.
    """
    path = Path(path)
    facts = inspect_text_file(path)
    has_header = _looks_like_header(facts.first_line)
    if has_header:
        raw = read_csv_text(path, facts)
        raw = raw.rename(
            columns=match_columns(path, list(raw.columns), _REQUIRED, header_line=facts.first_line)
        )
    else:
        n_fields = len(facts.first_line.split(","))
        if n_fields not in (len(COLUMNS), len(COLUMNS) - 1):
            raise SchemaError(
                path,
                f"no header row and {n_fields} fields in the first row; expected "
                f"{len(COLUMNS)}: {','.join(COLUMNS)}",
            )
        raw = read_csv_text(path, facts, names=COLUMNS[:n_fields])
    n = len(raw)
    checks = ReaderChecks(raw, path)

    radio = raw["radio"].str.strip().str.upper()
    known_radio = radio.isin(RADIOS).to_numpy(dtype=bool)
    checks.fail(~known_radio, "radio", f"unknown radio (expected one of {', '.join(RADIOS)})")

    num = {
        c: pd.to_numeric(raw[c].str.strip(), errors="coerce").to_numpy(np.float64)
        for c in _REQUIRED[1:]
    }
    mcc = num["mcc"]
    checks.fail(
        np.isfinite(mcc) & (mcc != VIETNAM_MCC),
        "mcc",
        f"foreign MCC (Vietnam is {VIETNAM_MCC})",
    )
    checks.fail(~np.isfinite(mcc), "mcc", "mcc missing or not a number")
    key_ok = known_radio & (mcc == VIETNAM_MCC)
    for col in _INTEGERS:
        v = num[col]
        bad = ~np.isfinite(v) | (v != np.floor(v)) | (v < 0)
        checks.fail(bad, col, f"{col} missing or not a non-negative integer")
        key_ok &= ~bad

    lon, lat = num["lon"], num["lat"]
    missing = ~np.isfinite(lon) | ~np.isfinite(lat)
    checks.fail(~np.isfinite(lon), "lon", "lon missing or not a number")
    checks.fail(~np.isfinite(lat), "lat", "lat missing or not a number")
    swapped = (
        (lat >= _SWAPPED_LAT[0])
        & (lat <= _SWAPPED_LAT[1])
        & (lon >= _SWAPPED_LON[0])
        & (lon <= _SWAPPED_LON[1])
    )
    checks.fail(swapped, "lat", "lat/lon swapped (lat holds a longitude, lon a latitude)")
    lon_range = ~missing & ~swapped & (np.abs(lon) > 180)
    lat_range = ~missing & ~swapped & (np.abs(lat) > 90)
    checks.fail(lon_range, "lon", "lon outside -180..180")
    checks.fail(lat_range, "lat", "lat outside -90..90")
    if bbox is not None:
        west, south, east, north = bbox
        inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        checks.fail(
            ~missing & ~swapped & ~lon_range & ~lat_range & ~inside,
            "lon",
            f"site outside Vietnam's bounding box (lon {west}..{east}, lat {south}..{north})",
        )

    rng = num["range"]
    checks.fail(~np.isfinite(rng), "range", "range missing or not a number (metres)")
    checks.fail(rng < 0, "range", "range negative")

    keys = pd.DataFrame({"radio": radio, **{c: num[c] for c in ("mcc", *_INTEGERS)}})
    checks.fail_duplicates(keys, key_ok, "cell", "cell (radio, mcc, net, area, cell)")

    typed = raw.copy()
    typed["radio"] = radio.astype(str)
    for col in ("mcc", *_INTEGERS):
        typed[col] = np.where(np.isfinite(num[col]), num[col], 0).astype(np.int64)
    for col in ("lon", "lat", "range"):
        typed[col] = num[col]
    for col in _OPTIONAL_INTEGERS:
        if col in typed:
            v = pd.to_numeric(typed[col].str.strip(), errors="coerce")
            typed[col] = v.where(v == np.floor(v)).astype("Int64")
    tech = radio.map(RADIO_TO_TECH).fillna("none").astype(str)
    typed["tech"] = tech
    typed["tech_rank"] = tech_rank(tech.to_numpy())
    return finish(
        checks,
        typed,
        n_read=n,
        path=path,
        meta={"sha256": facts.sha256, "sample": facts.sample, "header": has_header},
    )


def _looks_like_header(first_line: str) -> bool:
    """A header unless the first row reads as data (its second field, the MCC, is a number)."""
    fields = [f.strip().strip("\"'") for f in first_line.split(",")]
    return len(fields) < 2 or not fields[1].isdigit()
