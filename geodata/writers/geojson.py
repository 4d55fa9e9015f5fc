"""RFC 7946 GeoJSON through GDAL's GeoJSON driver, with provenance as a top-level member.

GDAL's ``RFC7946=YES`` writes WGS84 lon/lat, counter-clockwise exterior rings (clockwise holes),
no ``crs`` member; ``COORDINATE_PRECISION=6`` keeps 6 decimals (~0.1 m);
``FOREIGN_MEMBERS_COLLECTION`` (GDAL >= 3.9) carries the provenance object inside the
FeatureCollection. :func:`geojson_bytes` is the one body; :func:`write_geojson` writes its bytes
atomically, so a caller that must check a size budget first can hold the bytes in memory.

For many polygon features split into many files (the per-province downloads),
:func:`feature_texts` renders each feature once, vectorised, in exactly the bytes GDAL writes
(:func:`polygon_geometry_texts`, :func:`property_texts`); a file is then
:func:`collection_header` + the features' texts + footer (:func:`collection_bytes`), and its size
is known before it is assembled (:func:`collection_size`).

Examples
--------
>>> import geopandas as gpd, shapely
>>> gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(105.0, 21.0, 105.1, 21.1)],
...                        crs="EPSG:4326")
>>> doc = json.loads(geojson_bytes(gdf, provenance={"sample": True}))
>>> doc["provenance"], "crs" in doc, doc["features"][0]["geometry"]["coordinates"][0][:2]
({'sample': True}, False, [[105.1, 21.0], [105.1, 21.1]])
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely

from geodata.provenance import atomic_write_bytes

__all__ = [
    "geojson_bytes",
    "write_geojson",
    "collection_header",
    "collection_bytes",
    "collection_size",
    "polygon_geometry_texts",
    "ring_geometry_texts",
    "property_texts",
    "properties_texts",
    "feature_texts",
]


def geojson_bytes(
    gdf: gpd.GeoDataFrame,
    *,
    provenance: dict[str, Any] | None = None,
    precision: int = 6,
) -> bytes:
    """``gdf`` as RFC 7946 GeoJSON (UTF-8 bytes), with ``provenance`` as a top-level member.

    Geometries in another CRS are transformed to EPSG:4326 first; a GeoDataFrame without CRS is
    taken as lon/lat.
    """
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    options: dict[str, Any] = {
        "RFC7946": "YES",
        "COORDINATE_PRECISION": precision,
        "WRITE_NAME": "NO",
    }
    if provenance:
        options["FOREIGN_MEMBERS_COLLECTION"] = json.dumps(
            {"provenance": provenance}, ensure_ascii=False, default=str
        )
    buf = io.BytesIO()
    pyogrio.write_dataframe(gdf, buf, driver="GeoJSON", layer_options=options)
    return buf.getvalue()


def write_geojson(
    gdf: gpd.GeoDataFrame,
    dest: str | PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
    precision: int = 6,
) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON to ``dest`` atomically; returns ``dest``."""
    return atomic_write_bytes(dest, geojson_bytes(gdf, provenance=provenance, precision=precision))


# --- vectorised encoder of polygon features, byte-identical to the GDAL writer above -----------
#
# The per-province downloads write ~400 k hexagons per boundary version per quarter; going through
# GeoDataFrame + pyogrio for each of ~200 files per quarter cost most of a refresh. The functions
# below render every feature's text once, in GDAL's exact layout (``RFC7946=YES``, 6 decimals,
# ``WRITE_NAME=NO``, provenance as a foreign member), as one Arrow string array; a file is then a
# header, a contiguous slice of that array's data buffer and a footer. tests/geodata/
# test_rfc7946.py checks the bytes against :func:`geojson_bytes`.

_FOOTER = b"\n]\n}\n"
_SEP = ",\n"  # between features; rendered features carry it, the last one of a file drops it


def collection_header(provenance: dict[str, Any] | None = None, precision: int = 6) -> bytes:
    """The bytes GDAL writes before the first feature (see :func:`geojson_bytes`)."""
    head = '{\n"type": "FeatureCollection",\n'
    if provenance:
        members = json.dumps({"provenance": provenance}, ensure_ascii=False, default=str)
        head += members[1:-1] + ",\n"
    head += f'"xy_coordinate_resolution": {10.0**-precision!r},\n"features": [\n'
    return head.encode("utf-8")


def collection_bytes(header: bytes, features: bytes) -> bytes:
    """A FeatureCollection of ``features`` (rendered texts joined, each followed by ``,\\n``)."""
    if features.endswith(_SEP.encode()):
        features = features[: -len(_SEP)]
    elif features:
        raise ValueError("features must be rendered texts each followed by ',\\n'")
    return header + features + _FOOTER


def collection_size(header: bytes, features_bytes: int) -> int:
    """Size of :func:`collection_bytes` of features totalling ``features_bytes`` (with separators)."""
    return len(header) + max(features_bytes - len(_SEP), 0) + len(_FOOTER)


_TRAILING_ZEROS = re.compile(r"0+(?=[, ])")


def _fixed_polygons(coords: npt.NDArray[np.float64], k: int, precision: int) -> list[str]:
    """Geometry texts of rings of ``k`` points each (``coords``: (n * k, 2)): every coordinate
    with ``precision`` fixed decimals (correctly rounded, as C's printf), trailing zeros dropped
    but one kept (``21.0``), as GDAL writes them. One C-level format call and one regex pass."""
    point = f"[ %.{precision}f, %.{precision}f ]"
    fmt = '{ "type": "Polygon", "coordinates": [ [ ' + ", ".join([point] * k) + " ] ] }\n"
    n = len(coords) // k
    text = (fmt * n) % tuple(coords.ravel().tolist())
    text = _TRAILING_ZEROS.sub("", text).replace(".,", ".0,").replace(". ", ".0 ")
    return text[:-1].split("\n")


def polygon_geometry_texts(geometry: npt.ArrayLike, precision: int = 6) -> pa.Array:
    """GDAL's RFC 7946 text of each single-ring Polygon (``{ "type": "Polygon", ... }``), rings
    made counter-clockwise as GDAL does. Other geometry types raise ValueError."""
    geoms = np.asarray(geometry, dtype=object)
    if len(geoms) == 0:
        return pa.array([], type=pa.large_string())
    types = shapely.get_type_id(geoms)
    rings = shapely.get_num_interior_rings(geoms)
    if (types != shapely.GeometryType.POLYGON).any() or (rings != 0).any():
        raise ValueError("polygon_geometry_texts takes Polygons without holes only")
    coords, index = shapely.get_coordinates(shapely.get_exterior_ring(geoms), return_index=True)
    return ring_geometry_texts(coords, np.bincount(index, minlength=len(geoms)), precision)


def ring_geometry_texts(
    coords: npt.NDArray[np.float64], counts: npt.NDArray[np.integer], precision: int = 6
) -> pa.Array:
    """:func:`polygon_geometry_texts` of polygons given as closed rings: ``coords`` (N, 2)
    lon/lat, ring after ring, ``counts`` points per ring (first point repeated last)."""
    n = len(counts)
    if n == 0:
        return pa.array([], type=pa.large_string())
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    index = np.repeat(np.arange(n), counts)
    # shoelace sign per ring; clockwise rings are reversed (GDAL reverses the point order)
    x, y = coords[:, 0], coords[:, 1]
    nxt = np.arange(len(coords)) + 1
    nxt[starts + counts - 1] = starts
    area2 = np.bincount(index, weights=x * y[nxt] - x[nxt] * y, minlength=n)
    cw = np.repeat(area2 < 0, counts)
    if cw.any():
        order = np.arange(len(coords))
        rev = np.repeat(2 * starts + counts - 1, counts) - order
        coords = coords[np.where(cw, rev, order)]
    out = np.empty(n, dtype=object)
    for k in np.unique(counts):
        members = np.flatnonzero(counts == k)
        sel = (starts[members][:, None] + np.arange(k)[None, :]).ravel()
        out[members] = _fixed_polygons(coords[sel], int(k), precision)
    return pa.array(out, type=pa.large_string())


_NULL = pa.scalar("null", pa.large_string())


def _float_texts(values: npt.NDArray[np.float64], name: object) -> pa.Array:
    """Shortest round-trip repr of each float (``7.0``, ``133.8``), null when not finite.

    Equal to GDAL's text for values rounded to at most 15 significant digits in 1e-4..1e15
    (the published columns are rounded); other magnitudes raise."""
    finite = np.isfinite(values)
    mag = np.abs(values[finite])
    if ((mag >= 1e15) | ((mag != 0) & (mag < 1e-4))).any():
        raise ValueError(f"column {name!r}: values beyond 1e-4..1e15 need GDAL's float format")
    text = pc.cast(pa.array(values, type=pa.float64()), pa.large_string())  # Arrow: "7", "1e+14"
    whole = finite & (values == np.trunc(values))
    if whole.any():
        large = pa.large_string()
        dot0 = pc.binary_join_element_wise(text, pa.scalar(".0", large), pa.scalar("", large))
        text = pc.if_else(pa.array(whole), dot0, text)
    if not finite.all():
        text = pc.if_else(pa.array(finite), text, _NULL)
    if not (mag >= 1e10).any():  # Arrow writes 1e10 and more with an exponent, repr does not
        return text
    exponent = np.asarray(pc.match_substring(text, "e").to_numpy(zero_copy_only=False), dtype=bool)
    if exponent.any():
        out = text.to_numpy(zero_copy_only=False)
        out[exponent] = [repr(float(v)) for v in values[exponent]]
        text = pa.array(out, type=pa.large_string())
    return text


def property_texts(series: pd.Series) -> pa.Array:
    """JSON text of each value of one property column as GDAL writes it (null for missing):
    strings (object, string, categorical), integers (nullable), floats (see
    :func:`_float_texts`), booleans."""
    dtype = series.dtype
    n = len(series)
    if pd.api.types.is_bool_dtype(dtype):
        mask = series.isna().to_numpy()
        values = series.to_numpy(dtype=bool, na_value=False)
        text = np.where(mask, "null", np.where(values, "true", "false"))
        return pa.array(text, type=pa.large_string())
    if pd.api.types.is_integer_dtype(dtype):
        mask = series.isna().to_numpy()
        values = series.to_numpy(dtype=np.int64, na_value=0)
        text = pc.cast(pa.array(values, type=pa.int64()), pa.large_string())
        return pc.if_else(pa.array(mask), _NULL, text) if mask.any() else text
    if pd.api.types.is_float_dtype(dtype):
        return _float_texts(series.to_numpy(dtype=np.float64, na_value=np.nan), series.name)
    # strings: quoted as they are unless JSON needs escapes (", \\, control characters)
    if isinstance(dtype, pd.CategoricalDtype) or series.nunique(dropna=True) < n // 2:
        codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
        dictionary = pa.array(
            [_json_string(u, series.name) for u in uniques] + ["null"], type=pa.large_string()
        )
        codes = np.where(codes < 0, len(uniques), codes)
        return dictionary.take(pa.array(codes, type=pa.int64()))
    values = series.astype(object).to_numpy()
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {series.name!r} holds non-string values") from exc
    large = pa.large_string()
    quote = pa.scalar('"', large)
    text = pc.binary_join_element_wise(quote, arr, quote, pa.scalar("", large))
    escape = pc.match_substring_regex(arr, r'["\\\x00-\x1f]').fill_null(False)
    if pc.any(escape).as_py():
        out = text.to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(escape.to_numpy(zero_copy_only=False))
        out[rows] = [_json_string(values[i], series.name) for i in rows]
        text = pa.array(out, type=large)
    return text.fill_null(_NULL)


def _json_string(value: object, name: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"column {name!r} holds a non-string value {value!r}")
    return json.dumps(value, ensure_ascii=False)


def properties_texts(columns: Mapping[str, pa.Array]) -> pa.Array:
    """``"name": value, ...`` of each row from columns rendered by :func:`property_texts`, in
    order; pieces of several calls join with ``", "`` into one properties text."""
    if not columns:
        raise ValueError("at least one property is needed")
    large = pa.large_string()
    parts: list[Any] = []
    lead = ""
    n = len(next(iter(columns.values())))
    for name, texts in columns.items():
        if len(texts) != n:
            raise ValueError(f"property {name!r}: one text per row expected")
        parts.append(pa.scalar(lead + json.dumps(str(name), ensure_ascii=False) + ": ", large))
        parts.append(texts.cast(large))
        lead = ", "
    return pc.binary_join_element_wise(*parts, pa.scalar("", large))


def feature_texts(
    properties: pd.DataFrame | Mapping[str, pa.Array] | pa.Array | list[pa.Array | pa.Scalar],
    geometry_texts: pa.Array,
) -> pa.Array:
    """Each row as GDAL's feature text followed by ``,\\n`` (large string array, row order).

    ``properties`` is a frame, its columns already rendered by :func:`property_texts` (in file
    order), or the rows' :func:`properties_texts` (one array, or a list of pieces joined with
    ``", "``, a scalar piece being the same for every row); ``geometry_texts`` is :func:`polygon_geometry_texts` (or
    :func:`ring_geometry_texts`) of the rows' geometries.
    """
    if isinstance(properties, pd.DataFrame):
        properties = {str(c): property_texts(properties[c]) for c in properties.columns}
    if isinstance(properties, pa.Array | pa.ChunkedArray):
        properties = [properties]
    elif not isinstance(properties, list):
        properties = [properties_texts(properties)]
    large = pa.large_string()
    parts: list[Any] = [pa.scalar('{ "type": "Feature", "properties": { ', large)]
    for i, piece in enumerate(properties):
        if isinstance(piece, pa.Scalar):
            piece = pa.scalar(piece.as_py(), large)
        elif len(piece) != len(geometry_texts):
            raise ValueError("one properties text and one geometry text per row")
        if i:
            parts.append(pa.scalar(", ", large))
        parts.append(piece.cast(large))
    parts += [
        pa.scalar(' }, "geometry": ', large),
        geometry_texts.cast(large),
        pa.scalar(" }" + _SEP, large),
    ]
    return pc.binary_join_element_wise(*parts, pa.scalar("", large))
