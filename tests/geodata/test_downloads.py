"""Per-province GeoJSON downloads: RFC 7946, provenance, official codes, conservation, size budget.

The cell table is real: the shipped WorldPop raster clipped to a window over Bắc Giang, Bắc Ninh
and Hải Dương (63 provinces 24, 27, 30; 34 provinces 24, 31), summed into res-8 cells and assigned
to provinces; speeds and coverage are seeded random values, classified by the real thresholds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.windows import Window

from geodata.cell_table import assign_provinces
from geodata.errors import InputError, SchemaError
from geodata.indicators.service import DEFAULT_THRESHOLDS, classify_cells
from geodata.indicators.summaries import summarise
from geodata.inputs import InputInventory
from geodata.kernels.raster import raster_to_cells
from geodata.publishing import downloads
from geodata.publishing.downloads import (
    CELL_PROPERTIES,
    COARSE_PROPERTIES,
    LISTING_COLUMNS,
    PROVENANCE_KEYS,
    province_slug,
    province_summary_geodataframe,
    write_province_downloads,
)
from geodata.publishing.outputs import provenance_record
from geodata.reference import (
    BOUNDARY_VERSIONS,
    in_provinces,
    load_provinces,
    population_raster_path,
    province_codes,
    province_names,
)
from tests.geodata.rfc7946_check import assert_rfc7946

QUARTER = "2026Q3"
BASE_RES = 8


def _window_raster(dest: Path) -> Path:
    """The shipped WorldPop raster clipped to lon 106.05..106.40, lat 21.10..21.35."""
    with rasterio.open(population_raster_path()) as src:
        t = src.transform
        col0, row0 = int((106.05 - t.c) / t.a), int((t.f - 21.35) / -t.e)
        width, height = round(0.35 / t.a), round(0.25 / -t.e)
        data = src.read(1, window=Window(col0, row0, width, height))
        profile = src.profile | {
            "height": height,
            "width": width,
            "transform": Affine(t.a, 0.0, t.c + col0 * t.a, 0.0, t.e, t.f + row0 * t.e),
        }
    with rasterio.open(dest, "w", **profile) as dst:
        dst.write(data, 1)
    return dest


def _cell_table(raster: Path) -> pd.DataFrame:
    rc = raster_to_cells(raster, BASE_RES)
    provinces = {v: load_provinces(v) for v in BOUNDARY_VERSIONS}
    table = pd.concat(
        [
            pd.DataFrame({"cell": rc.cells, "population": rc.values}),
            assign_provinces(rc.cells, provinces),
        ],
        axis=1,
    )
    rng = np.random.default_rng(20250701)
    n = len(table)
    for kind, scale in (("fixed", 120.0), ("mobile", 40.0)):
        tests = rng.poisson(0.6, n).astype(np.float64)
        measured = tests > 0
        table[f"{kind}_d_mbps"] = np.where(measured, rng.gamma(2.0, scale / 2, n), np.nan)
        table[f"{kind}_u_mbps"] = np.where(measured, rng.gamma(2.0, scale / 6, n), np.nan)
        table[f"{kind}_lat_ms"] = np.where(measured, rng.uniform(5, 80, n), np.nan)
        table[f"{kind}_tests"] = tests
        table[f"{kind}_devices"] = np.ceil(tests / 2)
    table["best_tech_rank"] = rng.integers(-1, 5, n).astype(np.int8)
    table = classify_cells(table, DEFAULT_THRESHOLDS)
    table["adoption_household_internet_share"] = 71.5  # a province statistic: not per cell
    return table


def _summaries(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    out = {}
    for version in BOUNDARY_VERSIONS:
        s = summarise(table, by=version)
        s.insert(0, "period", QUARTER)
        s["household_internet_share"] = 71.5
        s["household_internet_share__period"] = "2026Q2"
        out[version] = s
    return out


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("downloads")
    table = _cell_table(_window_raster(root / "window.tif"))
    summaries = _summaries(table)
    prov = provenance_record(
        InputInventory(root=root, sample=True),
        quarter=QUARTER,
        h3_resolution=BASE_RES,
        thresholds=DEFAULT_THRESHOLDS,
    )
    out = root / "out"
    listing = write_province_downloads(table, summaries, QUARTER, out, prov)
    return {"table": table, "summaries": summaries, "prov": prov, "out": out, "listing": listing}


def _doc(out: Path, rel: str) -> dict:
    return json.loads((out / rel).read_text(encoding="utf-8"))


def test_fixture_spans_provinces_of_both_versions(case):
    t = case["table"]
    assert set(t["code_63"]) == {"24", "27", "30"} and set(t["code_34"]) == {"24", "31"}
    # the largest province has more cells than the size estimate's sample: both paths run
    assert t["code_34"].value_counts().max() > 1024


def test_listing_matches_the_files_on_disk(case):
    listing, out = case["listing"], case["out"]
    assert list(listing.columns) == list(LISTING_COLUMNS)
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert on_disk == sorted(listing["path"])  # no temporary file left behind
    for row in listing.itertuples():
        assert (out / row.path).stat().st_size == row.bytes
        assert len(_doc(out, row.path)["features"]) == row.features


def test_layout_uses_official_codes_and_ascii_slugs(case):
    listing, t = case["listing"], case["table"]
    for version in BOUNDARY_VERSIONS:
        names = province_names(version)
        with_cells = set(t[f"code_{version}"])
        for kind in ("cells", "summary"):
            rows = listing[(listing["version"] == version) & (listing["kind"] == kind)]
            assert set(rows["code"]) == with_cells  # every province with cells, both versions
        for row in listing[listing["version"] == version].itertuples():
            if row.kind == "national":
                assert row.path == f"downloads/{version}/vn_cells_res6_{QUARTER}.geojson"
                continue
            assert row.code in province_codes(version)
            slug = province_slug(names.loc[row.code, "name_ascii"])
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)
            assert row.path == f"downloads/{version}/{row.code}_{slug}/{QUARTER}_{row.kind}.geojson"
            assert row.name == names.loc[row.code, "name"]
    assert "downloads/63/24_bac-giang/2026Q3_cells.geojson" in set(listing["path"])
    assert "downloads/34/24_bac-ninh/2026Q3_cells.geojson" in set(listing["path"])


def test_every_file_is_strict_rfc7946(case):
    for rel in case["listing"]["path"]:
        assert_rfc7946(case["out"] / rel)


def test_provenance_member_in_every_file(case):
    listing, out, prov = case["listing"], case["out"], case["prov"]
    for row in listing.itertuples():
        p = _doc(out, row.path)["provenance"]
        assert set(PROVENANCE_KEYS) <= set(p)
        assert p["sample"] is True and p["period"] == QUARTER
        assert p["boundary_version"] == row.version
        assert p["h3_resolution"] == row.resolution and p["h3_resolution_base"] == BASE_RES
        assert p["inputs_sha256"] == prov["inputs_sha256"]
        assert p["thresholds"]["name"] == DEFAULT_THRESHOLDS.name
        assert "CC BY-SA 4.0" in p["licence"] and "CC BY 4.0" in p["licence"]
        assert "CC BY-SA 4.0" in p["attribution"] and "WorldPop" in p["attribution"]
        if row.kind != "national":
            assert p["province_code"] == row.code and p["province_name"] == row.name


def test_cells_read_back_with_pyogrio_as_the_table_says(case):
    listing, out, t = case["listing"], case["out"], case["table"]
    for row in listing[listing["kind"] == "cells"].itertuples():
        back = pyogrio.read_dataframe(out / row.path)
        assert len(back) == row.features
        assert list(back.columns) == [*CELL_PROPERTIES, "geometry"]
        mine = t[t[f"code_{row.version}"] == row.code]
        expected = mine.set_index(np.array([h3.int_to_str(int(c)) for c in mine["cell"]]))
        assert sorted(back["h3"]) == sorted(expected.index)  # h3-py as oracle of the ids
        exp = expected.loc[back["h3"]]
        names = province_names(row.version).loc[row.code]
        assert (back["code"] == row.code).all() and (back["name"] == names["name"]).all()
        assert (back["name_ascii"] == names["name_ascii"]).all()
        np.testing.assert_allclose(back["population"], exp["population"].round(1), atol=1e-9)
        np.testing.assert_allclose(back["fixed_d_mbps"], exp["fixed_d_mbps"].round(1), atol=1e-9)
        assert (
            back["service_class"].to_numpy() == exp["service_class"].astype(str).to_numpy()
        ).all()
        assert (back["fixed_tests"].to_numpy() == exp["fixed_tests"].to_numpy()).all()
        tech = exp["best_tech_rank"].map(dict(enumerate(("none", "2G", "3G", "4G", "5G"))))
        assert back["best_tech"].fillna("-").tolist() == tech.fillna("-").tolist()
        # each polygon is the cell's boundary, to the file's 6 decimals
        ref = [
            shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h)]) for h in back["h3"]
        ]
        assert shapely.equals_exact(
            back.geometry.normalize().to_numpy(), shapely.normalize(np.array(ref)), tolerance=2e-6
        ).all()


def test_values_are_rounded_in_the_raw_file(case):
    listing, out = case["listing"], case["out"]
    rows = listing[listing["kind"] != "summary"]
    for rel in rows["path"]:
        for feat in _doc(out, rel)["features"]:
            for key, value in feat["properties"].items():
                if value is None or isinstance(value, str):
                    continue
                if key.startswith("share_"):
                    assert round(value, 4) == value
                elif key.endswith("_tests"):
                    assert isinstance(value, int)
                else:
                    assert round(value, 1) == value, (key, value)


def test_population_is_conserved_in_every_view(case):
    listing, out, t = case["listing"], case["out"], case["table"]
    for row in listing.itertuples():
        props = pd.DataFrame([f["properties"] for f in _doc(out, row.path)["features"]])
        if row.kind == "national":
            total = t["population"].sum()
        else:
            total = t.loc[t[f"code_{row.version}"] == row.code, "population"].sum()
        assert props["population"].sum() == pytest.approx(total, abs=0.05 * len(props) + 1e-6)


def test_summary_files_carry_the_summary_row(case):
    listing, out, summaries = case["listing"], case["out"], case["summaries"]
    for row in listing[listing["kind"] == "summary"].itertuples():
        back = pyogrio.read_dataframe(out / row.path)
        src = summaries[row.version].set_index("code").loc[row.code]
        assert len(back) == 1 and back["code"].iloc[0] == row.code
        assert set(summaries[row.version].columns) <= set(back.columns)
        assert back["population"].iloc[0] == pytest.approx(round(src["population"], 1))
        assert back["share_unserved"].iloc[0] == pytest.approx(round(src["share_unserved"], 4))
        assert back["household_internet_share__period"].iloc[0] == "2026Q2"
        full = load_provinces(row.version).geometry.loc[row.code]
        assert back.geometry.iloc[0].area == pytest.approx(full.area, rel=1e-4)  # full resolution


def test_national_cells_are_labelled_by_the_province_holding_their_centre(case):
    listing, out = case["listing"], case["out"]
    for row in listing[listing["kind"] == "national"].itertuples():
        back = pyogrio.read_dataframe(out / row.path)
        assert list(back.columns) == [*COARSE_PROPERTIES, "geometry"]
        assert {h3.get_resolution(h) for h in back["h3"]} == {6}
        polys = load_provinces(row.version)
        for h, code in zip(back["h3"], back["code"], strict=True):  # slow, obvious oracle
            lat, lng = h3.cell_to_latlng(h)
            holders = polys.index[polys.contains(shapely.Point(lng, lat))]
            if len(holders) == 1:
                assert code == holders[0]


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_size_budget_coarsens_the_large_province_only(case, tmp_path, monkeypatch, fraction):
    """Just under the largest file's size: the estimate is within the margin, the file is
    measured whole and found too big; half of it: the estimate alone skips the base resolution."""
    listing, t = case["listing"], case["table"]
    cells = listing[listing["kind"] == "cells"]
    largest = cells.loc[cells["bytes"].idxmax()]
    budget = int(largest["bytes"] * fraction) - 100  # the budget is written in provenance too
    measured: list[int] = []
    real_nbytes = downloads._Rendered.nbytes

    def counting(self, a, b):
        measured.append(b - a)
        return real_nbytes(self, a, b)

    monkeypatch.setattr(downloads._Rendered, "nbytes", counting)
    again = write_province_downloads(
        t, case["summaries"], QUARTER, tmp_path, case["prov"], max_bytes=budget, coarse_res=5
    )
    assert largest["features"] > 2 * downloads._SAMPLE  # so its size is estimated first
    assert (largest["features"] in measured) == (fraction == 1.0)
    again_cells = again[again["kind"] == "cells"].set_index(["version", "code"])
    for row in cells.itertuples():
        new = again_cells.loc[(row.version, row.code)]
        if row.bytes > budget:
            assert new["resolution"] < BASE_RES and new["bytes"] <= budget
            doc = _doc(tmp_path, new["path"])
            assert doc["provenance"]["h3_resolution"] == new["resolution"]
            assert "budget" in doc["provenance"]["resolution_note"]
            props = pd.DataFrame([f["properties"] for f in doc["features"]])
            assert list(props.columns) == list(COARSE_PROPERTIES)
            assert {h3.get_resolution(h) for h in props["h3"]} == {new["resolution"]}
            mine = t.loc[t[f"code_{row.version}"] == row.code, "population"].sum()
            assert props["population"].sum() == pytest.approx(mine, abs=0.05 * len(props))
            people = props[
                [f"people_{c}" for c in ("served", "underserved", "unserved", "no_data")]
            ]
            np.testing.assert_allclose(people.sum(axis=1), props["population"], atol=0.25)
        else:
            assert new["resolution"] == BASE_RES and new["features"] == row.features
    assert (again.loc[again["kind"] != "national", "bytes"] <= budget).all()


def test_impossible_budget_raises(case, tmp_path):
    with pytest.raises(ValueError, match="coarsest allowed res 7"):
        write_province_downloads(
            case["table"],
            case["summaries"],
            QUARTER,
            tmp_path,
            case["prov"],
            max_bytes=2_000,
            coarse_res=7,
        )


def test_bad_inputs_raise_clear_errors(case, tmp_path):
    t, s, prov = case["table"], case["summaries"], case["prov"]
    with pytest.raises(SchemaError, match="service_class"):
        write_province_downloads(t.drop(columns="service_class"), s, QUARTER, tmp_path, prov)
    bad = t.copy()
    bad["code_34"] = bad["code_34"].astype(object)
    bad.loc[5, "code_34"] = "99"
    with pytest.raises(InputError, match="'99' is not a province code") as err:
        write_province_downloads(bad, s, QUARTER, tmp_path, prov)
    assert err.value.row == 6 and err.value.column == "code_34"
    mixed = t.copy()
    mixed.loc[0, "cell"] = np.uint64(
        h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(t["cell"][0])), 7))
    )
    with pytest.raises(InputError, match="mix H3 resolutions"):
        write_province_downloads(mixed, s, QUARTER, tmp_path, prov)
    with pytest.raises(ValueError, match="thresholds"):
        write_province_downloads(
            t, s, QUARTER, tmp_path, {k: v for k, v in prov.items() if k != "thresholds"}
        )
    with pytest.raises(ValueError, match="period"):
        write_province_downloads(t, s, "2026Q2", tmp_path, prov)
    with pytest.raises(ValueError, match="quarter"):
        write_province_downloads(t, s, "2026-07", tmp_path, prov)
    with pytest.raises(ValueError, match="coarse_res"):
        write_province_downloads(t, s, QUARTER, tmp_path, prov, coarse_res=8)
    with pytest.raises(ValueError, match="no row for province"):
        short = {**s, "34": s["34"][s["34"]["code"] != "31"]}
        write_province_downloads(t, short, QUARTER, tmp_path, prov)
    assert not any(tmp_path.rglob("*")), "inputs are checked before the first file is written"


def test_province_summary_geodataframe_keeps_every_row_in_order(case):
    s = case["summaries"]["63"]
    gdf = province_summary_geodataframe(s, "63", simplified=True)
    assert list(gdf["code"]) == list(s["code"]) and len(gdf) == 63
    assert list(gdf.columns[:4]) == ["period", "code", "name", "name_ascii"]
    assert gdf["population"].tolist() == s["population"].round(1).tolist()


def test_slugs_of_all_provinces_are_unique_ascii_with_hyphens():
    for version in BOUNDARY_VERSIONS:
        names = province_names(version)
        slugs = [province_slug(n) for n in names["name_ascii"]]
        assert len(set(slugs)) == len(slugs)
        assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s) for s in slugs)
        assert slugs == [province_slug(n) for n in names["name"]]  # diacritics fold the same
    assert province_slug("Bà Rịa - Vũng Tàu") == "ba-ria-vung-tau"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_slug_is_always_lower_ascii_with_single_hyphens(text):
    slug = province_slug(text)
    assert slug == "" or re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)


def test_files_written_province_by_province_equal_the_whole_tables(case, tmp_path):
    """What a step per province writes (``provinces_34`` with the rows ``in_provinces``, then the
    national files alone) is every file of the whole-table call, byte for byte, and nothing
    more; even when, near a border, a cell's old province does not lie in its new one (the two
    versions are assigned independently): here a Bắc Ninh (34) cell placed in Hải Dương (63)."""
    table = case["table"].copy()
    moved = table.index[(table["code_34"] == "24") & (table["code_63"] == "24")][0]
    table.loc[moved, "code_63"] = "30"  # Hải Dương lies in Hải Phòng (31), not in Bắc Ninh
    summaries = _summaries(table)
    whole = tmp_path / "whole"
    full = write_province_downloads(table, summaries, QUARTER, whole, case["prov"])
    parts = tmp_path / "parts"
    listings = []
    for codes in (("24",), ("31",), ("01", "04")):  # the last has no cell here: no file
        rows = table.loc[in_provinces(table, codes)]
        if len(rows):
            listings.append(
                write_province_downloads(
                    rows,
                    summaries,
                    QUARTER,
                    parts,
                    case["prov"],
                    provinces_34=codes,
                    national=False,
                )
            )
    listings.append(
        write_province_downloads(table, summaries, QUARTER, parts, case["prov"], provinces_34=())
    )
    split = pd.concat(listings, ignore_index=True)
    assert sorted(split["path"]) == sorted(full["path"])
    assert len(split) == len(set(split["path"]))  # every file written by one step only
    for rel in full["path"]:
        assert (parts / rel).read_bytes() == (whole / rel).read_bytes(), rel
    # the moved cell is in Hải Dương's (63) file and in Bắc Ninh's (34) one
    h = h3.int_to_str(int(table.loc[moved, "cell"]))
    for version, code in (("63", "30"), ("34", "24")):
        rel = next(p for p in full["path"] if f"/{version}/{code}_" in p and "cells" in p)
        assert h in {f["properties"]["h3"] for f in _doc(parts, rel)["features"]}
