"""The portal in a real browser, offline: headless Chromium against uvicorn on 127.0.0.1.

Every host but 127.0.0.1 is unresolvable (``--host-resolver-rules``), so the map must draw with
the vendored Leaflet and this server's files only. Skipped when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


#: Headless and offline: every host but 127.0.0.1 is unresolvable.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless Chromium offline on ``url`` with ``args``; returns its stdout."""
    cmd = [
        str(CHROMIUM),
        *_FLAGS,
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
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


def test_download_link_from_province_page_returns_the_file(base_url, built_output, tmp_path):
    manifest = {
        f["path"]: f for f in json.loads((built_output / "manifest.json").read_text())["files"]
    }
    assert 'href="/provinces/34/01"' in chromium(tmp_path, base_url + "/", "--dump-dom")
    dom = chromium(tmp_path, base_url + "/provinces/34/01", "--dump-dom")
    links = re.findall(r'href="/files/([^"]+)"', dom)
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


# --- a phone, driven over the DevTools protocol ----------------------------------------------------


#: argv[1] on fd 3 and argv[2] on fd 4, then exec argv[3:] (``--remote-debugging-pipe``).
_ON_FDS_3_4 = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def _above(fd: int, low: int) -> int:
    """``fd`` moved to a number ``>= low`` (the old number is closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return moved


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    NUL-separated JSON, commands on fd 3, replies on fd 4), one page emulating a phone."""

    def __init__(self, profile: Path, width: int = 390, height: int = 844) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        # moved above 4, then put on fds 3 and 4 by a tiny Python that execs chromium
        cmd_r, res_w = (_above(fd, 10) for fd in (cmd_r, res_w))
        argv = [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ON_FDS_3_4, str(cmd_r), str(res_w), *argv, "about:blank"],
            pass_fds=(cmd_r, res_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2,
            mobile=True,
        )
        self.call("Emulation.setTouchEmulationEnabled", enabled=True)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 30
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    assert "error" not in reply, (method, reply["error"])
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            assert left > 0, f"no reply to {method}"
            ready, _, _ = select.select([self._res_r], [], [], left)
            if ready:
                chunk = os.read(self._res_r, 1 << 16)
                assert chunk, "chromium closed the pipe"
                self._buf += chunk

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 15) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while not (value := self.js(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)
        return value

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href !== 'about:blank'")

    def type(self, selector: str, text: str) -> None:
        """Clear the field ``selector`` and type ``text`` into it (``input`` events fire)."""
        self.js(
            f"(e => {{ e.focus(); e.select(); }})(document.querySelector({json.dumps(selector)}))"
        )
        self.call("Input.insertText", text=text)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._cmd_w)
        os.close(self._res_r)


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[DevTools]:
    """A 390 x 844 phone (iPhone 12-14 size), offline but for 127.0.0.1."""
    browser = DevTools(tmp_path / "phone-profile")
    yield browser
    browser.close()


#: Horizontal overflow of the page (0 when nothing sticks out to the right).
_OVERFLOW = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - innerWidth"


def test_province_page_and_its_map_on_a_phone(phone, base_url):
    phone.goto(base_url + "/provinces/34/01")
    assert phone.js("innerWidth") == 390
    assert "Hà Nội" in phone.js("document.querySelector('h1.province').innerText")
    head = phone.js(
        "(r => [r.top, r.height, r.width])("
        "document.querySelector('section.headline').getBoundingClientRect())"
    )
    assert head[1] > 0 and 0 < head[2] <= 390
    assert phone.js("document.querySelector('.people-unserved').innerText.trim()") != "—"
    assert phone.js(_OVERFLOW) <= 0
    # its map, from the link on the page
    href = phone.js("document.querySelector('a.button[href^=\"/map/\"]').getAttribute('href')")
    assert href == "/map/34?province=01"
    phone.goto(base_url + href)
    phone.wait("document.getElementById('status').dataset.cellsCode === '01'")
    box = phone.js(
        "(r => [r.top, r.height, r.width])(document.getElementById('map').getBoundingClientRect())"
    )
    assert box[1] >= 250 and box[0] < 844 - 250 and box[2] == 390, box  # most of the screen
    assert phone.js("document.querySelector('details.legend').open") is False
    assert phone.js(_OVERFLOW) <= 0
    # the base layer: roads and towns drawn, both archipelagos named, sources credited
    phone.wait("/^\\d+,\\d+$/.test(document.getElementById('status').dataset.basemap || '')")
    names = phone.js(
        "[...document.querySelectorAll('.archipelago-label')].map(e => e.innerText.replace(/\\s+/g, ' '))"
    )
    assert any("Hoàng Sa" in n for n in names) and any("Trường Sa" in n for n in names), names
    credit = phone.js("document.querySelector('.leaflet-control-attribution').innerText")
    assert "GeoNames" in credit and "LegoCity" in credit and "CC BY-SA 4.0" in credit


def _shown(phone: DevTools) -> list[str]:
    return phone.js(
        "[...document.querySelectorAll('tr.province')].filter(r => r.checkVisibility())"
        ".map(r => r.dataset.version + ':' + r.dataset.code)"
    )


def test_index_search_on_a_phone(phone, base_url):
    phone.goto(base_url + "/")
    assert phone.js("document.querySelector('form.search').hidden") is False
    assert len(_shown(phone)) == 34  # the 63 provinces are folded
    assert phone.js("document.documentElement.scrollHeight") < 4000  # modest on a phone
    assert phone.js(_OVERFLOW) <= 0
    for query, code in (
        ("cao bang", "04"),
        ("Cao Bằng", "04"),
        ("da nang", "48"),
        ("Đà Nẵng", "48"),
        ("ho chi minh", "79"),
        ("TP. Hồ Chí Minh", "79"),
    ):
        phone.type("#province-search", query)
        assert _shown(phone) == [f"34:{code}", f"63:{code}"], query  # the 63 block opened
        assert phone.js(_OVERFLOW) <= 0
    phone.type("#province-search", "zzz")
    assert _shown(phone) == [] and "No province" in phone.js(
        "document.getElementById('search-count').innerText"
    )
    phone.type("#province-search", "")
    assert len(_shown(phone)) == 34 + 63
    # a linked search
    phone.goto(base_url + "/?q=cao+bang")
    assert _shown(phone) == ["34:04", "63:04"]
