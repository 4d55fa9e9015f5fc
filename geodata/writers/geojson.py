"""RFC 7946 GeoJSON through GDAL's GeoJSON driver, with provenance as a top-level member.

GDAL's ``RFC7946=YES`` writes WGS84 lon/lat, counter-clockwise exterior rings (clockwise holes),
no ``crs`` member; ``COORDINATE_PRECISION=6`` keeps 6 decimals (~0.1 m);
``FOREIGN_MEMBERS_COLLECTION`` (GDAL >= 3.9) carries the provenance object inside the
FeatureCollection. :func:`geojson_bytes` is the one body; :func:`write_geojson` writes its bytes
atomically, so a caller that must check a size budget first can hold the bytes in memory.

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
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from geodata.provenance import atomic_write_bytes

__all__ = ["geojson_bytes", "write_geojson"]


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
