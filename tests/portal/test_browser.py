"""The portal in a real browser, offline: headless Chromium against uvicorn on 127.0.0.1.

Every host but 127.0.0.1 is unresolvable (``--host-resolver-rules``), so the map must draw with
the vendored Leaflet and this server's files only. Skipped when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from portal.app import create_app
from tests.portal.conftest import CODES_34, PERIOD

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "headless browser test needs /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(built_output: Path) -> Iterator[str]:
    """uvicorn serving the fixture output directory in a background thread."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(built_output), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless Chromium offline on ``url`` with ``args``; returns its stdout."""
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=5000",
        "--window-size=1280,900",
        *args,
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def index_dom(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return chromium(tmp_path_factory.mktemp("index"), base_url + "/", "--dump-dom")


def _paths(dom: str) -> int:
    return len(re.findall(r'<path class="[^"]*\bleaflet-interactive\b', dom))


def test_index_lists_34_and_63_provinces(index_dom):
    for version, n in (("34", 34), ("63", 63)):
        assert (
            len(re.findall(rf'<tr class="province[^"]*" data-version="{version}"', index_dom)) == n
        )
    assert "Hồ Chí Minh" in index_dom and "Bà Rịa - Vũng Tàu" in index_dom


def test_download_link_from_index_returns_the_file(index_dom, base_url, built_output):
    manifest = {
        f["path"]: f for f in json.loads((built_output / "manifest.json").read_text())["files"]
    }
    links = re.findall(r'href="/files/([^"]+)"', index_dom)
    assert f"downloads/34/01_ha_noi/{PERIOD}_cells.geojson" in links
    for rel in links[:3] + [f"downloads/34/01_ha_noi/{PERIOD}_cells.geojson"]:
        r = httpx.get(f"{base_url}/files/{rel}")
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == manifest[rel]["sha256"]
        assert r.headers["content-disposition"].startswith("attachment")


def test_map_draws_province_polygons_offline(base_url, tmp_path):
    dom = chromium(tmp_path, base_url + "/map/34", "--dump-dom")
    assert 'data-state="ready"' in dom, dom[-3000:]
    assert f'data-provinces="{len(CODES_34)}"' in dom
    assert _paths(dom) >= len(CODES_34)
    assert 'class="legend' in dom


def test_map_loads_the_cells_of_a_province(base_url, built_output, tmp_path):
    dom = chromium(tmp_path, base_url + "/map/34?province=01", "--dump-dom")
    cells = json.loads(
        (built_output / f"downloads/34/01_ha_noi/{PERIOD}_cells.geojson").read_text()
    )
    n = len(cells["features"])
    assert f'data-cells="{n}"' in dom and 'data-cells-code="01"' in dom, dom[-3000:]
    assert _paths(dom) >= len(CODES_34) + n
    assert "Hà Nội (01)" in dom  # the popup with the figures is open


def test_map_screenshot(base_url, tmp_path):
    shot = tmp_path / "map.png"
    chromium(tmp_path, base_url + "/map/34?province=79", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_raw_traversal_over_the_socket(base_url, built_output):
    (built_output.parent / "outside.txt").write_text("TOP SECRET")
    host, port = base_url.removeprefix("http://").split(":")
    for path in ("/files/../outside.txt", "/files/%2e%2e/outside.txt", "/files/..%2Foutside.txt"):
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status in (400, 404), path
        assert b"TOP SECRET" not in body
