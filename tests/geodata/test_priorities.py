"""Published investment priorities: every province's files, conservation, change, top records."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from geodata.indicators.clusters import GAP_RULES, gap_mask
from geodata.publishing.priorities import (
    TOP_N,
    find_priorities,
    priority_changes,
    top_records,
    write_priorities,
)
from geodata.reference import province_codes
from tests.geodata.rfc7946_check import assert_rfc7946

HANOI = h3.latlng_to_cell(21.0285, 105.8542, 8)
CAO_BANG = h3.latlng_to_cell(22.6657, 106.2570, 8)


def grid(mobile_ranks_hanoi, mobile_ranks_caobang, fixed="unserved") -> pd.DataFrame:
    """Two disks of 19 cells: one in Hà Nội (01), one in Cao Bằng (04, both versions)."""
    frames = []
    for centre, code, ranks in (
        (HANOI, "01", mobile_ranks_hanoi),
        (CAO_BANG, "04", mobile_ranks_caobang),
    ):
        cells = sorted(h3.grid_disk(centre, 2))
        n = len(cells)
        frames.append(
            pd.DataFrame(
                {
                    "cell": np.array([h3.str_to_int(c) for c in cells], np.uint64),
                    "population": np.linspace(1.0, 40.0, n),
                    "code_34": pd.array([code] * n, dtype="string"),
                    "code_63": pd.array([code] * n, dtype="string"),
                    "region_id": pd.array(
                        ["red_river_delta" if code == "01" else "northern_midlands_and_mountains"]
                        * n,
                        dtype="string",
                    ),
                    "best_tech_rank": np.resize(np.asarray(ranks, np.int8), n),
                    "fixed_class": pd.array(
                        np.resize([fixed, "served", "no_data"], n), dtype="string"
                    ),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_every_province_of_both_versions_gets_files_and_people_add_up(tmp_path):
    cells = grid([0, 4, 4], [1, 2, 4, 4])
    results = find_priorities(cells)
    listing, outlines = write_priorities(results, "2026Q3", tmp_path, {"sample": True})
    provinces = len(province_codes("34")) + len(province_codes("63"))
    per_province = listing[listing["scope"] == "province"]
    assert len(per_province) == 2 * 2 * provinces  # two kinds, CSV + GeoJSON
    assert len(listing[listing["scope"] == "national"]) == 2 * 2
    for kind, res in results.items():
        rule = GAP_RULES[kind]
        in_gap = cells.loc[gap_mask(cells, rule)]
        assert len(outlines[kind]) == len(res.clusters)
        for version in ("34", "63"):
            for code, want in in_gap.groupby(f"code_{version}")["population"].sum().items():
                folder = "01_ha-noi" if code == "01" else "04_cao-bang"
                stem = tmp_path / "downloads" / version / folder / f"2026Q3_{kind}_priorities"
                table = pd.read_csv(f"{stem}.csv")
                assert table["population"].sum() == pytest.approx(want, abs=len(table))
                assert table[f"rank_in_province_{version}"].tolist() == list(
                    range(1, len(table) + 1)
                )
                assert table["rank"].is_monotonic_increasing
                assert_rfc7946(Path(f"{stem}.geojson"))
                doc = json.loads(open(f"{stem}.geojson", encoding="utf-8").read())
                assert len(doc["features"]) == len(table)
                assert doc["provenance"]["province_code"] == code
                assert doc["provenance"]["gap_rule"]["kind"] == kind
        # a province without gap clusters still has (empty, valid) files
        empty = (
            tmp_path / "downloads" / "34" / "79_ho-chi-minh" / f"2026Q3_{kind}_priorities.geojson"
        )
        assert_rfc7946(empty)
        assert json.loads(empty.read_text(encoding="utf-8"))["features"] == []
        national = pd.read_csv(tmp_path / "priorities" / f"{kind}_priorities_2026Q3.csv")
        assert national["rank"].tolist() == list(range(1, len(national) + 1))
        assert national["population"].sum() == pytest.approx(
            in_gap["population"].sum(), abs=len(national)
        )


def test_changes_carry_the_province_of_closed_and_new_clusters():
    before = find_priorities(grid([0, 4, 4], [4]))  # gaps only in Hà Nội
    after = find_priorities(grid([4], [0, 4, 4]))  # Hà Nội closed, Cao Bằng new
    change = priority_changes(before["mobile"], after["mobile"])
    closed = change[change["status"] == "closed"]
    new = change[change["status"] == "new"]
    assert len(closed) and (closed["code_34"] == "01").all()
    assert len(new) and (new["code_34"] == "04").all()
    assert closed["name_34"].iloc[0] == "Hà Nội"
    assert set(change["status"]) <= {"closed", "new"}


def test_top_records_are_json_ready_and_ranked():
    res = find_priorities(grid([0, 1, 4], [0, 4]))["mobile"]
    top = top_records(res)
    assert 0 < len(top) <= TOP_N
    assert [r["rank"] for r in top] == list(range(1, len(top) + 1))
    json.dumps(top, allow_nan=False)
    assert all(isinstance(r["seed_cell"], str) and h3.is_valid_cell(r["seed_cell"]) for r in top)


def test_province_geojson_equals_gdal_writing_the_province_alone(tmp_path):
    """Features are rendered once through GDAL and sliced per province: the bytes equal GDAL
    writing the province's rows on their own."""
    import geopandas as gpd

    from geodata.writers.geojson import geojson_bytes

    cells = grid([0, 1, 4], [0, 2, 4, 4])
    listing, outlines = write_priorities(find_priorities(cells), "2026Q3", tmp_path, {"s": 1})
    for kind in ("mobile", "fixed"):
        path = tmp_path / "downloads" / "34" / "04_cao-bang" / f"2026Q3_{kind}_priorities.geojson"
        doc = json.loads(path.read_text(encoding="utf-8"))
        national = outlines[kind]
        mine = national[national["province_34"] == "04"].reset_index(drop=True)
        assert len(doc["features"]) == len(mine) > 0
        expected = geojson_bytes(gpd.GeoDataFrame(mine, crs=4326), provenance=doc["provenance"])
        assert path.read_bytes() == expected
