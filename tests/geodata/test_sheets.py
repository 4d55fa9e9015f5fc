"""The printable A4 province sheet: one A4 page, embedded DejaVu fonts, Vietnamese and English
text, the sample banner only for sample data, the archipelagos' panel for Khánh Hòa."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geodata.publishing.outputs import cells_geodataframe
from geodata.publishing.sheets import province_sheet_pdf
from geodata.reference import ATTRIBUTION, load_provinces

WHEN = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)


def _poppler(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/bin/{tool}" if Path(f"/usr/bin/{tool}").exists() else None)
    if path is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed: cannot inspect the PDF")
    return path


def pdf_text(pdf: bytes) -> str:
    """The PDF's text (pdftotext), whitespace collapsed."""
    out = subprocess.run(
        [_poppler("pdftotext"), "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return " ".join(out.split())


def pdf_fonts(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    """Rows of ``pdffonts``: name, type..., emb, sub, uni, object id."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        [_poppler("pdffonts"), str(path)], capture_output=True, check=True, text=True
    ).stdout
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def pdf_png(pdf: bytes) -> Image.Image:
    """The first page at 50 dpi (pdftoppm)."""
    png = subprocess.run(
        [_poppler("pdftoppm"), "-r", "50", "-png", "-singlefile", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def _cells(code: str, *, coarse: bool = False):
    geom = load_provinces("34", simplified=True).loc[code, "geometry"]
    cells = sorted(h3.geo_to_cells(geom.__geo_interface__, 6))
    ints = np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64)
    table = pd.DataFrame({"cell": ints, "population": np.linspace(100.0, 5000.0, len(ints))})
    if coarse:
        table["share_unserved"] = np.linspace(0, 0.6, len(ints))
        table["people_unserved"] = table["population"] * table["share_unserved"]
    else:
        classes = np.array(["served", "underserved", "unserved", "no_data"])
        table["service_class"] = classes[np.arange(len(ints)) % 4]
    return cells_geodataframe(table).drop(columns="cell")


def _row(code: str, name: str, unserved: float, rank: int) -> dict[str, object]:
    pop = 1_900_000.0
    return {
        "code": code,
        "name": name,
        "population": pop,
        "people_unserved": pop * unserved,
        "share_unserved": unserved,
        "people_underserved": pop * 0.2,
        "share_underserved": 0.2,
        "people_served": pop * (0.8 - unserved),
        "share_served": 0.8 - unserved,
        "share_no_data": 0.0,
        "rank": rank,
        "share_coverage_4g_plus": 0.69,
        "share_coverage_5g": 0.12,
        "fixed_d_mbps": 199.2,
        "mobile_d_mbps": 67.5,
    }


PROVENANCE = {
    "sample": True,
    "sample_note": "SYNTHETIC sample inputs (geodata.sample), not measurements",
    "period": "2026Q3",
    "boundary_version": "34",
    "h3_resolution": 6,
    "licence": "CC BY-SA 4.0",
    "attribution": ATTRIBUTION,
    "inputs_sha256": {
        "speed_tiles/a.parquet": "a" * 64,
        **{f"adoption/sample_{i:02d}.csv": f"{i:02d}" * 32 for i in range(6)},
    },
    "thresholds": {"name": "NTIA BEAD 2022 (fixed) + FCC mobile 5G/4G speed tiers"},
}


def _sheet(code: str = "56", name: str = "Khánh Hòa", sample: bool = True, **kw) -> bytes:
    args = {
        "code": code,
        "version": "34",
        "quarter": "2026Q3",
        "summary": _row(code, name, 0.217, 24),
        "previous": _row(code, name, 0.221, 24),
        "previous_quarter": "2026Q2",
        "n_provinces": 34,
        "cells": _cells(code),
        "provinces": load_provinces("34", simplified=True),
        "provenance": {**PROVENANCE, "sample": sample},
        "sites": pd.DataFrame(
            {
                "rank": [146, 279, 283, 292, 313, 400],
                "place": ["Cam Lâm", "Diên Khánh", "Diên Khánh", "Cam Ranh", "Ninh Hòa", "X"],
                "people_new": [23841.3, 17796.3, 17552.9, 17207.4, 16623.0, 1.0],
                "cost": [100000.0] * 6,
            }
        ),
        "targets": [
            {
                "indicator": "mobile_download_4g_mbps",
                "value": "73.5",
                "target": "40",
                "target_year": "2025",
                "status": "met",
            },
            {
                "indicator": "population_5g_coverage_pct",
                "value": "0.0",
                "target": "99",
                "target_year": "2030",
                "status": "off track",
            },
        ],  # fmt: skip
        "sources": [("downloads/34/56_khanh-hoa/2026Q3_cells.geojson", "e" * 64)],
        "generated_at": WHEN,
    }
    args.update(kw)
    return province_sheet_pdf(**args)


@pytest.fixture(scope="module")
def khanh_hoa() -> bytes:
    return _sheet()


def test_one_a4_page_not_blank(khanh_hoa: bytes) -> None:
    assert khanh_hoa.startswith(b"%PDF")
    assert khanh_hoa.count(b"/Type /Page\n") + khanh_hoa.count(b"/Type /Page ") <= 1
    img = pdf_png(khanh_hoa)
    w, h = img.size
    assert abs(h / w - 297 / 210) < 0.02, img.size
    pixels = np.asarray(img)
    assert (pixels.min(axis=2) < 200).mean() > 0.05  # ink on the page
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.mean() > 0.01  # the sample banner and the unserved cells


def test_fonts_are_embedded_dejavu(khanh_hoa: bytes, tmp_path: Path) -> None:
    rows = pdf_fonts(khanh_hoa, tmp_path)
    assert rows
    for row in rows:
        name, emb = row[0], row[-4]
        assert "DejaVu" in name, row
        assert emb == "yes", row


def test_text_vietnamese_and_english(khanh_hoa: bytes) -> None:
    text = pdf_text(khanh_hoa)
    for expected in (
        "Khánh Hòa",
        "Quý 2026Q3",
        "Người dân chưa được phục vụ / People unserved",
        "Số liệu chính / Headline figures",
        "Mục tiêu hạ tầng số / Digital-infrastructure targets",
        "Trạm di động ưu tiên",
        "First mobile sites",
        "DỮ LIỆU MẪU TỔNG HỢP / SYNTHETIC SAMPLE DATA",
        "Quần đảo Trường Sa",
        "Quần đảo Hoàng Sa",
        "The province's archipelagos",
        "CC BY-SA 4.0",
        "WorldPop 2020 CC BY 4.0",
        "Open Development Vietnam",
        "Generated at 2026-10-01 08:30 UTC",
        "Cam Lâm",
        "Đã đạt / met",
        "Chậm lộ trình / off track",
        "NTIA BEAD 2022",
        "2026Q3_cells.geojson eeeeeeeeeeee",
        "21.7 %",
    ):
        assert expected in text, expected
    assert "Ninh Hòa" in text and " X " not in text  # the first five sites only


def test_not_sample_has_no_banner_and_share_legend_in_percent() -> None:
    pdf = _sheet("79", "Hồ Chí Minh", sample=False, cells=_cells("79", coarse=True),
                 targets=None, sites=None)  # fmt: skip
    text = pdf_text(pdf)
    assert "Hồ Chí Minh" in text
    assert "SYNTHETIC" not in text and "MẪU" not in text
    assert "Share of people unserved (%)" in text
    assert "60%" in text or "40%" in text  # the colour bar reads in %
    # no archipelagos of its own: a locator map instead, which names both
    assert "The province's archipelagos" not in text
    assert "Location in Vietnam" in text and "Quần đảo Trường Sa" in text
    assert "No site planned" in text


def test_deterministic_and_quick() -> None:
    cells = _cells("01")
    start = time.perf_counter()
    a = _sheet("01", "Hà Nội", cells=cells)
    elapsed = time.perf_counter() - start
    assert a == _sheet("01", "Hà Nội", cells=cells)
    assert elapsed < 5.0  # ~0.5-1 s on an idle machine; generous for loaded CI


def test_missing_figures_print_dashes() -> None:
    pdf = _sheet("01", "Hà Nội", summary={"code": "01"}, previous=None, previous_quarter=None,
                 provenance={})  # fmt: skip
    text = pdf_text(pdf)
    assert "Hà Nội" in text
    assert "no previous quarter" in text
    assert "CC BY-SA 4.0" in text
