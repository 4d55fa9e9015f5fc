"""``/provinces/{version}/{code}/{quarter}.pdf``: the printable sheet, from manifest-listed
files, cached on disk (or in memory), bilingual 404s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import portal.sheets
from geodata.publishing.generations import PORTAL_CACHE_ENV
from portal.app import create_app
from tests.geodata.test_sheets import pdf_text
from tests.portal.conftest import PERIOD

URL = f"/provinces/34/79/{PERIOD}.pdf"


@pytest.fixture
def client(output_dir: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv(PORTAL_CACHE_ENV, raising=False)
    return TestClient(create_app(output_dir))


def test_sheet_is_a_pdf_and_cached(
    client: TestClient, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = time.perf_counter()
    first = client.get(URL)
    cold = time.perf_counter() - start
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/pdf"
    assert first.headers["content-disposition"].startswith("inline; filename=")
    assert f"{PERIOD}.pdf" in first.headers["content-disposition"]
    assert first.content.startswith(b"%PDF")
    cached = list((output_dir / ".portal_cache" / "sheets").glob("*.pdf"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.content

    def no_render(*args, **kwargs):  # the second request must not render again
        raise AssertionError("rendered twice")

    monkeypatch.setattr(portal.sheets, "render_sheet", no_render)
    start = time.perf_counter()
    second = client.get(URL)
    warm = time.perf_counter() - start
    assert second.status_code == 200 and second.content == first.content
    assert warm < cold
    # a new app (a restarted portal) reads the disk cache too
    again = TestClient(create_app(output_dir)).get(URL)
    assert again.content == first.content
    etag = first.headers["etag"]
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304


def test_sheet_text(client: TestClient) -> None:
    text = pdf_text(client.get(URL).content)
    assert "Đà Nẵng" in text or "Hồ Chí Minh" in text
    assert "SYNTHETIC SAMPLE DATA" in text  # the fixture's manifest and provenance say sample
    assert "Người dân chưa được phục vụ / People unserved" in text
    assert f"tables/summary_34_{PERIOD}.csv" in text
    assert "CC BY-SA 4.0" in text


def test_coarse_cells_province(client: TestClient) -> None:
    response = client.get(f"/provinces/34/48/{PERIOD}.pdf")  # Đà Nẵng: aggregated cells
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "Đà Nẵng" in text
    assert "Quần đảo Hoàng Sa" in text
    assert "Share of people unserved (%)" in text


def test_unknown_quarter_and_province_are_bilingual_404(client: TestClient) -> None:
    for url in (
        "/provinces/34/79/2030Q1.pdf",
        "/provinces/34/79/latest.pdf",
        "/provinces/63/01/2026Q3.pdf",  # no cells published for it
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Không có bản in" in response.text and "No printable sheet" in response.text
    response = client.get(f"/provinces/34/99/{PERIOD}.pdf")
    assert response.status_code == 404
    assert "Không có tỉnh" in response.text and "No province" in response.text
    assert client.get(f"/provinces/12/79/{PERIOD}.pdf").status_code == 404


def test_name_or_unpadded_code_redirects(client: TestClient) -> None:
    response = client.get(f"/provinces/34/1/{PERIOD}.pdf", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == f"/provinces/34/01/{PERIOD}.pdf"


def test_file_differing_from_manifest_is_503(client: TestClient, output_dir: Path) -> None:
    cells = next((output_dir / "downloads" / "34").glob(f"79_*/{PERIOD}_cells.geojson"))
    data = cells.read_bytes()
    cells.write_bytes(data.replace(b'"served"', b'"SERVED"', 1))
    response = client.get(URL)
    assert response.status_code == 503
    assert "Retry-After" in response.headers


def test_unwritable_cache_falls_back_to_memory(
    output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv(PORTAL_CACHE_ENV, str(blocker / "cache"))
    client = TestClient(create_app(output_dir))
    first = client.get(URL)
    assert first.status_code == 200
    monkeypatch.setattr(portal.sheets, "render_sheet", lambda *a, **k: pytest.fail("rendered"))
    assert client.get(URL).content == first.content
    assert not (output_dir / ".portal_cache").exists()


def test_cache_directory_from_environment(
    output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORTAL_CACHE_ENV, str(tmp_path / "sheets-cache"))
    assert TestClient(create_app(output_dir)).get(URL).status_code == 200
    assert list((tmp_path / "sheets-cache" / "sheets").glob("*.pdf"))


def test_province_page_links_the_sheets(client: TestClient) -> None:
    html = client.get("/provinces/34/79").text
    assert f'href="/provinces/34/79/{PERIOD}.pdf"' in html
    assert "Bản in A4 (PDF)" in html and "Printable A4 sheet" in html
    assert ".pdf" not in client.get("/provinces/63/01").text  # no cells, no sheet
