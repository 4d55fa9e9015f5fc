"""The index page: one compact row per province with its folded name for the search box."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from geodata.reference import fold_name, province_names
from portal.app import create_app
from tests.portal.conftest import CODES_34, SHARES


@pytest.fixture(scope="module")
def page(built_output) -> str:
    return TestClient(create_app(built_output)).get("/").text


def _rows(page: str) -> dict[tuple[str, str], str]:
    """``{(version, code): row html}``."""
    found = re.findall(
        r'(<tr class="province[^"]*" data-version="(\d\d)" data-code="(\d\d)".*?</tr>)',
        page,
        flags=re.S,
    )
    return {(v, c): row for row, v, c in found}


def _search(row: str) -> str:
    return re.search(r'data-search="([^"]*)"', row).group(1)


def test_every_row_carries_its_folded_name_and_code(page):
    rows = _rows(page)
    for version in ("34", "63"):
        names = province_names(version)
        assert sorted(c for v, c in rows if v == version) == sorted(names.index)
        for code, name in names["name"].items():
            assert fold_name(name) in _search(rows[(version, code)]).split()
            assert code in _search(rows[(version, code)]).split()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("cao bang", "04"),
        ("Cao Bằng", "04"),
        ("CAO BẰNG", "04"),
        ("ho chi minh", "79"),
        ("Thành phố Hồ Chí Minh", "79"),
        ("TP. Hồ Chí Minh", "79"),
        ("Đà Nẵng", "48"),
        ("da nang", "48"),
        ("ĐÀ NẴNG", "48"),
        ("dak lak", "66"),
    ],
)
def test_queries_fold_to_a_part_of_the_row(page, query, code):
    """What search.js does (folded query within data-search), server side: đ/Đ become d."""
    rows = _rows(page)
    q = fold_name(query)
    hits = sorted(c for (v, c), row in rows.items() if v == "34" and q in _search(row))
    assert hits == [code], (query, q, hits)


def test_fold_name_handles_the_d_with_stroke():
    assert fold_name("Đắk Lắk") == fold_name("dak lak") == "daklak"
    assert fold_name("ĐÀ NẴNG") == "danang"


def test_rows_show_latest_figures_and_link_to_the_province_page(page):
    rows = _rows(page)
    for code in CODES_34:
        row = rows[("34", code)]
        assert f'href="/provinces/34/{code}"' in row
        assert f"{100 * SHARES[code]:.1f} %" in row
        assert "/files/" not in row
    assert "—" in rows[("34", "04")]  # no figures for a province without a summary row
    assert "2026Q3" in page


def test_index_is_compact_and_works_without_javascript(page):
    assert len(page) < 60_000
    assert 'id="province-search"' in page and "search.js" in page
    assert re.search(r'<form class="search"[^>]* hidden', page)  # shown by the script only
    # 34 provinces open, 63 folded; the rest folded too
    assert re.search(r'<details class="version" id="v34"[^>]* open>', page)
    assert re.search(r'<details class="version" id="v63"[^>]*>', page)
    assert not re.search(r'<details class="version" id="v63"[^>]* open', page)
