"""Tabular outputs: CSV (UTF-8 with BOM, so spreadsheet programs keep Vietnamese diacritics),
Parquet and GeoParquet with provenance in the file's key-value metadata."""

from __future__ import annotations

import json
import math
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geodata.provenance import atomic_path

__all__ = ["write_csv", "write_parquet", "write_geoparquet", "write_wkb_geoparquet"]


def write_csv(df: pd.DataFrame, dest: str | PathLike[str]) -> Path:
    """CSV, UTF-8 with BOM, no index."""
    with atomic_path(dest) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig")
    return Path(dest)


def _with_provenance(table: pa.Table, provenance: dict[str, Any] | None) -> pa.Table:
    if not provenance:
        return table
    meta = dict(table.schema.metadata or {})
    meta[b"gap_monitor:provenance"] = json.dumps(
        provenance, ensure_ascii=False, default=str
    ).encode()
    return table.replace_schema_metadata(meta)


def write_parquet(
    df: pd.DataFrame, dest: str | PathLike[str], *, provenance: dict[str, Any] | None = None
) -> Path:
    """Parquet (zstd) with provenance in the schema metadata."""
    table = _with_provenance(pa.Table.from_pandas(df, preserve_index=False), provenance)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(dest)


def write_geoparquet(
    gdf: gpd.GeoDataFrame, dest: str | PathLike[str], *, provenance: dict[str, Any] | None = None
) -> Path:
    """GeoParquet 1.x (geopandas' ``geo`` metadata) plus our provenance key, written once."""
    try:  # the table GeoDataFrame.to_parquet writes, so provenance goes in before the one write
        from geopandas.io.arrow import _geopandas_to_arrow
    except ImportError:  # pragma: no cover - another geopandas: write, re-read, add, re-write
        _geopandas_to_arrow = None
    with atomic_path(dest) as tmp:
        if _geopandas_to_arrow is not None:
            table = _with_provenance(_geopandas_to_arrow(gdf, index=False), provenance)
            pq.write_table(table, tmp, compression="zstd")
        else:
            gdf.to_parquet(tmp, index=False, compression="zstd")
            if provenance:
                table = _with_provenance(pq.read_table(tmp), provenance)
                pq.write_table(table, tmp, compression="zstd")
    return Path(dest)


def write_wkb_geoparquet(
    df: pd.DataFrame,
    wkb: pa.Array,
    dest: str | PathLike[str],
    *,
    bbox: tuple[float, float, float, float],
    geometry_types: list[str],
    crs: str = "EPSG:4326",
    provenance: dict[str, Any] | None = None,
) -> Path:
    """:func:`write_geoparquet` of ``df`` with a ``geometry`` column given as WKB, without
    building geometry objects: the same table, the same ``geo`` metadata and geometry field
    metadata (geopandas' own, taken from a one-row probe frame, with the given ``bbox`` and
    ``geometry_types``)."""
    import shapely
    from geopandas.io.arrow import _geopandas_to_arrow

    if len(wkb) != len(df) or "geometry" in df.columns:
        raise ValueError("one WKB geometry per row, and no 'geometry' column in df")
    probe = _geopandas_to_arrow(
        gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=crs), index=False
    )
    field = probe.schema.field("geometry")
    geo = json.loads(probe.schema.metadata[b"geo"])
    column = geo["columns"]["geometry"]
    column["geometry_types"] = list(geometry_types)
    column.pop("bbox", None)
    if all(math.isfinite(v) for v in bbox):  # geopandas leaves it out for no geometry
        column["bbox"] = [float(v) for v in bbox]
    out = df.copy()
    out["geometry"] = None  # as geopandas does: the WKB column replaces it in the Arrow table
    table = pa.Table.from_pandas(out, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("geometry"), field, wkb.cast(field.type))
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode("utf-8")
    table = _with_provenance(table.replace_schema_metadata(meta), provenance)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(dest)
