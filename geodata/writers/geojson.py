"""RFC 7946 GeoJSON through GDAL's GeoJSON driver, with provenance as a top-level member.

GDAL's ``RFC7946=YES`` writes WGS84 lon/lat, counter-clockwise exterior rings, no ``crs`` member;
``COORDINATE_PRECISION=6`` keeps 6 decimals (~0.1 m); ``FOREIGN_MEMBERS_COLLECTION`` (GDAL >= 3.9)
carries the provenance object inside the FeatureCollection.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from geodata.provenance import atomic_path

__all__ = ["write_geojson"]


def write_geojson(
    gdf: gpd.GeoDataFrame,
    dest: str | PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
    precision: int = 6,
) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON to ``dest`` atomically; returns ``dest``."""
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
    with atomic_path(dest) as tmp:
        tmp.unlink()  # GDAL refuses to overwrite an existing GeoJSON
        pyogrio.write_dataframe(gdf, tmp, driver="GeoJSON", layer_options=options)
    return Path(dest)
