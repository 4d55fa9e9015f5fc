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

import csv
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geodata.errors import SchemaError
from geodata.readers.tabular import (
    ReaderChecks,
    finish,
    inspect_text_head,
    match_columns,
    read_csv_filtered,
)
from geodata.study_area import in_study_area
from geodata.technology import RADIO_ALIASES, RADIO_TO_TECH, tech_rank
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


def _vietnamese_or_unreadable(table: pa.Table) -> npt.NDArray[np.bool_]:
    """Rows worth checking: MCC 452, or an MCC that is not a plain number (quarantined later).

    One string comparison per row: the world dump's other networks never reach per-row work."""
    mcc = table.column("mcc")
    plain = pc.utf8_is_digit(mcc)
    keep = pc.or_kleene(pc.equal(mcc, str(VIETNAM_MCC)), pc.invert(plain))
    return np.asarray(pc.fill_null(keep, True), dtype=bool)


def read_cell_sites(path: str | PathLike[str], *, study_area: bool = True) -> ReadResult:
    """Read and validate one OpenCelliD/MLS cell-site CSV (``.csv`` or ``.csv.gz``).

    OpenCelliD's world dump holds every country's networks (tens of millions of rows). It is
    streamed in blocks; rows of other networks (a numeric MCC other than 452) are dropped by one
    string comparison before any per-row work, and Vietnamese sites outside the study area
    (:mod:`geodata.study_area`) are dropped after their coordinates are read. Both are out of
    scope, counted in ``n_outside`` (``meta``: ``sites_other_networks``,
    ``sites_outside_study_area``), never quarantined.

    Parameters
    ----------
    path : the CSV, with or without the header row
    study_area : drop MCC-452 sites outside the study area (default); False keeps them

    Returns
    -------
    ReadResult
        ``accepted``: ``radio`` (upper case, canonical: see ``RADIO_ALIASES``), ``mcc, net, area,
        cell`` int64, ``lon, lat, range`` float64, the optional integer fields as nullable
        ``Int64``, plus ``tech`` (``"2G"``.. ``"5G"``) and ``tech_rank`` (int8, index in
        ``TECH_RANK``). Quarantine reasons: unknown radio, unreadable MCC, missing or
        out-of-range coordinates, lat/lon swapped, missing or negative range, non-integer key
        field, duplicate cell key. ``meta``: ``sha256, sample, header`` (whether the file had a
        header row), ``radio_spellings_mapped`` (rows whose radio was an alias such as ``5G``),
        ``sites_by_radio``.

    Raises
    ------
    EncodingError, EmptyFileError, CorruptFileError, SchemaError
        When the file cannot be read as a cell-site CSV at all.
    """
    path = Path(path)
    facts = inspect_text_head(path)
    has_header = _looks_like_header(facts.first_line)
    if has_header:
        header = next(csv.reader([facts.first_line]), [])
        renames = match_columns(path, header, _REQUIRED, header_line=facts.first_line)
        raw, positions, n_total = read_csv_filtered(
            path, facts, _vietnamese_or_unreadable, renames=renames
        )
    else:
        n_fields = len(facts.first_line.split(","))
        if n_fields not in (len(COLUMNS), len(COLUMNS) - 1):
            raise SchemaError(
                path,
                f"no header row and {n_fields} fields in the first row; expected "
                f"{len(COLUMNS)}: {','.join(COLUMNS)}",
            )
        raw, positions, n_total = read_csv_filtered(
            path, facts, _vietnamese_or_unreadable, names=COLUMNS[:n_fields]
        )
    n_other_networks = n_total - len(raw)

    radio = raw["radio"].astype(str).str.strip().str.upper()
    squeezed = radio.str.replace(r"[\s\-_]", "", regex=True)
    aliased = squeezed.isin(list(RADIO_ALIASES)).to_numpy(dtype=bool)
    radio = radio.where(~aliased, squeezed.map(RADIO_ALIASES))
    num = {
        c: pd.to_numeric(raw[c].astype(str).str.strip(), errors="coerce").to_numpy(np.float64)
        for c in _REQUIRED[1:]
    }
    mcc = num["mcc"]
    foreign = np.isfinite(mcc) & (mcc != VIETNAM_MCC)  # e.g. " 460" with a space
    lon, lat = num["lon"], num["lat"]
    missing = ~np.isfinite(lon) | ~np.isfinite(lat)
    swapped = (
        (lat >= _SWAPPED_LAT[0])
        & (lat <= _SWAPPED_LAT[1])
        & (lon >= _SWAPPED_LON[0])
        & (lon <= _SWAPPED_LON[1])
    )
    lon_range = ~missing & ~swapped & (np.abs(lon) > 180)
    lat_range = ~missing & ~swapped & (np.abs(lat) > 90)
    located = ~missing & ~swapped & ~lon_range & ~lat_range
    if study_area:
        away = located & ~in_study_area(lon, lat)
    else:
        away = np.zeros(len(raw), dtype=bool)
    outside = foreign | away
    n_other_networks += int(foreign.sum())
    if outside.any():
        keep = ~outside
        raw = raw.loc[keep].reset_index(drop=True)
        radio = radio.loc[keep].reset_index(drop=True)
        num = {c: v[keep] for c, v in num.items()}
        positions = positions[keep]
        aliased = aliased[keep]
        mcc, lon, lat = num["mcc"], num["lon"], num["lat"]
        missing, swapped = missing[keep], swapped[keep]
        lon_range, lat_range = lon_range[keep], lat_range[keep]
    checks = ReaderChecks(raw, path, rows=positions)

    known_radio = radio.isin(RADIOS).to_numpy(dtype=bool)
    checks.fail(~known_radio, "radio", f"unknown radio (expected one of {', '.join(RADIOS)})")
    checks.fail(~np.isfinite(mcc), "mcc", "mcc missing or not a number")
    key_ok = known_radio & (mcc == VIETNAM_MCC)
    for col in _INTEGERS:
        v = num[col]
        bad = ~np.isfinite(v) | (v != np.floor(v)) | (v < 0)
        checks.fail(bad, col, f"{col} missing or not a non-negative integer")
        key_ok &= ~bad

    checks.fail(~np.isfinite(lon), "lon", "lon missing or not a number")
    checks.fail(~np.isfinite(lat), "lat", "lat missing or not a number")
    checks.fail(swapped, "lat", "lat/lon swapped (lat holds a longitude, lon a latitude)")
    checks.fail(lon_range, "lon", "lon outside -180..180")
    checks.fail(lat_range, "lat", "lat outside -90..90")

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
            v = pd.to_numeric(typed[col].astype(str).str.strip(), errors="coerce")
            typed[col] = v.where(v == np.floor(v)).astype("Int64")
    tech = radio.map(RADIO_TO_TECH).fillna("none").astype(str)
    typed["tech"] = tech
    typed["tech_rank"] = tech_rank(tech.to_numpy())
    n_away = int(away.sum())
    return finish(
        checks,
        typed,
        n_read=n_total,
        path=path,
        meta={
            "sha256": facts.sha256,
            "sample": facts.sample,
            "header": has_header,
            "sites_other_networks": n_other_networks,
            "sites_outside_study_area": n_away,
            "radio_spellings_mapped": int((aliased & ~checks.bad).sum()),
        },
        n_outside=n_other_networks + n_away,
    )


def _looks_like_header(first_line: str) -> bool:
    """A header unless the first row reads as data (its second field, the MCC, is a number)."""
    fields = [f.strip().strip("\"'") for f in first_line.split(",")]
    return len(fields) < 2 or not fields[1].isdigit()
