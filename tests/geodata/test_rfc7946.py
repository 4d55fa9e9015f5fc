"""The strict RFC 7946 checker fails on bad files, and GDAL's RFC7946 output passes it."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.writers.geojson import geojson_bytes, write_geojson
from tests.geodata.rfc7946_check import assert_rfc7946, rfc7946_problems

# A square with a square hole, correctly oriented (exterior counter-clockwise, hole clockwise).
_EXTERIOR = [[105.0, 21.0], [105.1, 21.0], [105.1, 21.1], [105.0, 21.1], [105.0, 21.0]]
_HOLE = [[105.02, 21.02], [105.02, 21.08], [105.08, 21.08], [105.08, 21.02], [105.02, 21.02]]


def _collection(geometry: dict, **top) -> dict:
    return {
        "type": "FeatureCollection",
        **top,
        "features": [{"type": "Feature", "properties": {"n": 1}, "geometry": geometry}],
    }


def _polygon(*rings) -> dict:
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def _text(doc: dict) -> str:
    return json.dumps(doc)


GOOD = _collection(_polygon(_EXTERIOR, _HOLE))


def test_a_good_file_passes():
    assert rfc7946_problems(_text(GOOD)) == []
    assert_rfc7946(_text(GOOD).encode())
    multi = _collection({"type": "MultiPolygon", "coordinates": [[_EXTERIOR, _HOLE]]})
    assert rfc7946_problems(_text(multi)) == []


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_collection(_polygon(_EXTERIOR[::-1])), "exterior ring is clockwise"),
        (_collection(_polygon(_EXTERIOR, _HOLE[::-1])), "hole is counter-clockwise"),
        (_collection(_polygon(_EXTERIOR), crs={"type": "name"}), "'crs' member is not allowed"),
        (_collection(_polygon(_EXTERIOR[:-1])), "ring is not closed"),
        (_collection(_polygon(_EXTERIOR[:2] + _EXTERIOR[:1])), "at least 4 positions"),
        (
            _collection(_polygon([[105.0, 91.0], [105.1, 91.0], [105.1, 91.1], [105.0, 91.0]])),
            "latitude 91.0 outside",
        ),
        (
            _collection({"type": "Point", "coordinates": [181.0, 21.0]}),
            "longitude 181.0 outside",
        ),
        (  # a bow-tie: counter-clockwise overall area but self-intersecting
            _collection(
                _polygon(
                    [[105.0, 21.0], [105.2, 21.0], [105.0, 21.1], [105.2, 21.1], [105.0, 21.0]]
                )
            ),
            "invalid polygon",
        ),
        (_collection({"type": "Circle", "coordinates": [105.0, 21.0]}), "unknown geometry type"),
        (_collection({"type": "Point", "coordinates": [105.0]}), "2 or 3 numbers"),
        ({"type": "Feature", "properties": {}, "geometry": None}, "FeatureCollection"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature"}]}, "missing member"),
    ],
)
def test_each_violation_is_reported(doc, expected):
    problems = rfc7946_problems(_text(doc))
    assert any(expected in p for p in problems), problems
    with pytest.raises(AssertionError, match="not RFC 7946"):
        assert_rfc7946(_text(doc))


def test_seven_decimals_are_caught_in_the_raw_text():
    text = _text(GOOD).replace("105.08", "105.0812345")  # parses fine, but 7 decimals
    problems = rfc7946_problems(text)
    assert problems == ["coordinates: 105.0812345 has 7 decimals, more than 6"] * 2
    # exponent notation counts its real decimals: 1.05000001e2 = 105.000001 (6 decimals)
    point = '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": null, "geometry": {"type": "Point", "coordinates": [X, 21.0]}}]}'
    assert rfc7946_problems(point.replace("X", "1.05000001e2")) == []
    assert rfc7946_problems(point.replace("X", "1.050000001e2")) == [
        "coordinates: 1.050000001e2 has 7 decimals, more than 6"
    ]
    # properties are not coordinates
    assert rfc7946_problems(_text(GOOD).replace('"n": 1', '"n": 0.123456789')) == []


def test_the_hand_made_bad_file_fails_on_all_three_counts(tmp_path):
    bad = _collection(_polygon(_EXTERIOR[::-1]), crs={"type": "name"})
    text = _text(bad).replace("105.1", "105.1000001")
    path = tmp_path / "bad.geojson"
    path.write_text(text, encoding="utf-8")
    problems = rfc7946_problems(path)
    assert any("clockwise" in p for p in problems)
    assert any("7 decimals" in p for p in problems)
    assert any("'crs'" in p for p in problems)
    with pytest.raises(AssertionError, match="bad.geojson"):
        assert_rfc7946(path)


def test_encoding_problems_are_reported():
    assert "byte-order mark" in rfc7946_problems(b"\xef\xbb\xbf" + _text(GOOD).encode())[0]
    assert "not UTF-8" in rfc7946_problems(_text(GOOD).encode("utf-16"))[0]
    assert "not JSON" in rfc7946_problems("{")[0]


def test_gdal_output_passes_although_input_is_clockwise_and_too_precise(tmp_path):
    """RFC7946=YES re-orients rings and COORDINATE_PRECISION=6 rounds positions."""
    ext = np.array(_EXTERIOR) + 1.23456789e-4
    hole = np.array(_HOLE) + 1.23456789e-4
    poly = shapely.Polygon(ext[::-1], [hole[::-1]])  # clockwise exterior, counter-clockwise hole
    assert not shapely.is_ccw(poly.exterior)
    gdf = gpd.GeoDataFrame({"name": ["Hà Nội"]}, geometry=[poly], crs="EPSG:4326")
    dest = write_geojson(gdf, tmp_path / "x.geojson", provenance={"sample": True})
    assert_rfc7946(dest)
    doc = json.loads(dest.read_text(encoding="utf-8"))
    assert doc["provenance"] == {"sample": True} and "crs" not in doc
    assert doc["features"][0]["properties"]["name"] == "Hà Nội"
    back = pyogrio.read_dataframe(dest)
    assert shapely.equals_exact(back.geometry[0].normalize(), poly.normalize(), tolerance=1e-6)


def test_gdal_output_in_another_crs_is_lon_lat():
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(105.0, 21.0, 105.1, 21.1)], crs="EPSG:4326")
    doc_bytes = geojson_bytes(gdf.to_crs(3405))  # VN-2000 / UTM 48N
    assert_rfc7946(doc_bytes)
    ring = json.loads(doc_bytes)["features"][0]["geometry"]["coordinates"][0]
    np.testing.assert_allclose(np.array(ring).min(axis=0), [105.0, 21.0], atol=1e-6)


_coord = st.floats(min_value=-170.0, max_value=170.0, allow_nan=False)
_lat = st.floats(min_value=-80.0, max_value=80.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    x=_coord,
    y=_lat,
    w=st.floats(min_value=1e-3, max_value=5.0),
    h=st.floats(min_value=1e-3, max_value=5.0),
    clockwise=st.booleans(),
    with_hole=st.booleans(),
)
def test_any_box_written_by_gdal_passes_and_reversing_it_fails(x, y, w, h, clockwise, with_hole):
    box = shapely.box(x, y, x + w, y + h, ccw=not clockwise)
    if with_hole:
        hole = shapely.box(x + w / 4, y + h / 4, x + 3 * w / 4, y + 3 * h / 4, ccw=clockwise)
        box = shapely.Polygon(box.exterior, [hole.exterior])
    data = geojson_bytes(gpd.GeoDataFrame(geometry=[box], crs="EPSG:4326"))
    assert rfc7946_problems(data) == []
    doc = json.loads(data)
    rings = doc["features"][0]["geometry"]["coordinates"]
    doc["features"][0]["geometry"]["coordinates"] = [r[::-1] for r in rings]
    problems = rfc7946_problems(json.dumps(doc))
    assert any("exterior ring is clockwise" in p for p in problems)
    assert any("hole is counter-clockwise" in p for p in problems) == with_hole


# --- the vectorised encoder writes GDAL's bytes -------------------------------------------------


def _rendered(gdf: gpd.GeoDataFrame, provenance: dict | None) -> bytes:
    from geodata.writers.geojson import (
        collection_bytes,
        collection_header,
        feature_texts,
        polygon_geometry_texts,
    )

    props = gdf.drop(columns="geometry")
    texts = feature_texts(pd.DataFrame(props), polygon_geometry_texts(gdf.geometry.to_numpy()))
    return collection_bytes(collection_header(provenance), "".join(texts.to_pylist()).encode())


@settings(max_examples=40, deadline=None)
@given(
    res=st.integers(min_value=4, max_value=10),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    n=st.integers(min_value=0, max_value=40),
    clockwise=st.booleans(),
)
def test_rendered_features_are_gdal_bytes(res, seed, n, clockwise):
    """H3 polygons (either orientation) with strings needing escapes, nullable integers, floats
    rounded like published columns (and missing): byte for byte what GDAL writes."""
    import h3

    from geodata.publishing.outputs import cells_polygons

    rng = np.random.default_rng(seed)
    lat, lng = rng.uniform(-60, 60, n), rng.uniform(-170, 170, n)
    cells = np.array(
        [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in zip(lat, lng, strict=True)],
        dtype=np.uint64,
    )
    geom = cells_polygons(cells)
    if clockwise:
        geom = shapely.reverse(geom)
    words = np.array(["Hà Nội", 'say "hi"', "a\\b", "tab\there", "x/y", "Đắk Lắk"])
    strings = pd.array(words[rng.integers(0, len(words), n)], dtype="string")
    strings[rng.random(n) < 0.2] = pd.NA
    tests = pd.array(rng.integers(0, 10_000, n), dtype="Int64")
    tests[rng.random(n) < 0.2] = pd.NA
    people = np.round(rng.gamma(0.5, 5_000, n), 1)
    people[rng.random(n) < 0.2] = np.nan
    gdf = gpd.GeoDataFrame(
        {
            "h3": [f"{c:x}" for c in cells],
            "name": strings,
            "population": people,
            "share": np.round(rng.random(n), 4),
            "whole": np.floor(rng.uniform(0, 1e6, n)),
            "tests": tests,
        },
        geometry=geom,
        crs="EPSG:4326",
    )
    prov = {"sample": True, "note": "Hà Nội / test", "n": n}
    assert _rendered(gdf, prov) == geojson_bytes(gdf, provenance=prov)
    assert _rendered(gdf, None) == geojson_bytes(gdf)


def test_rendered_coordinates_round_like_printf():
    """Positions on and near 6-decimal ties, integers and trailing zeros."""
    from geodata.writers.geojson import ring_geometry_texts

    xs = np.array([105.1234565, 105.0, 21.5, 100.000000499, 99.9999995, 0.1 + 0.2, 7e-7])
    ring = np.column_stack([xs, np.roll(xs, 1)])
    ring = np.vstack([ring, ring[:1]])
    text = ring_geometry_texts(ring, np.array([len(ring)])).to_pylist()[0]
    expected = ", ".join(f"[ {_gdal(a)}, {_gdal(b)} ]" for a, b in ring)
    assert text == '{ "type": "Polygon", "coordinates": [ [ ' + expected + " ] ] }" or (
        # a clockwise ring is reversed
        text
        == '{ "type": "Polygon", "coordinates": [ [ '
        + ", ".join(f"[ {_gdal(a)}, {_gdal(b)} ]" for a, b in ring[::-1])
        + " ] ] }"
    )


def _gdal(v: float) -> str:
    s = f"{v:.6f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def test_rendered_floats_out_of_range_raise():
    from geodata.writers.geojson import property_texts

    with pytest.raises(ValueError, match="1e-4"):
        property_texts(pd.Series([1e-6]))
    with pytest.raises(ValueError, match="1e-4"):
        property_texts(pd.Series([1e16]))
