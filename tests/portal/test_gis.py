"""GIS formats made on request by the portal, cached by the sources' sha256, and the field
dictionary pages."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import h3
import pandas as pd
import pyogrio
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from geodata.publishing.generations import PORTAL_CACHE_DIRNAME as CACHE_DIRNAME
from geodata.publishing.generations import PORTAL_CACHE_ENV as CACHE_ENV
from portal.app import create_app
from tests.portal.conftest import PERIOD

BASE = "/provinces/34/01"
IDENTITY = {"Accept-Encoding": "identity"}
MEDIA = {
    ".gpkg": "application/geopackage+sqlite3",
    ".shp.zip": "application/zip",
    "_cells.csv": "text/csv",
}


@pytest.fixture
def client(output_dir: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    return TestClient(create_app(output_dir))


@pytest.mark.parametrize("suffix", list(MEDIA))
def test_format_served_then_cached(client, output_dir, suffix):
    url = f"{BASE}/{PERIOD}{suffix}"
    first = client.get(url, headers=IDENTITY)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith(MEDIA[suffix])
    assert first.headers["x-portal-cache"] == "miss"
    assert first.headers["accept-ranges"] == "bytes"
    assert f"34_01_ha_noi_{PERIOD}{suffix}" in first.headers["content-disposition"]
    cached = list((output_dir / CACHE_DIRNAME).glob(f"*/*{suffix}"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.content
    assert (cached[0].stat().st_mode & 0o777) == 0o644
    second = client.get(url, headers=IDENTITY)
    assert second.headers["x-portal-cache"] == "hit"
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    part = client.get(url, headers={**IDENTITY, "Range": "bytes=0-15"})
    assert part.status_code == 206
    assert part.content == first.content[:16]
    assert part.headers["content-range"] == f"bytes 0-15/{len(first.content)}"
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-type"].startswith(MEDIA[suffix])
    # the cache is hidden: the manifest never lists it
    manifest = json.loads((output_dir / "manifest.json").read_text())
    assert not any(CACHE_DIRNAME in f["path"] for f in manifest["files"])


def test_geopackage_content(client, tmp_path):
    r = client.get(f"{BASE}/{PERIOD}.gpkg", headers=IDENTITY)
    path = tmp_path / "hn.gpkg"
    path.write_bytes(r.content)
    layers = dict(pyogrio.list_layers(path))
    assert {"cells", "summary", "metadata"} <= set(layers)
    assert pyogrio.read_dataframe(path, layer="summary")["name"].tolist() == ["Hà Nội"]
    meta = pyogrio.read_dataframe(path, layer="metadata").set_index("key")["value"]
    assert meta["sample"] == "true" and meta["period"] == PERIOD
    assert meta["boundary_version"] == "34" and meta["licence"].startswith("CC BY-SA 4.0")


def test_shapefile_zip_content(client, tmp_path):
    r = client.get(f"/provinces/34/48/{PERIOD}.shp.zip", headers=IDENTITY)  # coarse cells
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        zf.extractall(tmp_path)
        mapping = pd.read_csv(io.BytesIO(zf.read("field_names.csv")), encoding="utf-8-sig")
    stem = f"34_48_da_nang_{PERIOD}"
    assert (tmp_path / f"{stem}_cells.cpg").read_text().strip() == "UTF-8"
    summary = pyogrio.read_dataframe(tmp_path / f"{stem}_summary.shp")
    assert summary["name"].tolist() == ["Đà Nẵng"]
    cells = pyogrio.read_dataframe(tmp_path / f"{stem}_cells.shp")
    full = dict(zip(mapping["short"], mapping["full"], strict=False))
    assert "share_uns" in cells.columns and full["share_uns"] == "share_unserved"
    assert "SYNTHETIC" in (tmp_path / "README.txt").read_text(encoding="utf-8")


def test_cells_csv_content(client):
    r = client.get(f"{BASE}/{PERIOD}_cells.csv", headers=IDENTITY)
    table = pd.read_csv(io.BytesIO(r.content), dtype={"h3": str}, encoding="utf-8-sig")
    assert list(table.columns[:3]) == ["h3", "lat", "lon"]
    for cell, lat, lon in table[["h3", "lat", "lon"]].head(50).itertuples(index=False):
        assert h3.is_valid_cell(cell)
        assert (lat, lon) == pytest.approx(h3.cell_to_latlng(cell), abs=1e-6)
    assert (table["period"] == PERIOD).all() and table["sample"].astype(str).str.lower().eq(
        "true"
    ).all()


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/2019Q1.gpkg",  # no such quarter
        f"{BASE}/latest.shp.zip",  # not a quarter
        f"/provinces/34/99/{PERIOD}.gpkg",  # no such province
        f"/provinces/12/01/{PERIOD}_cells.csv",  # no such boundary version
        f"/provinces/63/01/{PERIOD}.gpkg",  # a province without cells
    ],
)
def test_unknown_is_bilingual_404(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    assert "Không" in r.text and "No " in r.text


def test_name_redirects_to_code(client):
    r = client.get(f"/provinces/34/ha-noi/{PERIOD}.gpkg", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"{BASE}/{PERIOD}.gpkg"


def test_unwritable_cache_streams_a_temporary_build(output_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    client = TestClient(create_app(output_dir))
    r = client.get(f"{BASE}/{PERIOD}_cells.csv", headers=IDENTITY)
    assert r.status_code == 200 and r.headers["x-portal-cache"] == "off"
    assert r.content.startswith(b"\xef\xbb\xbfh3,lat,lon")
    part = client.get(f"{BASE}/{PERIOD}_cells.csv", headers={**IDENTITY, "Range": "bytes=-10"})
    assert part.status_code == 206 and part.content == r.content[-10:]


def test_cache_dir_from_environment(output_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    client = TestClient(create_app(output_dir))
    assert client.get(f"{BASE}/{PERIOD}.gpkg", headers=IDENTITY).status_code == 200
    assert list((tmp_path / "cache").glob("*/*.gpkg"))
    assert not (output_dir / CACHE_DIRNAME).exists()


def test_source_not_matching_manifest_is_503(client, output_dir):
    cells = output_dir / "downloads" / "34" / "01_ha_noi" / f"{PERIOD}_cells.geojson"
    data = cells.read_bytes()
    cells.write_bytes(data.replace(b'"population"', b'"populatiom"', 1))  # same size
    r = client.get(f"{BASE}/{PERIOD}.gpkg")
    assert r.status_code == 503 and r.headers["retry-after"]


def test_fields_pages(client):
    page = client.get("/fields")
    assert page.status_code == 200
    assert "share_unserved" in page.text and "share_uns" in page.text
    assert "Tỷ lệ dân chưa được phục vụ" in page.text and "Share of people unserved" in page.text
    csv = client.get("/fields.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype=str)
    assert {"name", "meaning_vi", "meaning_en", "unit", "source"} <= set(table.columns)
    assert (
        client.get("/fields.csv", headers={"If-None-Match": csv.headers["etag"]}).status_code == 304
    )


def test_pages_link_to_formats_and_fields(client):
    index = client.get("/")
    assert 'href="/fields"' in index.text
    page = client.get(BASE)
    assert 'href="/fields"' in page.text
    for suffix in MEDIA:
        assert f'href="{BASE}/{PERIOD}{suffix}"' in page.text
    assert "CSV (ô lưới" in page.text
