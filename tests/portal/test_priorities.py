"""The investment priorities the manifest carries appear on the index page, escaped and checked."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx 0.28 works the same here
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from geodata.provenance import atomic_write_bytes
from geodata.publishing.outputs import build_manifest
from portal.app import create_app


def _record(rank: int, code: str = "04", name: str = "Cao Bằng") -> dict:
    return {
        "rank": rank,
        "province_34": code,
        "province_34_name": name,
        "province_63": code,
        "province_63_name": name,
        "region": "Northern Midlands and Mountains",
        "population": 12345.6 / rank,
        "n_cells": 10,
        "area_km2": 8.4,
        "distance_km": 1.5,
        "mean_distance_km": 2.5,
        "people_per_km": 8230.4 / rank,
        "seed_cell": "8865b20801fffff",
    }


def _priorities(top: list) -> dict:
    return {
        "period": "2026Q3",
        "sample": True,
        "kinds": {
            "mobile": {
                "rule": {"description": "gap: populated cell without 4G"},
                "clusters": 25,
                "people": 99999,
                "top": top,
                "files": {"csv": "priorities/mobile_priorities_2026Q3.csv"},
                "change": {
                    "since": "2026Q2",
                    "counts": {"closed": 3, "new": 2},
                    "file": "priorities/mobile_priority_changes_2026Q2_to_2026Q3.csv",
                },
            },
            "bogus": {"top": [_record(1)]},
        },
    }


def _site(tmp_path: Path, priorities: dict) -> TestClient:
    atomic_write_bytes(tmp_path / "priorities" / "mobile_priorities_2026Q3.csv", b"rank\n1\n")
    atomic_write_bytes(
        tmp_path / "downloads" / "34" / "04_cao-bang" / "2026Q3_mobile_priorities.csv", b"r\n"
    )
    build_manifest(tmp_path, extra={"sample": True, "priorities": priorities})
    return TestClient(create_app(tmp_path))


def test_index_shows_the_national_top_and_links_provinces_and_files(tmp_path):
    client = _site(tmp_path, _priorities([_record(r) for r in range(1, 21)]))
    page = client.get("/").text
    assert 'id="priorities"' in page and 'href="#priorities"' in page
    section = page[
        page.index('id="priorities"') : page.index("</section>", page.index('id="priorities"'))
    ]
    assert section.count("<tr data-rank=") == 20
    assert 'href="/provinces/34/04"' in section
    assert "/files/priorities/mobile_priorities_2026Q3.csv" in section
    # the change file is named but not in the manifest: not linked
    assert "priority_changes" not in section
    assert "closed 3" in section and "new 2" in section
    assert "bogus" not in section  # unknown kinds are ignored
    assert "12,346" in section  # people, formatted
    # the province page lists its priorities file with a label
    prov = client.get("/provinces/34/04").text
    assert "investment priorities: clusters without 4G" in prov


def test_hostile_or_broken_priorities_are_escaped_or_ignored(tmp_path):
    evil = _record(1, code="../x", name="<script>alert(1)</script>")
    broken = [evil, "not a dict", {"rank": "one"}, {**_record(2), "population": "many"}]
    client = _site(tmp_path, _priorities(broken))
    page = client.get("/").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'href="/provinces/34/../x"' not in page
    section = page[page.index('id="priorities"') :]
    assert section.count("<tr data-rank=") == 2


def test_no_priorities_no_section(tmp_path):
    build_manifest(tmp_path, extra={"sample": True, "priorities": "junk"})
    page = TestClient(create_app(tmp_path)).get("/").text
    assert 'id="priorities"' not in page
    json.loads(TestClient(create_app(tmp_path)).get("/manifest.json").text)
