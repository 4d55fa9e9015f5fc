"""A light offline base layer for the web map: main roads and settlements, from shipped data.

Two small GeoJSON routes, built once per process from the reference data the package ships
(``geodata.reference.load_roads`` and ``load_settlements``) and kept in memory with a strong ETag:

==============================  ==================================================================
``/basemap/roads.geojson``      national and provincial roads and railways, simplified at
                                0.002° (~200 m) with coordinates rounded to 4 decimals (~11 m);
                                CC BY-SA 4.0, CTU-SematX/LegoCity ``opendata/giaothong``
``/basemap/places.geojson``     settlements of at least 20,000 people with their Vietnamese
                                name, and the two archipelagos (``kind``: ``settlement`` or
                                ``archipelago``); GeoNames cities500, CC BY 4.0
==============================  ==================================================================

Examples
--------
>>> doc = json.loads(places_geojson())
>>> sorted({f["properties"]["kind"] for f in doc["features"]})
['archipelago', 'settlement']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from geodata.reference import fold_name, load_roads, load_settlements
from portal.downloads import etag_matches

__all__ = [
    "ROADS_ATTRIBUTION",
    "PLACES_ATTRIBUTION",
    "ARCHIPELAGOS",
    "MIN_POPULATION",
    "roads_geojson",
    "places_geojson",
    "vietnamese_name",
    "basemap_routes",
]

ROADS_ATTRIBUTION = "CTU-SematX/LegoCity opendata/giaothong, CC BY-SA 4.0"
PLACES_ATTRIBUTION = "GeoNames, CC BY 4.0"
#: Settlements shown: at least this many people (GeoNames population).
MIN_POPULATION = 20_000
#: Douglas-Peucker tolerance of the roads, degrees (~200 m), and decimals kept (~11 m).
SIMPLIFY_DEGREES = 0.002
DECIMALS = 4
#: The two archipelagos: Vietnamese name and province as in ``geodata.publishing.maps``'s
#: ``ARCHIPELAGOS`` (a test checks; not imported, to spare the portal matplotlib), and the top-left
#: corner (lon, lat) of the label: north of Hoàng Sa and west of Trường Sa, where the map's
#: legend, open in the bottom right corner on a wide screen, does not cover them.
ARCHIPELAGOS: tuple[tuple[str, str, float, float], ...] = (
    ("Quần đảo Hoàng Sa", "TP Đà Nẵng", 111.2, 18.5),
    ("Quần đảo Trường Sa", "tỉnh Khánh Hòa", 109.2, 10.3),
)
_CACHE_CONTROL = "public, max-age=3600"
_PREFIXES = ("thành phố ", "thị trấn ", "thị xã ", "tỉnh ", "tp. ", "tp ")
_RAIL = "Đường sắt"
_LEVELS = {"Asean": "asean", "Quốc Gia": "national", "Cấp Tỉnh": "provincial"}


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _vietnamese_score(text: str) -> int:
    """How Vietnamese a spelling looks: letters beyond ASCII, twice beyond Latin-1 (ộ, ơ, đ)."""
    return sum((ord(ch) > 0x7F) + (ord(ch) > 0xFF) for ch in text)


def _strip_prefix(name: str) -> str:
    """``name`` without an administrative prefix (``Thành Phố Bà Rịa`` -> ``Bà Rịa``), with
    the Icelandic eth some GeoNames rows use for đ (``Ðà Lạt`` -> ``Đà Lạt``)."""
    name = name.strip().replace("\u00d0", "\u0110").replace("\u00f0", "\u0111")
    for prefix in _PREFIXES:
        if name.lower().startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def vietnamese_name(name: str, alternates: str) -> str:
    """The Vietnamese spelling of a GeoNames place: ``name`` when it has diacritics, else the
    alternate name that folds to the same letters (``Hanoi`` -> ``Hà Nội``; ``Ho Chi Minh City``
    -> ``Hồ Chí Minh``), the most Vietnamese-looking one; else ``name`` as it is. An
    administrative prefix (``Thành phố``, ``Thị trấn``) is dropped.

    >>> vietnamese_name("Da Nang", "Da Nang|Danang|Đà Nẵng|Tourane")
    'Đà Nẵng'
    >>> vietnamese_name("Thành Phố Bà Rịa", "Ba Ria")
    'Bà Rịa'
    """
    name = _strip_prefix(name)
    if not name.isascii():
        return name

    def key(text: str) -> str:
        folded = fold_name(text).removesuffix("city")
        return folded.replace("y", "i")  # Qui Nhon / Quy Nhơn

    want = key(name)
    best, score = name, 0
    for alt in alternates.split("|"):
        alt = _strip_prefix(alt)
        s = _vietnamese_score(alt)
        if s > score and key(alt) == want:
            best, score = alt, s
    return best


@lru_cache(maxsize=1)
def roads_geojson() -> bytes:
    """The roads FeatureCollection, simplified and rounded (UTF-8 JSON)."""
    roads = load_roads()
    geoms = shapely.simplify(roads.geometry.values, SIMPLIFY_DEGREES, preserve_topology=False)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
    features = []
    for geom, name, kind, level in zip(
        geoms, roads["ten"], roads["loai_duong"], roads["cap_duong"], strict=True
    ):
        if geom is None or shapely.is_empty(geom) or shapely.length(geom) == 0:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "name": str(name or ""),
                    "rail": kind == _RAIL,
                    "level": _LEVELS.get(str(level), "other"),
                },
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return _dumps({"type": "FeatureCollection", "features": features})


@lru_cache(maxsize=1)
def places_geojson() -> bytes:
    """Settlements of at least :data:`MIN_POPULATION` people, largest first, and the two
    archipelagos (UTF-8 JSON)."""
    towns = load_settlements()
    towns = towns.loc[towns["population"] >= MIN_POPULATION].sort_values(
        "population", ascending=False, kind="stable"
    )
    features: list[dict[str, Any]] = []
    for name, province, lon, lat in ARCHIPELAGOS:
        features.append(
            {
                "type": "Feature",
                "properties": {"kind": "archipelago", "name": name, "province": province},
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            }
        )
    for row in towns.itertuples(index=False):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "kind": "settlement",
                    "name": vietnamese_name(str(row.name), str(row.alternatenames)),
                    "population": int(row.population),
                    "province": str(row.province_name_34),
                },
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        round(float(row.longitude), DECIMALS),
                        round(float(row.latitude), DECIMALS),
                    ],
                },
            }
        )
    return _dumps({"type": "FeatureCollection", "features": features})


@lru_cache(maxsize=4)
def _etag(build: Callable[[], bytes]) -> str:
    return f'"{hashlib.sha256(build()).hexdigest()}"'


def _handler(build: Callable[[], bytes]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        etag = _etag(build)
        headers = {"ETag": etag, "Cache-Control": _CACHE_CONTROL}
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return Response(build(), media_type="application/geo+json", headers=headers)

    return endpoint


def basemap_routes() -> list[Route]:
    """The base-layer routes, for the portal's route list."""
    return [
        Route("/basemap/roads.geojson", _handler(roads_geojson), methods=["GET"]),
        Route("/basemap/places.geojson", _handler(places_geojson), methods=["GET"]),
    ]
