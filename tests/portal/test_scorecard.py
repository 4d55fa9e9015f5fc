"""The targets scorecard page and the targets section of a province page.

The fixture is the session's output directory (``conftest.built_output``) plus scorecard files
written here in the published layout (``geodata.publishing.scorecard``'s file names and columns), so the
tests take well under a second each and need no pipeline run.
"""

from __future__ import annotations

import doctest
import json
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx 0.28 works the same here
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

import portal.scorecard
from geodata.indicators.targets import INDICATORS, SCORECARD_COLUMNS, STATUSES, load_targets
from geodata.publishing.outputs import build_manifest
from geodata.reference import load_regions, province_names
from portal.app import create_app
from portal.scorecard import STATUS_LABELS
from tests.portal.conftest import PERIOD, _tiny_png

EARLIER = "2026Q2"
QUARTERS = (EARLIER, PERIOD)
MEASURABLE = list(INDICATORS)
BADGE = re.compile(
    r'<span class="badge status-([a-z-]+)" data-status="([^"]*)">'
    r'<span aria-hidden="true">[^<]*</span> ([^<]+) <span lang="en">/ ([^<]+)</span></span>'
)


def _status(i: int, j: int) -> str:
    return STATUSES[(i + j) % len(STATUSES)]


def _rows(units: list[tuple[str, str, str]], level: str, quarter: str) -> list[dict]:
    targets = load_targets()
    rows = []
    for j, ind in enumerate(MEASURABLE):
        t = targets[(targets["indicator"] == ind) & (targets["measurable"] == "yes")].iloc[0]
        for i, (code, name, name_ascii) in enumerate(units):
            status = _status(i, j)
            value = float(t["target"]) * (0.5 + 0.02 * i) if status != "not measurable" else None
            rows.append(
                {
                    "code": code,
                    "name": name,
                    "indicator": ind,
                    "value": value,
                    "target": float(t["target"]),
                    "target_year": int(t["target_year"]),
                    "status": status,
                    "projected_quarter": "2027Q1" if status in ("on track", "off track") else "",
                    "quarters_used": len(QUARTERS) if quarter == PERIOD else 1,
                    "source": f"{t['decision']}: {t['wording_vi']}",
                    "name_ascii": name_ascii,
                    "level": level,
                    "unit": t["unit"],
                    "gap": None,
                    "trend_per_quarter": 0.5 * (i + 1) if value is not None else None,
                    "first_quarter": QUARTERS[0],
                    "value_first": value,
                    "rank": i + 1,
                    "status_reason": "at this pace the target is reached in 2027Q1"
                    if status == "on track"
                    else "the value reaches the target",
                    "target_id": t["target_id"],
                    "fit": "Theil-Sen",
                    "thresholds": "",
                }
            )
    if level == "nation":
        for _, t in targets[targets["measurable"] == "no"].iterrows():
            rows.append(
                {
                    **rows[0],
                    "indicator": t["indicator"],
                    "value": None,
                    "target": float(t["target"]),
                    "target_year": int(t["target_year"]),
                    "status": "not measurable",
                    "projected_quarter": "",
                    "quarters_used": 0,
                    "status_reason": f"not measurable: {t['not_measurable_because']}",
                    "target_id": t["target_id"],
                    "unit": t["unit"],
                    "trend_per_quarter": None,
                    "rank": None,
                }
            )
    return rows


def _csv(df: pd.DataFrame, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(dest, index=False, encoding="utf-8-sig")


def write_scorecard(root: Path) -> None:
    """The scorecard files of ``geodata.publishing.scorecard`` for two quarters, synthetic values."""
    regions = load_regions()[["region_id", "region_name_vi", "region_name_en"]].drop_duplicates()
    views = {
        v: [(c, r["name"], r["name_ascii"]) for c, r in province_names(v).iterrows()]
        for v in ("34", "63")
    }
    views["region"] = [tuple(r) for r in regions.itertuples(index=False)]
    views["nation"] = [("VN", "Việt Nam", "Viet Nam")]
    for quarter in QUARTERS:
        for view, units in views.items():
            level = {"region": "region", "nation": "nation"}.get(view, "province")
            df = pd.DataFrame(_rows(units, level, quarter), columns=list(SCORECARD_COLUMNS))
            _csv(df, root / "tables" / f"targets_{view}_{quarter}.csv")
    _csv(load_targets(), root / "tables" / "targets_catalogue.csv")
    for version in ("34", "63"):
        card = pd.DataFrame(_rows(views[version], "province", PERIOD))
        card = card[card["trend_per_quarter"].notna()].copy()
        card["change"] = 1.5
        card["rank"] = card.groupby("indicator").cumcount() + 1
        _csv(
            card[
                [
                    "indicator",
                    "rank",
                    "code",
                    "name",
                    "first_quarter",
                    "value_first",
                    "value",
                    "change",
                    "trend_per_quarter",
                    "quarters_used",
                    "status",
                ]
            ],
            root / "tables" / f"targets_most_improved_{version}_{PERIOD}.csv",
        )
        behind = pd.DataFrame(
            {
                "rank": range(1, len(views[version]) + 1),
                "code": [u[0] for u in views[version]],
                "name": [u[1] for u in views[version]],
                "mean_attainment": [0.3 + 0.01 * i for i in range(len(views[version]))],
                "targets_off_track": 2,
                "targets_judged": 4,
            }
        )
        _csv(behind, root / "tables" / f"targets_furthest_behind_{version}_{PERIOD}.csv")
        (root / "maps").mkdir(parents=True, exist_ok=True)
        (root / "maps" / f"targets_status_{version}_{PERIOD}.png").write_bytes(_tiny_png())
        (root / "geojson").mkdir(parents=True, exist_ok=True)
        (root / "geojson" / f"targets_{version}_{PERIOD}.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": []})
        )
    for ind in MEASURABLE:
        (root / "maps" / f"targets_trend_{ind}.png").write_bytes(_tiny_png())


@pytest.fixture(scope="module")
def scorecard_output(built_output: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's output directory with the scorecard files (do not modify it)."""
    root = Path(
        shutil.copytree(built_output, tmp_path_factory.mktemp("scorecard") / "out", symlinks=True)
    )
    write_scorecard(root)
    build_manifest(root, extra={"sample": True})
    return root


@pytest.fixture(scope="module")
def client(scorecard_output: Path) -> TestClient:
    return TestClient(create_app(scorecard_output))


def _section(html: str, ident: str) -> str:
    start = html.index(f'id="{ident}"')
    return html[start : html.index("</section>", start)]


def test_helpers_doctests():
    assert doctest.testmod(portal.scorecard).failed == 0


def test_scorecard_page_is_bilingual_and_defaults_to_34_and_the_latest_quarter(client):
    r = client.get("/scorecard")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert f'data-version="34" data-quarter="{PERIOD}"' in html
    for vi, en in (
        ("Mục tiêu hạ tầng số của Việt Nam", "Vietnam's digital-infrastructure targets"),
        ("Cả nước, quý", "Nation,"),
        ("Sáu vùng kinh tế - xã hội", "The six regions"),
        ("Các tỉnh theo từng mục tiêu", "Provinces ranked per target"),
        ("Tiến bộ nhanh nhất", "Most improved"),
        ("Năm tỉnh xa mục tiêu nhất", "The five furthest behind"),
        ("Mục tiêu không đo được", "Targets that are not measurable"),
        ("Nguồn của từng mục tiêu", "Each target's source"),
    ):
        heading = rf"<h[12]>{re.escape(vi)}[^<]*<span lang=\"en\">/ {re.escape(en)}"
        assert re.search(heading, html), en
    for ind, (_, _, en, vi) in INDICATORS.items():
        assert vi in html and en in html, ind
    assert "Content-Security-Policy" in r.headers
    assert f"/scorecard?version=34&amp;quarter={EARLIER}" in html  # the other quarter
    assert "SYNTHETIC" in html


def test_every_province_of_version_34_is_ranked_on_every_target(client):
    html = client.get("/scorecard").text
    section = _section(html, "provinces")
    codes = list(province_names("34").index)
    for ind in MEASURABLE:
        start = section.index(f'id="t-{ind}"')
        table = section[start : section.index("</details>", start)]
        found = re.findall(r'<tr data-code="(\d\d)"', table)
        assert sorted(found) == codes and len(found) == 34, ind
        assert found[0] == codes[0]  # ranked: rank 1 first (the fixture ranks in code order)
    for code in codes:
        assert f'href="/provinces/34/{code}"' in section


def test_version_63_and_an_earlier_quarter(client):
    html = client.get("/scorecard?version=63").text
    section = _section(html, "provinces")
    first = section[: section.index("</details>")]
    assert sorted(re.findall(r'<tr data-code="(\d\d)"', first)) == list(province_names("63").index)
    assert 'data-version="63"' in html
    r = client.get(f"/scorecard?version=34&quarter={EARLIER}")
    assert r.status_code == 200 and f'data-quarter="{EARLIER}"' in r.text
    assert "the latest quarter is" in r.text  # the banner pointing to the latest
    # most improved / furthest behind / status map are published for the latest quarter only
    assert "published for the latest quarter only" in _section(r.text, "improved")
    assert "status map is published for the latest quarter only" in _section(r.text, "maps")


def test_badges_say_the_status_in_words(client):
    html = client.get("/scorecard").text
    badges = BADGE.findall(html)
    assert len(badges) > 34 * len(MEASURABLE)
    assert html.count('class="badge ') == len(badges)  # every badge has the words
    for css, status, vi, en in badges:
        label_vi, label_en, label_css, _ = STATUS_LABELS[status]
        assert (css, vi, en) == (label_css, label_vi, label_en)
    assert {b[1] for b in badges} == set(STATUSES)


def test_nation_regions_improved_behind_maps_sources_and_downloads(client, scorecard_output):
    html = client.get("/scorecard").text
    nation = _section(html, "nation")
    assert re.findall(r'<tr data-indicator="([a-z0-9_]+)"', nation) == MEASURABLE
    assert "Với tốc độ này, mục tiêu đạt được vào 2027Q1" in nation  # the reason in Vietnamese
    regions = _section(html, "regions")
    assert len(re.findall(r'<tr data-region="', regions)) == 6
    for _, reg in load_regions().drop_duplicates("region_id").iterrows():
        assert f'data-region="{reg["region_id"]}"' in regions
        assert reg["region_name_vi"] in regions and reg["region_name_en"] in regions
    improved = _section(html, "improved")
    assert len(re.findall(r'<tr data-indicator="', improved)) == 5 * len(MEASURABLE)
    behind = _section(html, "behind")
    assert re.findall(r'<tr data-code="(\d\d)"', behind) == list(province_names("34").index[:5])
    assert "30.0 %" in behind
    maps = _section(html, "maps")
    assert f'src="/files/maps/targets_status_34_{PERIOD}.png"' in maps
    for ind in MEASURABLE:
        assert f'src="/files/maps/targets_trend_{ind}.png"' in maps
    targets = load_targets()
    not_measurable = _section(html, "not-measurable")
    for _, t in targets[targets["measurable"] == "no"].iterrows():
        assert f'data-target="{t["target_id"]}"' in not_measurable
    assert "No data on it in the inputs" in not_measurable
    sources = _section(html, "sources")
    for _, t in targets.iterrows():
        assert f'data-target="{t["target_id"]}"' in sources
    assert "36/QĐ-TTg" in sources and 'href="https://' in sources
    assert "tối thiểu 40" in sources  # wording_vi of the 4G target
    downloads = _section(html, "downloads")
    for path in (
        f"tables/targets_34_{PERIOD}.csv",
        f"tables/targets_region_{PERIOD}.csv",
        f"tables/targets_nation_{PERIOD}.csv",
        "tables/targets_catalogue.csv",
        f"geojson/targets_34_{PERIOD}.geojson",
    ):
        assert f'href="/files/{path}"' in downloads, path
    assert client.get(f"/files/tables/targets_34_{PERIOD}.csv").status_code == 200


def test_tables_scroll_on_a_phone(client):
    html = client.get("/scorecard").text
    tables = re.findall(r'(<div class="scroll">\s*)?<table class="targets', html)
    assert tables and all(tables)  # every table in a horizontally scrolling box
    css = client.get("/static/portal.css").text
    assert re.search(r"\.scroll \{[^}]*overflow-x: auto", css)
    assert '<meta name="viewport" content="width=device-width' in html


def test_index_and_pages_link_to_the_scorecard(client):
    for url in ("/", "/provinces/34/01", "/scorecard", "/map/34"):
        assert 'href="/scorecard"' in client.get(url).text, url


def test_province_page_shows_its_targets(client):
    html = client.get("/provinces/34/79").text
    section = _section(html, "targets")
    assert f'data-quarter="{PERIOD}"' in section
    assert "Mục tiêu hạ tầng số, quý" in section and "Digital-infrastructure targets" in section
    assert re.findall(r'<tr data-indicator="([a-z0-9_]+)"', section) == MEASURABLE
    assert len(BADGE.findall(section)) == len(MEASURABLE)
    assert f'href="/scorecard?version=34&amp;quarter={PERIOD}"' in section
    i = list(province_names("34").index).index("79")
    for j, ind in enumerate(MEASURABLE):
        row = section[section.index(f'data-indicator="{ind}"') :]
        assert f'data-status="{_status(i, j)}"' in row[:200]
    assert "/ 34</td>" in section  # rank among the 34 provinces
    assert 'id="targets"' in client.get("/provinces/63/01").text


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/scorecard?version=12", ("Không có hệ ranh giới", "No boundary version")),
        ("/scorecard?version=34&quarter=2019Q1", ("Không có bảng mục tiêu quý", "Available:")),
        ("/scorecard?quarter=junk", ("Không có bảng mục tiêu quý", "No targets scorecard")),
        ("/scorecard?version=63&quarter=2030Q4", ("Không có bảng mục tiêu quý", "Available:")),
    ],
)
def test_unknown_version_or_quarter_is_a_clear_404(client, url, words):
    r = client.get(url)
    assert r.status_code == 404
    for w in words:
        assert w in r.text
    assert "/scorecard?version=" in r.text  # where to go instead


def test_no_scorecard_published_says_so(built_output):
    client = TestClient(create_app(built_output))  # the fixture without scorecard files
    for url in ("/scorecard", "/scorecard?version=63"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "Chưa có bảng mục tiêu nào" in r.text and "No targets scorecard" in r.text
    assert client.get(f"/scorecard?quarter={PERIOD}").status_code == 404
    r = client.get("/provinces/34/01")
    assert r.status_code == 200 and 'id="targets"' not in r.text
    assert 'href="/scorecard"' in client.get("/").text


def test_missing_or_broken_files_do_not_break_the_pages(scorecard_output, tmp_path):
    root = Path(shutil.copytree(scorecard_output, tmp_path / "out", symlinks=True))
    (root / "tables" / f"targets_region_{PERIOD}.csv").unlink()  # listed, gone from disk
    (root / "tables" / f"targets_34_{PERIOD}.csv").write_bytes(b"\x00\xff garbage")  # unreadable
    (root / "tables" / f"targets_nation_{PERIOD}.csv").write_text("code\nVN\n")  # no columns
    (root / "tables" / f"targets_furthest_behind_34_{PERIOD}.csv").unlink()
    (root / "maps" / f"targets_status_34_{PERIOD}.png").unlink()
    client = TestClient(create_app(root))
    r = client.get("/scorecard")
    assert r.status_code == 200
    assert "No region table for this quarter" in r.text
    assert "No nation table for this quarter" in r.text
    assert "No province table for this quarter" in r.text
    assert "This table is not published" in _section(r.text, "behind")
    assert "The status map is not published" in _section(r.text, "maps")
    r = client.get("/provinces/34/01")
    assert r.status_code == 200 and 'id="targets"' not in r.text


def test_hostile_catalogue_is_escaped_and_unsafe_links_dropped(scorecard_output, tmp_path):
    root = Path(shutil.copytree(scorecard_output, tmp_path / "out", symlinks=True))
    cat = load_targets()
    cat.loc[0, "source_url"] = "javascript:alert(1) ; https://ok.example/x"
    cat.loc[0, "wording_vi"] = "<script>alert(1)</script>"
    _csv(cat, root / "tables" / "targets_catalogue.csv")
    build_manifest(root, extra={"sample": True})
    html = TestClient(create_app(root)).get("/scorecard").text
    sources = _section(html, "sources")
    assert "<script>alert(1)</script>" not in sources and "&lt;script&gt;" in sources
    assert "javascript:" not in sources and 'href="https://ok.example/x"' in sources


def test_a_flat_trend_is_not_an_improvement(scorecard_output, tmp_path):
    root = Path(shutil.copytree(scorecard_output, tmp_path / "out", symlinks=True))
    path = root / "tables" / f"targets_most_improved_34_{PERIOD}.csv"
    table = pd.read_csv(path, dtype={"code": str}, encoding="utf-8-sig")
    flat = MEASURABLE[0]
    table.loc[table["indicator"] == flat, "trend_per_quarter"] = 0.0
    _csv(table, path)
    build_manifest(root, extra={"sample": True})
    improved = _section(TestClient(create_app(root)).get("/scorecard").text, "improved")
    assert f'data-indicator="{flat}"' not in improved
    assert f'data-indicator="{MEASURABLE[1]}"' in improved


def test_every_reason_the_pipeline_writes_has_its_vietnamese():
    import numpy as np

    from geodata.indicators.targets import assess
    from portal.scorecard import reason_vi

    q = ["2025Q1", "2025Q2", "2025Q3"]
    cases = [
        (q, [30.0, 35.0, 41.0], 40, 2025),  # met
        (q, [25.0, 30.0, 35.0], 40, 2025),  # on track
        (q, [20.0, 25.0, 30.0], 50, 2025),  # too slow
        (q, [30.0, 25.0, 20.0], 50, 2030),  # falling
        (q, [1.0, 1.01, 1.02], 99, 2030),  # beyond the horizon
        (q[:2], [20.0, 25.0], 50, 2030),  # too few quarters
        (q, [20.0, 25.0, np.nan], 50, 2030),  # nothing this quarter
        (["2026Q1", "2026Q2", "2026Q3"], [20.0, 30.0, 39.0], 40, 2025),  # year over, rising
        (["2026Q1", "2026Q2", "2026Q3"], [30.0, 30.0, 30.0], 40, 2025),  # year over, flat
    ]
    for quarters, values, target, year in cases:
        reason = assess(quarters, values, target, year).reason
        assert reason_vi(reason), reason
    assert reason_vi(assess(q, [np.nan] * 3, 1, 2025, measurable=False).reason)
