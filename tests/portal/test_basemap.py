"""The map's offline base layer: roads and settlements as small GeoJSON routes with an ETag."""

from __future__ import annotations

import json

import pytest
import shapely
from starlette.testclient import TestClient

from geodata.publishing.maps import ARCHIPELAGOS as MAP_ARCHIPELAGOS
from geodata.reference import load_settlements
from portal.app import create_app
from portal.basemap import ARCHIPELAGOS, MIN_POPULATION, vietnamese_name

ROUTES = ("/basemap/roads.geojson", "/basemap/places.geojson")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(create_app(tmp_path_factory.mktemp("empty")))  # no manifest needed


def test_roads_are_valid_small_geojson(client):
    r = client.get("/basemap/roads.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert len(r.content) < 1_500_000
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) > 400
    for f in doc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.geom_type in ("LineString", "MultiLineString") and not geom.is_empty
        assert 102 < geom.bounds[0] and geom.bounds[2] < 110 and 8 < geom.bounds[1]
        assert set(f["properties"]) == {"name", "rail", "level"}
    coords = json.dumps(doc["features"][0]["geometry"]["coordinates"])
    assert all(
        len(x.split(".")[-1]) <= 4 for x in coords.replace("[", "").replace("]", "").split(",")
    )
    assert any(f["properties"]["rail"] for f in doc["features"])


def test_places_are_the_larger_settlements_with_vietnamese_names(client):
    doc = client.get("/basemap/places.geojson").json()
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    towns = [f["properties"] for f in doc["features"] if f["properties"]["kind"] == "settlement"]
    settlements = load_settlements()
    assert len(towns) == int((settlements["population"] >= MIN_POPULATION).sum()) > 100
    assert kinds.count("archipelago") == 2
    assert all(p["population"] >= MIN_POPULATION for p in towns)
    names = {p["name"] for p in towns}
    assert {"Hà Nội", "Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Đà Lạt"} <= names
    assert "Hanoi" not in names and "Thành Phố Bà Rịa" not in names
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 102 < lon < 118 and 6 < lat < 24


def test_archipelagos_named_as_on_the_png_maps(client):
    doc = client.get("/basemap/places.geojson").json()
    shown = [
        (f["properties"]["name"], f["properties"]["province"])
        for f in doc["features"]
        if f["properties"]["kind"] == "archipelago"
    ]
    assert shown == [(name, province) for name, province, _, _ in MAP_ARCHIPELAGOS]
    assert [a[:2] for a in ARCHIPELAGOS] == shown


@pytest.mark.parametrize(
    ("name", "alternates", "expected"),
    [
        ("Hanoi", "Ha Noi|Hanoí|Hanoï|Hà Nội|Thang Long", "Hà Nội"),
        ("Ho Chi Minh City", "HCMC|Saigon|Thành phố Hồ Chí Minh", "Hồ Chí Minh"),
        ("Qui Nhon", "Qui Nhơn|Quy Nhơn", "Qui Nhơn"),
        ("Long Bien", "Long Biên", "Long Biên"),
        ("Ðà Lạt", "", "Đà Lạt"),
        ("Thị Trấn Đông Triều", "", "Đông Triều"),
        ("Ecopark", "Eco Park", "Ecopark"),
    ],
)
def test_vietnamese_name(name, alternates, expected):
    assert vietnamese_name(name, alternates) == expected


@pytest.mark.parametrize("path", ROUTES)
def test_etag_and_304(client, path):
    first = client.get(path)
    etag = first.headers["etag"]
    assert etag.strip('W/"') and "max-age" in first.headers["cache-control"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"].removeprefix("W/") == etag.removeprefix("W/")
    strong = etag.removeprefix("W/")
    assert client.get(path, headers={"If-None-Match": strong}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    gz = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert gz.headers.get("content-encoding") == "gzip" and gz.headers["etag"].startswith("W/")
    assert client.post(path).status_code == 405


def test_map_page_loads_the_base_layer_script(client):
    page = client.get("/map/34").text
    assert page.index("/static/basemap.js") < page.index("/static/map.js")
