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

import csv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyogrio
import shapely

from geodata.errors import CorruptFileError, CRSError, EmptyFileError, InputError, SchemaError
from geodata.inputs import quarter_from_name
from geodata.kernels.tiles import decode_full_width
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
    inspect_text_head,
    is_sample_key,
    is_sample_marker,
    match_columns,
    read_csv_filtered,
)
from geodata.study_area import in_study_area, quadkey_prefixes, study_area_bbox
from geodata.validation import ReadResult

__all__ = [
    "VIETNAM_BBOX",
    "MAX_KBPS",
    "MAX_LATENCY_MS",
    "TILE_TOLERANCE_DEG",
    "REQUIRED_COLUMNS",
    "PREFIX_ZOOM",
    "read_speed_tiles",
    "wkt_bounds",
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
#: Zoom of the quadkey prefixes compared with the study area's tiles before any decoding.
PREFIX_ZOOM = 10
#: Columns a Parquet file is read for (projection); any other column is left on disk.
_PARQUET_COLUMNS = (
    *REQUIRED_COLUMNS,
    "tile",
    "geometry",
    "tile_x",
    "tile_y",
    "avg_lat_down_ms",
    "avg_lat_up_ms",
)
_ZIPPED_LAYERS = (".shp", ".geojson", ".json", ".gpkg")

Kind = Literal["fixed", "mobile"]


def read_speed_tiles(
    path: str | PathLike[str],
    *,
    kind: Kind | None = None,
    study_area: bool = True,
    max_kbps: float = MAX_KBPS,
) -> ReadResult:
    """Read and validate one Ookla performance-tile file, keeping the tiles of the study area.

    Ookla publishes one global file per type and quarter (~6.5 M fixed tiles). Tiles outside
    Vietnam's study area (:mod:`geodata.study_area`: land, islands and a coastal buffer) are out
    of scope: skipped before any per-row work, counted in ``n_outside``, never quarantined.
    A row is a *candidate* when the first ``PREFIX_ZOOM`` (10) digits of its quadkey name one of
    the zoom-10 tiles that meet the study area, or when those characters are not quadkey digits
    at all (a broken key that may be Vietnamese: validation quarantines it). Parquet is read with
    column projection and this predicate pushed down (polars decodes ``quadkey`` first and the
    other columns, the long WKT ``tile`` above all, only for candidates); CSV (``.csv.gz`` too) is
    streamed in 16 MiB blocks and filtered the same way; shapefiles and other vector files are
    read with a spatial filter. Candidates whose tile centroid lies outside the area join the
    outside count; validation (the WKT cross-check included) runs on the rest only. The file is
    hashed (sha256, provenance) on a second thread meanwhile.

    Parameters
    ----------
    path : ``.parquet``, ``.csv`` (``.csv.gz``), ``.shp``, ``.zip`` (zipped shapefile),
        ``.geojson`` or ``.gpkg``; the format is chosen by extension
    kind : ``"fixed"`` or ``"mobile"``; by default taken from the file name
    study_area : skip tiles outside Vietnam's study area (default); False keeps every tile
        (e.g. for Ookla's sample files of other countries)
    max_kbps : speeds above this are quarantined as absurd

    Returns
    -------
    ReadResult
        ``accepted``: the file's known columns (``quadkey`` as text, speeds and latencies
        float64, ``tests``/``devices`` int64; Ookla's own ``tile_x``/``tile_y`` renamed
        ``ookla_tile_x``/``ookla_tile_y``; vector geometry dropped after checking) plus ``tile_x,
        tile_y`` (int64 tile indices) and ``lat, lng`` (centroid). ``n_outside``: tiles outside
        the study area. ``meta``: ``sha256, sample, period`` (``"2025Q3"`` or None), ``kind,
        format, rows_outside_study_area``. Quarantined ``_row`` is the 1-based data row.

    Raises
    ------
    CorruptFileError, SchemaError, EncodingError, EmptyFileError, InputError
        When the file cannot be read at all, lacks a required column, or ``kind`` contradicts the
        file name.

    Examples
    --------
    >>> res = read_speed_tiles("guam_fixed_2023Q4.csv", study_area=False)  # doctest: +SKIP
    >>> res.n_read == res.n_accepted + res.n_quarantined + res.n_outside  # doctest: +SKIP
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
        loaded = _load_parquet(path, study_area)
    elif name.endswith((".csv", ".csv.gz")):
        loaded = _load_csv(path, study_area)
    elif name.endswith(_VECTOR_SUFFIXES):
        loaded = _load_vector(path, study_area)
    else:
        raise InputError(
            path,
            "unsupported speed-tile format: use .parquet, .csv, .csv.gz, .shp, .zip, .geojson "
            "or .gpkg",
        )
    meta.update(loaded.meta)
    return _validate(path, loaded, meta, study_area=study_area, max_kbps=max_kbps)


def _kind_from_name(path: Path) -> Kind | None:
    text = str(path).lower()
    kinds = [k for k in ("fixed", "mobile") if k in text]
    return kinds[0] if len(kinds) == 1 else None  # type: ignore[return-value]


# ---------------------------------------------------------------- loading, per format


class _Loaded:
    """Candidate rows of a file (every row that may lie in the study area), where they came from."""

    def __init__(
        self,
        raw: pd.DataFrame,
        positions: npt.NDArray[np.int64],
        n_total: int,
        meta: dict[str, Any],
        bounds: npt.NDArray[np.float64] | None = None,
        tile_wkb: bool | None = None,
    ) -> None:
        self.raw = raw.reset_index(drop=True)
        self.tile_wkb = tile_wkb  # the tile column holds WKB (GeoParquet); None: look
        self.positions = positions
        self.n_total = n_total
        self.meta = meta
        self.bounds = bounds  # vector formats: geometry bounds; else from the ``tile`` column


@lru_cache(maxsize=1)
def _prefix_set() -> pa.Array:
    return pa.array(sorted(quadkey_prefixes(PREFIX_ZOOM)), pa.string())


#: A key whose first PREFIX_ZOOM characters are quadkey digits: its prefix can be looked up.
_READABLE_PREFIX = f"^[0-3]{{{PREFIX_ZOOM}}}"


def _candidates(quadkey: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """Rows that may lie in the study area: the key's zoom-``PREFIX_ZOOM`` prefix is one of the
    area's tiles, or it is not a quadkey prefix at all (then validation quarantines it). A row
    whose first digits are the quadkey of a tile outside the area lies outside, whatever
    follows."""
    qk = quadkey
    if not (pa.types.is_string(qk.type) or pa.types.is_large_string(qk.type)):
        qk = pc.cast(qk, pa.string())
    prefix = pc.utf8_slice_codeunits(qk, 0, PREFIX_ZOOM)
    inside = pc.is_in(prefix, value_set=_prefix_set())
    readable = pc.match_substring_regex(qk, _READABLE_PREFIX)
    keep = pc.or_kleene(inside, pc.invert(readable))
    return np.asarray(pc.fill_null(keep, True), dtype=bool)


def _load_csv(path: Path, study_area: bool) -> _Loaded:
    facts = inspect_text_head(path)
    columns = next(csv.reader([facts.first_line]), [])
    renames = match_columns(path, columns, REQUIRED_COLUMNS, header_line=facts.first_line)
    if study_area:
        keep = lambda t: _candidates(t.column("quadkey"))  # noqa: E731
    else:
        keep = lambda t: np.ones(t.num_rows, dtype=bool)  # noqa: E731
    raw, positions, n_total = read_csv_filtered(path, facts, keep, renames=renames)
    return _Loaded(
        raw, positions, n_total, {"sha256": facts.sha256, "sample": facts.sample, "format": "csv"}
    )


_ROW = "__gap_monitor_row"


def _candidate_expr(qk: pl.Expr) -> pl.Expr:
    """The Parquet pushdown predicate: :func:`_candidates` as a polars expression."""
    prefix = qk.str.slice(0, PREFIX_ZOOM)
    area = pl.Series(values=_prefix_set().to_pylist(), dtype=pl.String)
    readable = qk.str.contains(_READABLE_PREFIX)
    return (prefix.is_in(area.implode()) | ~readable).fill_null(True)


def _load_parquet(path: Path, study_area: bool) -> _Loaded:
    """Candidate rows of a Parquet file, read with projection and predicate pushdown.

    polars evaluates the quadkey-prefix predicate on the ``quadkey`` column first and decodes the
    other projected columns (the long WKT ``tile`` above all) only for the rows that pass, so a
    global file costs about what a bare filter to Vietnam's box costs; the file is hashed for
    provenance on a second thread meanwhile.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        sha = pool.submit(sha256_file, path)
        try:
            pfile = pq.ParquetFile(path)
            schema = pfile.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise CorruptFileError(path, f"not a readable Parquet file ({exc})") from exc
        renames = match_columns(path, schema.names, REQUIRED_COLUMNS)
        wanted = {c.lower() for c in _PARQUET_COLUMNS}
        columns = [c for c in schema.names if renames.get(c, c).lower() in wanted]
        qk_source = next(k for k in schema.names if renames.get(k, k) == "quadkey")
        n_total = pfile.metadata.num_rows
        n_groups = pfile.num_row_groups
        kv = schema.metadata or {}
        if n_total == 0:
            raise EmptyFileError(path, "Parquet file holds no rows")
        try:
            frame = pl.scan_parquet(path, row_index_name=_ROW).select(_ROW, *columns)
            if study_area:
                frame = frame.filter(_candidate_expr(pl.col(qk_source).cast(pl.String)))
            df = frame.collect()
        except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as exc:
            raise CorruptFileError(path, f"Parquet data cannot be read ({exc})") from exc
        digest = sha.result()
    pos = df.get_column(_ROW).to_numpy().astype(np.int64)
    table = df.drop(_ROW).to_arrow()
    table = table.rename_columns([renames.get(c, c) for c in table.column_names])
    if study_area and table.num_rows:  # drop the candidates a plain key puts outside, now
        away = _outside_by_key(table.column("quadkey"))
        if away.any():
            keep = np.flatnonzero(~away)
            table, pos = table.take(pa.array(keep)), pos[keep]
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
    names = table.column_names
    if "tile" not in names and "geometry" in names:  # GeoParquet: WKB geometry, no WKT tile
        table = table.rename_columns(["tile" if c == "geometry" else c for c in names])
    elif "tile" in names and "geometry" in names:
        table = table.drop_columns(["geometry"])
    raw = table.to_pandas()
    meta = {
        "sha256": digest,
        "sample": sample,
        "format": "parquet",
        "quadkey_was_integer": was_integer,
        "row_groups": n_groups,
        "rows_decoded": int(len(raw)),
    }
    tile_type = table.schema.field("tile").type if "tile" in table.column_names else None
    wkb = tile_type is not None and (
        pa.types.is_binary(tile_type) or pa.types.is_large_binary(tile_type)
    )
    return _Loaded(raw, pos, n_total, meta, tile_wkb=wkb)


def _outside_by_key(quadkey: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Rows whose key is a plain zoom-16 quadkey of a tile whose centroid lies outside the study
    area, decoded straight from the Arrow text buffer. Any other key (null, another length, a
    character other than 0-3) is False here: validation looks at it."""
    arr = quadkey.combine_chunks() if isinstance(quadkey, pa.ChunkedArray) else quadkey
    out = np.zeros(len(arr), dtype=bool)
    if pa.types.is_string(arr.type):
        off_type = np.int32
    elif pa.types.is_large_string(arr.type):
        off_type = np.int64
    else:
        return out
    if arr.null_count or len(arr) == 0:
        return out
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=off_type)[arr.offset : arr.offset + len(arr) + 1]
    if not (np.diff(offsets) == OOKLA_ZOOM).all():
        return out
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    codes = data.reshape(-1, OOKLA_ZOOM)
    plain = ((codes >= ord("0")) & (codes <= ord("3"))).all(axis=1)
    keys = np.ascontiguousarray(codes[plain]).view(f"S{OOKLA_ZOOM}").ravel()
    decoded = decode_full_width(keys)
    if decoded is None:  # cannot happen: every key kept is plain
        return out
    lat, lng = tile_centroids(decoded[0], decoded[1], OOKLA_ZOOM)
    out[np.flatnonzero(plain)] = ~in_study_area(lng, lat)
    return out


def _load_vector(path: Path, study_area: bool) -> _Loaded:
    sha = sha256_file(path)
    source = _vector_source(path)
    try:
        info = pyogrio.read_info(source)
        renames = match_columns(path, list(info["fields"]), REQUIRED_COLUMNS)
        n_total = int(info.get("features") or 0)
        if n_total < 0:  # a driver that cannot count cheaply
            n_total = len(pyogrio.read_dataframe(source, read_geometry=False, columns=[]))
        gdf = pyogrio.read_dataframe(
            source,
            bbox=study_area_bbox(0.01) if study_area else None,
            fid_as_index=True,
        )
    except SchemaError:
        raise
    except Exception as exc:  # pyogrio/GDAL raise several types for unreadable data
        raise CorruptFileError(path, f"not a readable vector file ({exc})") from exc
    gdf = gdf.rename(columns=renames)
    if n_total == 0:
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
    fids = np.asarray(gdf.index, dtype=np.int64)
    positions = fids - (
        1 if n_total and len(fids) and fids.min() >= 1 and _one_based(source) else 0
    )
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    bounds = _geometry_bounds(geoms, shapely.is_missing(geoms))
    raw = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    raw["quadkey"] = _quadkey_text(raw["quadkey"])
    return _Loaded(raw, positions, n_total, meta, bounds)


def _one_based(source: str) -> bool:
    """GeoPackage and GeoJSON number features from 1, shapefiles from 0."""
    return source.lower().endswith((".gpkg", ".geojson", ".json"))


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


_WKT_PREFIX = "POLYGON(("


def wkt_bounds(tile: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(n, 4)`` bounds of WKT tiles; NaN where absent; ``inf`` where present but unparseable.

    Ookla's own spelling (``POLYGON((x y, x y, ...))``) is parsed by polars string kernels in
    bulk (about 3x faster than ``shapely.from_wkt``, see ``bench/bench_world.py``); any other
    spelling (a space after ``POLYGON``, ``MULTIPOLYGON``, garbage) goes to shapely.
    """
    values = np.asarray(tile, dtype=object)
    missing = pd.isna(values)
    if missing.any():  # None, NaN (a null read through pandas): absent
        values = np.where(missing, None, values)
    text = pl.Series("t", values, dtype=pl.String).fill_null("").str.strip_chars()
    n = len(text)
    out = np.full((n, 4), np.nan)
    if n == 0:
        return out
    frame = pl.DataFrame({"t": text}).with_row_index("i")
    fast = (
        frame.lazy()
        .filter(pl.col("t").str.starts_with(_WKT_PREFIX) & pl.col("t").str.ends_with("))"))
        .with_columns(
            pl.col("t")
            .str.strip_prefix(_WKT_PREFIX)
            .str.strip_suffix("))")
            .str.split(",")
            .alias("p")
        )
        .explode("p")
        .with_columns(
            pl.col("p").str.strip_chars().str.split_exact(" ", 1).struct.rename_fields(["x", "y"])
        )
        .unnest("p")
        .with_columns(
            pl.col("x").cast(pl.Float64, strict=False), pl.col("y").cast(pl.Float64, strict=False)
        )
        .group_by("i")
        .agg(
            pl.col("x").min().alias("w"),
            pl.col("y").min().alias("s"),
            pl.col("x").max().alias("e"),
            pl.col("y").max().alias("n"),
            pl.col("x").null_count().alias("bad_x"),
            pl.col("y").null_count().alias("bad_y"),
            pl.len().alias("k"),
        )
        .filter((pl.col("bad_x") == 0) & (pl.col("bad_y") == 0) & (pl.col("k") >= 4))
        .collect()
    )
    done = np.zeros(n, dtype=bool)
    if fast.height:
        i = fast["i"].to_numpy().astype(np.int64)
        out[i] = fast.select("w", "s", "e", "n").to_numpy()
        done[i] = True
    values = text.to_numpy()
    present = values != ""
    rest = np.flatnonzero(present & ~done)
    if rest.size:
        geoms = shapely.from_wkt(values[rest].astype(object), on_invalid="ignore")
        out[rest] = _geometry_bounds(geoms, np.zeros(rest.size, dtype=bool))
    return out


def _wkb_bounds(tile: pd.Series) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """Bounds and WKT text of WKB geometries (GeoParquet)."""
    values = tile.to_numpy(dtype=object)
    missing = pd.isna(tile).to_numpy()
    geoms = shapely.from_wkb(np.where(missing, None, values), on_invalid="ignore")
    bounds = _geometry_bounds(geoms, missing)
    return bounds, shapely.to_wkt(geoms, rounding_precision=-1)


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


def _decode(qk: pd.Series) -> tuple[npt.NDArray[np.bool_], ...]:
    """``digits_ok, ok_qk, tile_x, tile_y, lat, lng, lengths`` of quadkey texts."""
    n = len(qk)
    ascii_ok = qk.str.isascii().to_numpy(dtype=bool) & (qk.str.len() <= 64).to_numpy(dtype=bool)
    digits_ok = np.zeros(n, dtype=bool)
    digits_ok[ascii_ok] = valid_quadkeys(qk.to_numpy(dtype=object)[ascii_ok], zoom=None)
    lengths = qk.str.len().to_numpy(dtype=np.int64)
    ok_qk = digits_ok & (lengths == OOKLA_ZOOM)
    tile_x = np.zeros(n, dtype=np.int64)
    tile_y = np.zeros(n, dtype=np.int64)
    tile_x[ok_qk], tile_y[ok_qk], _ = quadkey_to_tile(qk.to_numpy(dtype=object)[ok_qk])
    lat, lng = tile_centroids(tile_x, tile_y, OOKLA_ZOOM)
    lat[~ok_qk] = np.nan
    lng[~ok_qk] = np.nan
    return digits_ok, ok_qk, tile_x, tile_y, lat, lng, lengths


def _validate(
    path: Path,
    loaded: _Loaded,
    meta: dict[str, Any],
    *,
    study_area: bool,
    max_kbps: float,
) -> ReadResult:
    raw = loaded.raw
    qk = _quadkey_text(raw["quadkey"])
    digits_ok, ok_qk, tile_x, tile_y, lat, lng, lengths = _decode(qk)
    # out of scope, not invalid: a tile whose quadkey places it outside the study area
    outside = ok_qk & ~in_study_area(lng, lat) if study_area else np.zeros(len(raw), dtype=bool)
    n_outside = loaded.n_total - len(raw) + int(outside.sum())
    keep = ~outside
    if outside.any():
        raw = raw.loc[keep].reset_index(drop=True)
        qk = qk.loc[keep].reset_index(drop=True)
        digits_ok, ok_qk, lengths = digits_ok[keep], ok_qk[keep], lengths[keep]
        tile_x, tile_y, lat, lng = tile_x[keep], tile_y[keep], lat[keep], lng[keep]
    positions = loaded.positions[keep]
    bounds = loaded.bounds[keep] if loaded.bounds is not None else None
    if bounds is None and "tile" in raw:
        tile = raw["tile"]
        wkb = loaded.tile_wkb
        if wkb is None:
            wkb = bool(len(tile)) and tile.map(lambda v: isinstance(v, bytes | bytearray)).any()
        if wkb:
            bounds, wkt = _wkb_bounds(tile)
            raw["tile"] = wkt
        else:
            bounds = wkt_bounds(tile.to_numpy(dtype=object))
    meta["rows_outside_study_area"] = n_outside

    checks = ReaderChecks(raw, path, rows=positions)
    checks.fail(~digits_ok, "quadkey", "quadkey missing or has characters other than digits 0-3")
    wrong_zoom = digits_ok & (lengths != OOKLA_ZOOM)
    for length in np.unique(lengths[wrong_zoom]).tolist():  # a handful of distinct lengths
        checks.fail(
            wrong_zoom & (lengths == length),
            "quadkey",
            f"quadkey has {length} digits (zoom {length}), not {OOKLA_ZOOM}",
        )
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

    typed = _typed(raw, qk, values, tile_x, tile_y, lat, lng)
    return finish(checks, typed, n_read=loaded.n_total, path=path, meta=meta, n_outside=n_outside)


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
