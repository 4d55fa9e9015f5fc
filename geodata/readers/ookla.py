"""Ookla Open Data performance tiles (fixed or mobile), validated row by row.

Reads the Ookla layout as published (Parquet with WKT ``tile``; shapefile, zipped shapefile,
GeoJSON or GeoPackage with a polygon geometry) or as CSV, keyed by the zoom-16 ``quadkey``.
Quadkeys are always read as text: an integer quadkey cannot keep its leading zeros.

Every row is accepted or quarantined with a reason naming the column; the accepted frame gains
``tile_x, tile_y`` (tile indices decoded from the quadkey) and ``lat, lng`` (the tile centroid).

Examples
--------
>>> res = read_speed_tiles("speed_tiles/2025-07-01_performance_fixed_tiles.parquet")  # doctest: +SKIP
>>> res.meta["period"], res.meta["kind"], res.reconciles()  # doctest: +SKIP
('2025Q3', 'fixed', True)
"""

from __future__ import annotations

import zipfile
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely

from geodata.errors import CorruptFileError, CRSError, EmptyFileError, InputError, SchemaError
from geodata.inputs import quarter_from_name
from geodata.provenance import sha256_file
from geodata.quadkeys import (
    OOKLA_ZOOM,
    quadkey_to_tile,
    tile_bounds,
    tile_centroids,
    valid_quadkeys,
)
from geodata.readers.tabular import (
    ReaderChecks,
    finish,
    inspect_text_file,
    is_sample_key,
    is_sample_marker,
    match_columns,
    read_csv_text,
)
from geodata.validation import ReadResult

__all__ = [
    "VIETNAM_BBOX",
    "MAX_KBPS",
    "MAX_LATENCY_MS",
    "TILE_TOLERANCE_DEG",
    "REQUIRED_COLUMNS",
    "read_speed_tiles",
]

#: Vietnam's bounding box ``(west, south, east, north)`` in degrees, islands included.
VIETNAM_BBOX: tuple[float, float, float, float] = (102.0, 6.5, 117.5, 23.6)
#: Speeds above this (10 Gbps, in kbps) are not measurements but errors.
MAX_KBPS = 10_000_000
#: Latency above this (one minute) is an error.
MAX_LATENCY_MS = 60_000
#: Largest difference (degrees) allowed between a tile's geometry and its quadkey's tile bounds.
TILE_TOLERANCE_DEG = 1e-6
#: Columns every speed-tile file must have (``tile`` is optional).
REQUIRED_COLUMNS = ("quadkey", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices")

_SPEEDS = ("avg_d_kbps", "avg_u_kbps")
_LATENCIES = ("avg_lat_ms",)
_COUNTS = ("tests", "devices")
_OPTIONAL_NUMERIC = ("avg_lat_down_ms", "avg_lat_up_ms")
#: Ookla's own ``tile_x``/``tile_y`` (centroid lon/lat since 2023Q3) are kept under these names,
#: because the accepted frame's ``tile_x``/``tile_y`` are the decoded tile indices.
_FILE_TILE_XY = {"tile_x": "ookla_tile_x", "tile_y": "ookla_tile_y"}
_VECTOR_SUFFIXES = (".shp", ".zip", ".geojson", ".json", ".gpkg")
_ZIPPED_LAYERS = (".shp", ".geojson", ".json", ".gpkg")

Kind = Literal["fixed", "mobile"]


def read_speed_tiles(
    path: str | PathLike[str],
    *,
    kind: Kind | None = None,
    bbox: tuple[float, float, float, float] | None = VIETNAM_BBOX,
    max_kbps: float = MAX_KBPS,
) -> ReadResult:
    """Read and validate one Ookla performance-tile file.

    Parameters
    ----------
    path : ``.parquet``, ``.csv`` (``.csv.gz``), ``.shp``, ``.zip`` (zipped shapefile),
        ``.geojson`` or ``.gpkg``; the format is chosen by extension
    kind : ``"fixed"`` or ``"mobile"``; by default taken from the file name
    bbox : ``(west, south, east, north)``: tiles whose centroid lies outside are quarantined;
        None disables the check (e.g. for Ookla's sample files of other countries)
    max_kbps : speeds above this are quarantined as absurd

    Returns
    -------
    ReadResult
        ``accepted``: the file's columns (``quadkey`` as text, speeds and latencies float64,
        ``tests``/``devices`` int64; Ookla's own ``tile_x``/``tile_y`` renamed
        ``ookla_tile_x``/``ookla_tile_y``; vector geometry dropped after checking) plus
        ``tile_x, tile_y`` (int64 tile indices) and ``lat, lng`` (centroid). ``meta``: ``sha256,
        sample, period`` (``"2025Q3"`` or None), ``kind, format``. ``_row`` is the 1-based data row.

    Raises
    ------
    CorruptFileError, SchemaError, EncodingError, EmptyFileError, InputError
        When the file cannot be read at all, lacks a required column, or ``kind`` contradicts the
        file name.

    Examples
    --------
    >>> res = read_speed_tiles("guam_fixed_2023Q4.csv", bbox=None)  # doctest: +SKIP
    >>> res.n_read == res.n_accepted + res.n_quarantined  # doctest: +SKIP
    True
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    name = path.name.lower()
    named_kind = _kind_from_name(path)
    if kind is not None and kind not in ("fixed", "mobile"):
        raise ValueError(f"kind must be 'fixed' or 'mobile', got {kind!r}")
    if kind is not None and named_kind is not None and kind != named_kind:
        raise InputError(path, f"file name says {named_kind} tiles but it was read as {kind}")
    meta: dict[str, Any] = {
        "period": quarter_from_name(path),
        "kind": kind or named_kind,
    }
    if name.endswith((".parquet", ".pq")):
        raw, bounds, file_meta = _load_parquet(path)
    elif name.endswith((".csv", ".csv.gz")):
        raw, bounds, file_meta = _load_csv(path)
    elif name.endswith(_VECTOR_SUFFIXES):
        raw, bounds, file_meta = _load_vector(path)
    else:
        raise InputError(
            path, "unsupported speed-tile format: use .parquet, .csv, .shp, .zip, .geojson or .gpkg"
        )
    meta.update(file_meta)
    return _validate(path, raw, bounds, meta, bbox=bbox, max_kbps=max_kbps)


def _kind_from_name(path: Path) -> Kind | None:
    text = str(path).lower()
    kinds = [k for k in ("fixed", "mobile") if k in text]
    return kinds[0] if len(kinds) == 1 else None  # type: ignore[return-value]


# ---------------------------------------------------------------- loading, per format


def _load_csv(path: Path) -> tuple[pd.DataFrame, npt.NDArray[np.float64] | None, dict[str, Any]]:
    facts = inspect_text_file(path)
    raw = read_csv_text(path, facts)
    raw = raw.rename(
        columns=match_columns(
            path, list(raw.columns), REQUIRED_COLUMNS, header_line=facts.first_line
        )
    )
    bounds = _wkt_bounds(raw["tile"]) if "tile" in raw else None
    return raw, bounds, {"sha256": facts.sha256, "sample": facts.sample, "format": "csv"}


def _load_parquet(
    path: Path,
) -> tuple[pd.DataFrame, npt.NDArray[np.float64] | None, dict[str, Any]]:
    sha = sha256_file(path)
    try:
        pfile = pq.ParquetFile(path)
        schema = pfile.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFileError(path, f"not a readable Parquet file ({exc})") from exc
    renames = match_columns(path, schema.names, REQUIRED_COLUMNS)
    try:
        table = pfile.read()
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFileError(path, f"Parquet data cannot be read ({exc})") from exc
    table = table.rename_columns([renames.get(c, c) for c in table.column_names])
    if table.num_rows == 0:
        raise EmptyFileError(path, "Parquet file holds no rows")
    kv = schema.metadata or {}
    sample = any(is_sample_key(k) and is_sample_marker(v) for k, v in kv.items())
    qk = table.column("quadkey")
    was_integer = pa.types.is_integer(qk.type)
    if not (pa.types.is_string(qk.type) or pa.types.is_large_string(qk.type)):
        try:
            qk = qk.cast(pa.string())
        except pa.ArrowException as exc:
            raise SchemaError(
                path, f"quadkey of type {qk.type} cannot be read as text", column="quadkey"
            ) from exc
        table = table.set_column(table.column_names.index("quadkey"), "quadkey", qk)
    bounds = None
    names = table.column_names
    if "tile" not in names and "geometry" in names:  # GeoParquet: WKB geometry, no WKT tile
        table = table.rename_columns(["tile" if c == "geometry" else c for c in names])
    if "tile" in table.column_names:
        tile = table.column("tile")
        if pa.types.is_binary(tile.type) or pa.types.is_large_binary(tile.type):
            geoms = shapely.from_wkb(
                np.asarray(tile.to_numpy(zero_copy_only=False), dtype=object),
                on_invalid="ignore",
            )
            bounds = _geometry_bounds(geoms, tile.is_null().to_numpy(zero_copy_only=False))
            wkt = shapely.to_wkt(geoms, rounding_precision=-1)
            table = table.set_column(
                table.column_names.index("tile"), "tile", pa.array(wkt, pa.string())
            )
    raw = table.to_pandas()
    if bounds is None and "tile" in raw:
        bounds = _wkt_bounds(raw["tile"])
    meta = {
        "sha256": sha,
        "sample": sample,
        "format": "parquet",
        "quadkey_was_integer": was_integer,
    }
    return raw, bounds, meta


def _load_vector(path: Path) -> tuple[pd.DataFrame, npt.NDArray[np.float64] | None, dict[str, Any]]:
    sha = sha256_file(path)
    source = _vector_source(path)
    try:
        info = pyogrio.read_info(source)
        renames = match_columns(path, list(info["fields"]), REQUIRED_COLUMNS)
        gdf = pyogrio.read_dataframe(source)
    except SchemaError:
        raise
    except Exception as exc:  # pyogrio/GDAL raise several types for unreadable data
        raise CorruptFileError(path, f"not a readable vector file ({exc})") from exc
    gdf = gdf.rename(columns=renames)
    if len(gdf) == 0:
        raise EmptyFileError(path, "file holds no features")
    meta: dict[str, Any] = {
        "sha256": sha,
        "sample": False,
        "format": path.suffix.lower().lstrip("."),
    }
    if gdf.crs is None:
        meta["crs_assumed"] = "EPSG:4326"
    elif gdf.crs.to_epsg() != 4326:
        try:
            gdf = gdf.to_crs(4326)
        except Exception as exc:
            raise CRSError(path, f"cannot transform {gdf.crs} to EPSG:4326 ({exc})") from exc
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    bounds = _geometry_bounds(geoms, shapely.is_missing(geoms))
    raw = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    raw["quadkey"] = _quadkey_text(raw["quadkey"])
    return raw, bounds, meta


def _vector_source(path: Path) -> str:
    """The GDAL path to open: a ``.zip`` is searched for its one layer file (Ookla nests it in a
    folder of the same name)."""
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(_ZIPPED_LAYERS)]
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptFileError(path, f"not a readable zip file ({exc})") from exc
    if len(members) != 1:
        found = ", ".join(members) or "none"
        raise CorruptFileError(
            path, f"the zip must hold exactly one .shp, .geojson or .gpkg layer (found: {found})"
        )
    return f"/vsizip/{path.resolve()}/{members[0]}"


def _quadkey_text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("Int64").astype("string").fillna("").astype(str)
    return values.astype("string").fillna("").astype(str)


def _wkt_bounds(tile: pd.Series) -> npt.NDArray[np.float64]:
    """``(n, 4)`` bounds of WKT tiles; NaN where absent; ``inf`` where present but unparseable."""
    text = tile.astype("string").fillna("").str.strip()
    present = (text != "").to_numpy()
    out = np.full((len(text), 4), np.nan)
    if present.any():
        geoms = shapely.from_wkt(text.to_numpy(dtype=object)[present], on_invalid="ignore")
        out[present] = _geometry_bounds(geoms, np.zeros(len(geoms), dtype=bool))
    return out


def _geometry_bounds(
    geoms: npt.NDArray[np.object_], missing: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Bounds; NaN rows where missing, ``inf`` rows where present but unparseable or empty."""
    bounds = shapely.bounds(geoms)
    broken = ~np.asarray(missing, dtype=bool) & np.isnan(bounds).any(axis=1)
    bounds[broken] = np.inf
    bounds[np.asarray(missing, dtype=bool)] = np.nan
    return bounds


# ---------------------------------------------------------------- row checks


def _validate(
    path: Path,
    raw: pd.DataFrame,
    bounds: npt.NDArray[np.float64] | None,
    meta: dict[str, Any],
    *,
    bbox: tuple[float, float, float, float] | None,
    max_kbps: float,
) -> ReadResult:
    raw = raw.reset_index(drop=True)
    n = len(raw)
    checks = ReaderChecks(raw, path)
    qk = _quadkey_text(raw["quadkey"])

    # quadkey: 16 digits 0-3
    ascii_ok = qk.str.isascii().to_numpy(dtype=bool) & (qk.str.len() <= 64).to_numpy(dtype=bool)
    digits_ok = np.zeros(n, dtype=bool)
    digits_ok[ascii_ok] = valid_quadkeys(qk.to_numpy(dtype=object)[ascii_ok], zoom=None)
    checks.fail(~digits_ok, "quadkey", "quadkey missing or has characters other than digits 0-3")
    lengths = qk.str.len().to_numpy(dtype=np.int64)
    wrong_zoom = digits_ok & (lengths != OOKLA_ZOOM)
    for length in np.unique(lengths[wrong_zoom]).tolist():  # a handful of distinct lengths
        checks.fail(
            wrong_zoom & (lengths == length),
            "quadkey",
            f"quadkey has {length} digits (zoom {length}), not {OOKLA_ZOOM}",
        )
    ok_qk = digits_ok & ~wrong_zoom
    tile_x = np.zeros(n, dtype=np.int64)
    tile_y = np.zeros(n, dtype=np.int64)
    tile_x[ok_qk], tile_y[ok_qk], _ = quadkey_to_tile(qk.to_numpy(dtype=object)[ok_qk])
    lat, lng = tile_centroids(tile_x, tile_y, OOKLA_ZOOM)
    lat[~ok_qk] = np.nan
    lng[~ok_qk] = np.nan
    checks.fail_duplicates(qk, ok_qk, "quadkey", "quadkey")

    # tile geometry agrees with the quadkey
    if bounds is not None:
        broken = np.isinf(bounds).any(axis=1)
        checks.fail(broken, "tile", "tile geometry present but unparseable or empty")
        expected = np.column_stack(tile_bounds(tile_x, tile_y, OOKLA_ZOOM))
        comparable = ok_qk & ~broken & ~np.isnan(bounds).any(axis=1)
        diff = np.abs(np.where(comparable[:, None], bounds - expected, 0.0)).max(axis=1)
        checks.fail(
            comparable & (diff > TILE_TOLERANCE_DEG),
            "tile",
            f"tile bounds disagree with the quadkey's tile by more than {TILE_TOLERANCE_DEG:g} deg",
        )

    # measurements
    values = {
        c: pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype=np.float64)
        for c in REQUIRED_COLUMNS[1:]
    }
    for col, v in values.items():
        checks.fail(~np.isfinite(v), col, f"{col} missing or not a number")
    for col in _SPEEDS:
        v = values[col]
        checks.fail(v <= 0, col, f"{col} <= 0 (no speed measured)")
        checks.fail(v > max_kbps, col, f"{col} above {max_kbps:,.0f} kbps (absurd speed)")
    for col in _LATENCIES:
        v = values[col]
        checks.fail(v < 0, col, f"{col} negative")
        checks.fail(v > MAX_LATENCY_MS, col, f"{col} above {MAX_LATENCY_MS:,} ms")
    tests, devices = values["tests"], values["devices"]
    for col, v in (("tests", tests), ("devices", devices)):
        checks.fail(np.isfinite(v) & (v != np.floor(v)), col, f"{col} not a whole number")
    checks.fail(tests < 1, "tests", "tests < 1")
    checks.fail(devices < 1, "devices", "devices < 1")
    checks.fail(devices > tests, "devices", "devices > tests")

    if bbox is not None:
        west, south, east, north = bbox
        outside = ok_qk & ~((lng >= west) & (lng <= east) & (lat >= south) & (lat <= north))
        checks.fail(
            outside,
            "quadkey",
            f"tile centroid outside Vietnam's bounding box (lon {west}..{east}, lat {south}..{north})",
        )

    typed = _typed(raw, qk, values, tile_x, tile_y, lat, lng)
    return finish(checks, typed, n_read=n, path=path, meta=meta)


def _typed(
    raw: pd.DataFrame,
    qk: pd.Series,
    values: dict[str, npt.NDArray[np.float64]],
    tile_x: npt.NDArray[np.int64],
    tile_y: npt.NDArray[np.int64],
    lat: npt.NDArray[np.float64],
    lng: npt.NDArray[np.float64],
) -> pd.DataFrame:
    out = raw.rename(columns=_FILE_TILE_XY).copy()
    out["quadkey"] = qk.to_numpy(dtype=object)
    out["quadkey"] = out["quadkey"].astype(str)
    if "tile" in out:
        out["tile"] = out["tile"].astype("string").fillna("").astype(str)
    for col in _SPEEDS + _LATENCIES:
        out[col] = values[col]
    for col in _COUNTS:
        v = values[col]
        out[col] = np.where(np.isfinite(v), v, 0).astype(np.int64)
    for col in _OPTIONAL_NUMERIC:
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(np.float64)
    out["tile_x"] = tile_x
    out["tile_y"] = tile_y
    out["lat"] = lat
    out["lng"] = lng
    return out
