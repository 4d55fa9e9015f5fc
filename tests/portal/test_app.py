"""The portal serves exactly the manifest's files, revalidates, compresses, and refuses the rest."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import warnings
from email.utils import formatdate
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx 0.28 works the same here
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from geodata.errors import SchemaError
from geodata.publishing.outputs import build_manifest
from geodata.reference import province_names
from portal.__main__ import DEFAULT_HOST, DEFAULT_PORT
from portal.__main__ import settings as env_settings
from portal.app import STATIC_DIR, create_app
from portal.catalogue import classify_path, load_catalogue
from portal.downloads import etag_matches, media_type
from tests.portal.conftest import CODES_34, PERIOD

CELLS_01 = f"downloads/34/01_ha_noi/{PERIOD}_cells.geojson"
IDENTITY = {"Accept-Encoding": "identity"}


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _entry(root: Path, path: str) -> dict:
    return next(f for f in _manifest(root)["files"] if f["path"] == path)


@pytest.fixture
def client(output_dir: Path) -> TestClient:
    return TestClient(create_app(output_dir))


@pytest.fixture(scope="module")
def shared_client(built_output: Path) -> TestClient:
    """A client on the session's fixture directory, for read-only tests."""
    return TestClient(create_app(built_output))


def asgi_request(app, path: str, method: str = "GET", headers: dict[str, str] | None = None):
    """Call the ASGI app with ``path`` exactly as given (no client-side URL normalisation)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


# --- paths, catalogue -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("downloads/34/01_ha_noi/2026Q3_cells.geojson", ("34", "01", "cells", "2026Q3")),
        ("downloads/63/96_ca_mau/2026Q2_summary.geojson", ("63", "96", "summary", "2026Q2")),
        ("downloads/34/vn_cells_res6_2026Q3.geojson", ("34", None, "vn_cells_res6", "2026Q3")),
        ("geojson/provinces_63_2026Q2.geojson", ("63", None, "provinces", "2026Q2")),
        ("tables/change_34_2026Q2_to_2026Q3.csv", ("34", None, "change", "2026Q3")),
        ("maps/unserved_share_34_2026Q3.png", ("34", None, "unserved_share", "2026Q3")),
        ("cells/gap_cells_2026Q3_res6.parquet", (None, None, "gap_cells_res6", "2026Q3")),
        ("maps/inequality_by_period.png", (None, None, "inequality_by_period", None)),
    ],
)
def test_classify_path(path, expected):
    assert classify_path(path) == expected


def test_catalogue_groups_every_manifest_file_once(built_output):
    cat = load_catalogue(built_output)
    listed = {f["path"] for f in _manifest(built_output)["files"]}
    grouped = [f.path for v in cat.provinces.values() for p in v.values() for f in p.files]
    grouped += [f.path for fs in cat.national.values() for f in fs] + [f.path for f in cat.other]
    assert sorted(grouped) == sorted(listed) == sorted(cat.files)
    assert {c for c, p in cat.provinces["34"].items() if p.files} == set(CODES_34)
    assert cat.summary_periods("34") == [PERIOD] and cat.summary_periods("63") == []


@pytest.mark.parametrize(
    ("entry", "column"),
    [
        ({"path": "../secret.txt", "bytes": 1, "sha256": "0" * 64}, "path"),
        ({"path": "/etc/passwd", "bytes": 1, "sha256": "0" * 64}, "path"),
        ({"path": "a.csv", "bytes": -1, "sha256": "0" * 64}, "bytes"),
        ({"path": "a.csv", "bytes": 1, "sha256": "xyz"}, "sha256"),
    ],
)
def test_bad_manifest_entry_is_named(tmp_path, entry, column):
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [entry]}))
    with pytest.raises(SchemaError) as err:
        load_catalogue(tmp_path)
    assert err.value.row == 1 and err.value.column == column
    assert "manifest.json" in str(err.value)


# --- index and province pages -------------------------------------------------------------------


def test_index_lists_every_province_of_both_versions(shared_client):
    r = shared_client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for version, n in (("34", 34), ("63", 63)):
        rows = re.findall(
            rf'<tr class="province[^"]*" data-version="{version}" data-code="(\d\d)"', html
        )
        assert sorted(rows) == list(province_names(version).index) and len(rows) == n
    assert "Hồ Chí Minh" in html and "Đà Nẵng" in html and "Bà Rịa - Vũng Tàu" in html  # 63 only
    # provinces without files are shown and marked
    assert html.count('class="province no-files"') == (34 - len(CODES_34)) + (63 - 1)
    # a compact table: each province links to its page, where its files are listed
    assert f'href="/files/{CELLS_01}"' not in html
    assert 'href="/provinces/34/01"' in html and "ICT" in html
    assert f'href="/files/{CELLS_01}"' in shared_client.get("/provinces/34/01").text
    assert 'href="/map/34"' in html
    assert "SYNTHETIC" in html  # manifest's sample flag


def test_index_without_manifest_still_lists_all_provinces(tmp_path):
    r = TestClient(create_app(tmp_path)).get("/")
    assert r.status_code == 200
    assert r.text.count('class="province no-files"') == 97


def test_province_page_and_redirects(shared_client):
    r = shared_client.get("/provinces/34/79")
    assert r.status_code == 200 and "Hồ Chí Minh" in r.text
    assert f"/files/downloads/34/79_ho_chi_minh/{PERIOD}_cells.geojson" in r.text
    for alias in ("ho-chi-minh", "Hồ Chí Minh", "79"):
        r = shared_client.get(f"/provinces/34/{alias}", follow_redirects=False)
        assert r.status_code in (200, 308)
        if r.status_code == 308:
            assert r.headers["location"] == "/provinces/34/79"
    assert (
        shared_client.get("/provinces/34/1", follow_redirects=False).headers["location"]
        == "/provinces/34/01"
    )


@pytest.mark.parametrize(
    "url",
    [
        "/provinces/34/99",
        "/provinces/34/atlantis",
        "/provinces/99/01",
        "/map/34?province=99",
        "/map/12",
    ],
)
def test_unknown_province_or_version_is_a_helpful_bilingual_404(shared_client, url):
    r = shared_client.get(url)
    assert r.status_code == 404
    assert "Không có" in r.text and "No " in r.text
    if "provinces/34" in url or "province=" in url:
        assert 'href="/provinces/34/01"' in r.text  # the valid codes, as links


# --- downloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        (CELLS_01, "application/geo+json"),
        (f"tables/summary_34_{PERIOD}.csv", "text/csv; charset=utf-8"),
        (f"maps/unserved_share_34_{PERIOD}.png", "image/png"),
        (f"cells/gap_cells_{PERIOD}_res6.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_download_headers_and_bytes(shared_client, built_output, path, ctype):
    r = shared_client.get("/files/" + path, headers=IDENTITY)
    entry = _entry(built_output, path)
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.content == (built_output / path).read_bytes()
    assert hashlib.sha256(r.content).hexdigest() == entry["sha256"]
    assert r.headers["etag"] == f'"{entry["sha256"]}"'
    assert r.headers["content-length"] == str(entry["bytes"])
    assert r.headers["last-modified"] == formatdate(
        (built_output / path).stat().st_mtime, usegmt=True
    )
    assert "max-age" in r.headers["cache-control"]
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert "content-encoding" not in r.headers


def test_download_name_keeps_the_province(shared_client):
    r = shared_client.get("/files/" + CELLS_01)
    assert (
        r.headers["content-disposition"]
        == f'attachment; filename="34_01_ha_noi_{PERIOD}_cells.geojson"'
    )


def test_every_listed_file_downloads_with_its_manifest_digest(shared_client, built_output):
    for entry in _manifest(built_output)["files"]:
        r = shared_client.get("/files/" + entry["path"])
        assert r.status_code == 200, entry["path"]
        assert hashlib.sha256(r.content).hexdigest() == entry["sha256"]
        assert r.headers["content-type"].startswith(media_type(entry["path"]).split(";")[0])


def test_head_sends_headers_without_body(shared_client, built_output):
    r = shared_client.head("/files/" + CELLS_01, headers=IDENTITY)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(_entry(built_output, CELLS_01)["bytes"])
    assert r.headers["content-type"] == "application/geo+json"
    assert shared_client.head("/").status_code == 200
    assert shared_client.head("/files/nope.csv").status_code == 404


def test_revalidation_gives_304(shared_client):
    url = "/files/" + CELLS_01
    first = shared_client.get(url, headers=IDENTITY)
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    def status(**headers: str) -> int:
        return shared_client.get(
            url, headers={k.replace("_", "-"): v for k, v in headers.items()}
        ).status_code

    for inm in (etag, "W/" + etag, f'"abc", {etag}', "*"):
        r = shared_client.get(url, headers={"If-None-Match": inm})
        assert r.status_code == 304 and r.content == b"", inm
        assert r.headers["etag"] == etag
    assert status(If_None_Match='"other"') == 200
    assert status(If_Modified_Since=modified) == 304
    assert status(If_Modified_Since=formatdate(0, usegmt=True)) == 200
    assert status(If_Modified_Since="garbage") == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    assert status(If_None_Match='"other"', If_Modified_Since=modified) == 200


def test_gzip_when_accepted(shared_client, built_output):
    raw = (built_output / CELLS_01).read_bytes()
    r = shared_client.get("/files/" + CELLS_01, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in r.headers["vary"].lower()
    assert r.content == raw  # httpx decodes
    assert r.headers["etag"].startswith('W/"')  # the gzipped bytes are not the sha256's bytes
    assert int(r.headers["content-length"]) < len(raw)
    png = shared_client.get(
        f"/files/maps/unserved_share_34_{PERIOD}.png", headers={"Accept-Encoding": "gzip"}
    )
    assert "content-encoding" not in png.headers
    page = shared_client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"


def test_gzip_body_is_valid_gzip(built_output):
    status, headers, body = asgi_request(
        create_app(built_output), "/files/" + CELLS_01, headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (built_output / CELLS_01).read_bytes()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
@pytest.mark.parametrize("url", ["/", "/files/" + CELLS_01, "/no/such/route", "/static/map.js"])
def test_only_get_and_head(shared_client, method, url):
    r = shared_client.request(method, url)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


# --- refusing what is not listed ----------------------------------------------------------------


TRAVERSALS = [
    "/files/../secret.txt",
    "/files/../../secret.txt",
    "/files/downloads/../../secret.txt",
    "/files/./../secret.txt",
    "/files/..\\secret.txt",
    "/files//etc/passwd",
    "/files/etc/passwd",
    "/files/manifest.json",
    "/files/downloads",
    "/files/downloads/",
    "/files/downloads/34/",
    "/files/",
    "/files/" + CELLS_01 + "/",
    "/files/" + CELLS_01 + "\x00",
    "/static/",
    "/static/vendor/leaflet/",
    "/static/../app.py",
    "/static/../../secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_and_listing_are_refused(output_dir, path):
    (output_dir.parent / "secret.txt").write_text("TOP SECRET")
    status, _, body = asgi_request(create_app(output_dir), path)
    assert status == 404
    assert b"TOP SECRET" not in body and b"import" not in body


@pytest.mark.parametrize(
    "url",
    [
        "/files/%2e%2e%2fsecret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/..%2fsecret.txt",
        "/files/%2fetc%2fpasswd",
    ],
)
def test_encoded_traversal_is_refused(output_dir, url):
    (output_dir.parent / "secret.txt").write_text("TOP SECRET")
    r = TestClient(create_app(output_dir)).get(url)
    assert r.status_code == 404 and "TOP SECRET" not in r.text


def test_absolute_path_is_refused(output_dir):
    secret = output_dir.parent / "secret.txt"
    secret.write_text("TOP SECRET")
    status, _, body = asgi_request(create_app(output_dir), "/files/" + str(secret))
    assert status == 404 and b"TOP SECRET" not in body


def test_symlink_pointing_outside_is_refused(output_dir):
    secret = output_dir.parent / "secret.txt"
    secret.write_text("TOP SECRET")
    (output_dir / "tables" / "leak.csv").symlink_to(secret)
    client = TestClient(create_app(output_dir))
    r = client.get("/files/tables/leak.csv")
    assert r.status_code == 404 and "TOP SECRET" not in r.text  # not in the manifest
    build_manifest(output_dir)  # a manifest that (wrongly) lists the symlink
    assert "tables/leak.csv" in {f["path"] for f in _manifest(output_dir)["files"]}
    r = client.get("/files/tables/leak.csv")
    assert r.status_code == 404 and "TOP SECRET" not in r.text  # resolved outside: refused


def test_absurd_path_lengths(shared_client):
    for n in (300, 5_000, 60_000):  # httpx refuses URLs over 65,536 characters
        r = shared_client.get("/files/" + "a/" * (n // 2))
        assert r.status_code == 404
        assert len(r.content) < 5_000  # the echoed path is truncated
    status, _, _ = asgi_request(create_app(Path("/nonexistent")), "/files/" + "x" * 1_000_000)
    assert status == 404


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rel=st.one_of(
        st.text(alphabet=st.sampled_from("./\\%~ax0_:\x00é"), max_size=40),
        st.sampled_from([CELLS_01, "../" + CELLS_01, CELLS_01.upper(), "./" + CELLS_01]),
    )
)
def test_only_listed_paths_are_ever_served(built_output, rel):
    listed = {f["path"] for f in _manifest(built_output)["files"]}
    status, _, _ = asgi_request(_hypothesis_app(built_output), "/files/" + rel)
    assert status == (200 if rel in listed else 404)


_APPS: dict[Path, object] = {}


def _hypothesis_app(root: Path):
    return _APPS.setdefault(root, create_app(root))


# --- refresh: manifest reloaded, files checked against it ---------------------------------------


def test_manifest_change_is_picked_up_at_once(output_dir, client):
    assert client.get("/files/" + CELLS_01).status_code == 200
    doc = _manifest(output_dir)
    doc["files"] = [f for f in doc["files"] if f["path"] != CELLS_01]
    tmp = output_dir / ".manifest.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, output_dir / "manifest.json")  # as the refresh does
    assert client.get("/files/" + CELLS_01).status_code == 404
    assert f"/files/{CELLS_01}" not in client.get("/provinces/34/01").text


def test_file_changed_under_the_manifest_gives_503(output_dir, client):
    target = output_dir / CELLS_01
    target.write_bytes(target.read_bytes() + b"\n")  # new size
    r = client.get("/files/" + CELLS_01)
    assert r.status_code == 503 and r.headers["retry-after"].isdigit()
    assert "cập nhật" in r.text and "refreshed" in r.text


def test_same_size_different_bytes_gives_503(output_dir, client):
    target = output_dir / CELLS_01
    data = bytearray(target.read_bytes())
    data[-2] = ord(" ") if data[-2] != ord(" ") else ord("\t")
    target.write_bytes(bytes(data))
    assert client.get("/files/" + CELLS_01).status_code == 503


def test_listed_file_missing_on_disk_gives_503(output_dir, client):
    (output_dir / CELLS_01).unlink()
    assert client.get("/files/" + CELLS_01).status_code == 503


def test_unreadable_manifest_gives_503(output_dir, client):
    (output_dir / "manifest.json").write_text("{not json")
    for url in ("/", "/files/" + CELLS_01, "/map/34"):
        r = client.get(url)
        assert r.status_code == 503 and "Retry-After" in r.headers and "manifest" in r.text


def test_manifest_route(shared_client, built_output):
    r = shared_client.get("/manifest.json")
    assert r.status_code == 200 and r.json() == _manifest(built_output)
    again = shared_client.get("/manifest.json", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


# --- map page and static files ------------------------------------------------------------------


def _map_config(html: str) -> dict:
    return json.loads(re.search(r'id="map-config">(.*?)</script>', html, re.S)[1])


def test_map_page_is_self_contained(shared_client):
    r = shared_client.get("/map/34")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert not re.search(r'(src|href)="(https?:)?//', r.text)  # nothing from elsewhere
    config = _map_config(r.text)
    assert config["summary_url"] == f"/files/geojson/provinces_34_{PERIOD}.geojson"
    assert sorted(config["cells"]) == sorted(CODES_34) and config["period"] == PERIOD
    for url in [
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/map.js",
    ]:
        assert url in r.text and shared_client.get(url).status_code == 200
    assert shared_client.get("/static/vendor/leaflet/images/layers.png").status_code == 200
    assert shared_client.get("/map", follow_redirects=False).headers["location"] == "/map/34"


def test_map_page_options(shared_client):
    assert _map_config(shared_client.get("/map/34?province=ha-noi").text)["province"] == "01"
    assert shared_client.get(f"/map/34?period={PERIOD}").status_code == 200
    r = shared_client.get("/map/34?period=1999Q1")
    assert r.status_code == 404 and PERIOD in r.text
    r = shared_client.get("/map/63")  # no summary file for 63 in the fixture: page says so
    assert r.status_code == 200 and "No province summary file" in r.text


def test_vendored_leaflet_is_complete():
    vendor = STATIC_DIR / "vendor" / "leaflet"
    assert "Leaflet 1.9.4" in (vendor / "leaflet.js").read_text()[:300]
    assert "Redistribution and use" in (vendor / "LICENSE").read_text()  # BSD-2-Clause
    css = (vendor / "leaflet.css").read_text()
    for image in re.findall(r"url\(images/([^)]+)\)", css):
        assert (vendor / "images" / image).is_file()
    assert "http" not in (STATIC_DIR / "map.js").read_text()  # no URL elsewhere


def test_cell_colours_match_the_static_maps():
    from geodata.publishing.maps import CLASS_COLOURS

    js = (STATIC_DIR / "map.js").read_text()
    block = re.search(r"const CLASS_COLOURS = \{(.*?)\};", js, re.S)[1]
    assert dict(re.findall(r'(\w+): "(#[0-9a-f]{6})"', block)) == CLASS_COLOURS


def test_etag_matches():
    assert etag_matches('"a"', '"a"') and etag_matches('W/"a"', '"a"') and etag_matches("*", '"a"')
    assert etag_matches('"b", W/"a"', '"a"') and not etag_matches('"b"', '"a"')


# --- command line ---------------------------------------------------------------------------------


def test_settings_from_environment(tmp_path):
    out, host, port = env_settings({"GAP_MONITOR_OUTPUT_DIR": str(tmp_path)})
    assert (out, host, port) == (tmp_path, DEFAULT_HOST, DEFAULT_PORT)
    env = {
        "GAP_MONITOR_OUTPUT_DIR": str(tmp_path),
        "GAP_MONITOR_HOST": "0.0.0.0",
        "GAP_MONITOR_PORT": "9001",
    }
    assert env_settings(env) == (tmp_path, "0.0.0.0", 9001)
    with pytest.raises(SystemExit, match="GAP_MONITOR_PORT"):
        env_settings({"GAP_MONITOR_OUTPUT_DIR": str(tmp_path), "GAP_MONITOR_PORT": "http"})
    with pytest.raises(SystemExit, match="not a directory"):
        env_settings({"GAP_MONITOR_OUTPUT_DIR": str(tmp_path / "missing")})


@pytest.mark.parametrize("path", ["/", "/map/34", "/map/63", "/provinces/34/01"])
def test_every_page_says_synthetic_when_the_outputs_are_sample_data(shared_client, path):
    page = shared_client.get(path)
    assert page.status_code == 200
    assert "SYNTHETIC sample data" in page.text


def test_interrupted_download_resumes_with_206(shared_client, built_output):
    """Range requests: the right bytes, 206 with Content-Range; 416 past the end; If-Range with
    another ETag, and several ranges, get the whole file."""
    url = "/files/" + CELLS_01
    body = (built_output / CELLS_01).read_bytes()
    size = len(body)
    whole = shared_client.get(url, headers=IDENTITY)
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    for spec, (a, b) in {
        "bytes=0-99": (0, 99),
        "bytes=100-": (100, size - 1),
        "bytes=-50": (size - 50, size - 1),
        f"bytes=10-{size + 500}": (10, size - 1),
    }.items():
        r = shared_client.get(url, headers={**IDENTITY, "Range": spec})
        assert r.status_code == 206, spec
        assert r.content == body[a : b + 1], spec
        assert r.headers["content-range"] == f"bytes {a}-{b}/{size}"
        assert r.headers["content-length"] == str(b - a + 1)
    # a resumed download put together from two parts is the file
    first = shared_client.get(url, headers={**IDENTITY, "Range": "bytes=0-1000"}).content
    rest = shared_client.get(url, headers={**IDENTITY, "Range": "bytes=1001-", "If-Range": etag})
    assert rest.status_code == 206 and first + rest.content == body
    gone = shared_client.get(url, headers={**IDENTITY, "Range": f"bytes={size}-"})
    assert gone.status_code == 416 and gone.headers["content-range"] == f"bytes */{size}"
    changed = shared_client.get(url, headers={**IDENTITY, "Range": "bytes=0-9", "If-Range": '"x"'})
    assert changed.status_code == 200 and changed.content == body
    several = shared_client.get(url, headers={**IDENTITY, "Range": "bytes=0-9,20-29"})
    assert several.status_code == 200 and several.content == body
    head = shared_client.head(url, headers={**IDENTITY, "Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10"
    # gzip is never applied to a part
    part = shared_client.get(url, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-999"})
    assert part.status_code == 206 and "content-encoding" not in part.headers


def test_map_offers_the_investment_plans_of_its_quarter(output_dir):
    """The plan layers (planned sites, planned fibre) are offered on the map when published."""
    import geopandas as gpd
    import shapely

    from geodata.publishing.outputs import build_manifest
    from geodata.writers.geojson import write_geojson

    assert _map_config(TestClient(create_app(output_dir)).get("/map/34").text)["plans"] == {
        "mobile_sites": None,
        "fixed_routes": None,
    }
    pri = output_dir / "priorities"
    pri.mkdir(exist_ok=True)
    sites = gpd.GeoDataFrame(
        {"rank": [1], "place": ["Mê Linh"], "people_new": [61149.2]},
        geometry=[shapely.Point(105.73, 21.17)],
        crs=4326,
    )
    routes = gpd.GeoDataFrame(
        {"rank": [1], "place": ["Hưng Hà"], "km": [1.2]},
        geometry=[shapely.LineString([(106.2, 20.6), (106.21, 20.61)])],
        crs=4326,
    )
    write_geojson(sites, pri / f"mobile_sites_{PERIOD}.geojson")
    write_geojson(routes, pri / f"fixed_routes_{PERIOD}.geojson")
    build_manifest(output_dir)
    client = TestClient(create_app(output_dir))
    plans = _map_config(client.get("/map/34").text)["plans"]
    assert plans == {
        "mobile_sites": f"/files/priorities/mobile_sites_{PERIOD}.geojson",
        "fixed_routes": f"/files/priorities/fixed_routes_{PERIOD}.geojson",
    }
    got = client.get(plans["mobile_sites"]).json()
    assert got["features"][0]["properties"]["place"] == "Mê Linh"
    js = client.get("/static/map.js").text
    assert "Planned mobile sites" in js and "Planned fibre" in js


def test_share_classes_are_sextiles_of_the_provinces_and_the_legend_folds():
    """The map's classes spread the provinces (sextiles, stated in the legend); the legend is a
    <details> closed on a phone; a cell's popup says which of fixed or mobile decides its class."""
    import shutil
    import subprocess

    import numpy as np

    js = (Path(__file__).resolve().parents[2] / "portal" / "static" / "map.js").read_text()
    assert "classes: sextiles of the provinces" in js
    assert 'create("details", "legend")' in js and "max-width: 48rem" in js
    assert "the better of the two" in js and "Fixed class" in js and "Mobile class" in js
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: the quantile function is not run")
    fn = re.search(r"function quantileBreaks\(values\) \{.*?\n  \}", js, re.S)[0]
    shares = [round(0.01 * i, 2) for i in range(34)]  # 34 provinces, 0 % .. 33 %
    out = subprocess.run(
        [node, "-e", fn + f"; console.log(JSON.stringify(quantileBreaks({shares})))"],
        capture_output=True,
        text=True,
        check=True,
    )
    breaks = json.loads(out.stdout)
    assert len(breaks) == 5 and breaks == sorted(breaks)
    counts = np.histogram(shares, bins=[-1, *breaks, 2])[0]
    assert counts.min() >= 5 and counts.max() <= 7  # about 34 / 6 provinces per class


def test_province_page_opens_with_its_figures(output_dir):
    """Headline figures from the published summary table: people and share unserved, rank
    among provinces, no previous quarter yet; the plan's first rows and map when published."""
    import pandas as pd

    from geodata.publishing.outputs import build_manifest

    tables = output_dir / "tables"
    summary = pd.read_csv(tables / f"summary_34_{PERIOD}.csv", dtype={"code": str})
    if "rank" not in summary:  # the fixture's table is small: rank it as the pipeline does
        summary["rank"] = summary["share_unserved"].rank(ascending=False, method="first")
        summary.to_csv(tables / f"summary_34_{PERIOD}.csv", index=False)
    row = summary.loc[summary["code"] == "01"].iloc[0]
    folder = output_dir / "downloads/34/01_ha_noi"
    pd.DataFrame(
        {"rank": [3, 9], "place": ["Mê Linh", "Sóc Sơn"], "people_new": [61149.2, 4000.0],
         "cost": [100000.0, 100000.0]}
    ).to_csv(folder / f"{PERIOD}_mobile_sites.csv", index=False)  # fmt: skip
    (folder / f"{PERIOD}_plan.png").write_bytes(
        (output_dir / f"maps/unserved_share_34_{PERIOD}.png").read_bytes()
    )
    build_manifest(output_dir)
    html = TestClient(create_app(output_dir)).get("/provinces/34/01").text
    head = html[html.index('<section class="headline"') : html.index("</section>")]
    assert f"{row['people_unserved']:,.0f}".replace(",", "\u202f") in head
    assert f"{100 * row['share_unserved']:.1f} %" in head
    assert f">{int(row['rank'])} / " in head
    assert "no previous quarter" in head
    assert "Mê Linh" in head and "61\u202f149" in head
    assert f'src="/files/downloads/34/01_ha_noi/{PERIOD}_plan.png"' in head
