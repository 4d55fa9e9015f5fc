"""Joining kernels' outputs into the per-cell table; adoption statistics on cells."""

import numpy as np
import pandas as pd
import pytest

from geodata.cell_table import (
    adoption_by_cell,
    build_cell_table,
    coverage_by_cell,
    population_cells,
    speed_by_cell,
)
from geodata.kernels.cells import latlng_to_cells
from geodata.readers.adoption import read_adoption


def _adoption(tmp_path):
    path = tmp_path / "adoption.csv"
    path.write_text(
        "province_code,province_name,period,indicator,value,unit,source\n"
        "04,Cao Bằng,2026Q2,household_internet_share,40,%,test\n"
        "04,Cao Bằng,2026Q3,household_internet_share,45,%,test\n"
        "04,Cao Bằng,2026Q3,fixed_subscriptions,1000,subscriptions,test\n"
        "04,Cao Bằng,2022,dti_rank,60,rank,test\n",
        encoding="utf-8",
    )
    result = read_adoption(path)
    assert result.n_quarantined == 0
    return result.accepted


def test_adoption_rates_as_is_counts_by_population_share(tmp_path):
    table = pd.DataFrame(
        {
            "population": [100.0, 300.0, 50.0],
            "code_63": ["04", "04", "01"],
            "code_34": ["04", "04", "01"],
        }
    )
    cells = adoption_by_cell(table, _adoption(tmp_path), "2026-07-01")
    assert cells["adoption_household_internet_share"].tolist()[:2] == [45.0, 45.0]
    assert np.isnan(cells["adoption_household_internet_share"].iloc[2])
    assert cells["adoption_fixed_subscriptions"].tolist()[:2] == pytest.approx([250.0, 750.0])
    assert cells["adoption_dti_rank"].tolist()[:2] == [60.0, 60.0]  # 2022, 63-code system
    earlier = adoption_by_cell(table, _adoption(tmp_path), "2026-04-01")
    assert earlier["adoption_household_internet_share"].iloc[0] == 40.0


def test_speed_by_cell_weights_by_tests():
    tiles = pd.DataFrame(
        {
            "lat": [21.0285, 21.0285],
            "lng": [105.8542, 105.8542],
            "avg_d_kbps": [100_000, 10_000],
            "avg_u_kbps": [20_000, 2_000],
            "avg_lat_ms": [10, 30],
            "tests": [3, 1],
            "devices": [2, 1],
        }
    )
    out = speed_by_cell(tiles, 8, "fixed")
    assert len(out) == 1
    assert out["fixed_d_mbps"].iloc[0] == pytest.approx((3 * 100 + 10) / 4)
    assert out["fixed_tests"].iloc[0] == 4


def test_coverage_without_inputs_is_unknown_not_none():
    universe = latlng_to_cells(np.array([21.0, 10.8]), np.array([105.8, 106.7]), 8)
    cov = coverage_by_cell(universe, 8)
    assert (cov["best_tech_rank"] == -1).all()
    sites = pd.DataFrame({"lat": [21.0], "lon": [105.8], "range": [500.0], "tech_rank": [3]})
    cov = coverage_by_cell(universe, 8, sites=sites)
    ranks = dict(zip(cov["cell"], cov["best_tech_rank"], strict=True))
    assert ranks[universe[0]] == 3 and ranks[universe[1]] == 0


def test_measured_cells_outside_vietnam_are_reported_not_assigned():
    from geodata.reference import load_provinces, population_raster_path

    provinces = {v: load_provinces(v, simplified=True) for v in ("63", "34")}
    pop, _ = population_cells(population_raster_path(), 5, provinces)
    tiles = pd.DataFrame(
        {
            "lat": [21.0285, 12.0, 10.77],  # Hà Nội, inland Cambodia/Thailand, Hồ Chí Minh
            "lng": [105.8542, 102.3, 106.70],
            "avg_d_kbps": [50_000] * 3,
            "avg_u_kbps": [10_000] * 3,
            "avg_lat_ms": [20] * 3,
            "tests": [5] * 3,
            "devices": [2] * 3,
        }
    )
    fixed = speed_by_cell(tiles, 5, "fixed")
    mobile = speed_by_cell(tiles.iloc[:0], 5, "mobile")
    cov = coverage_by_cell(pop["cell"].to_numpy(), 5)
    table = build_cell_table(pop, fixed, mobile, cov, provinces)
    outside = table.attrs["cells_outside_vietnam"]
    assert len(outside) == 1 and outside[0] == latlng_to_cells([12.0], [102.3], 5)[0]
    assert table["fixed_tests"].sum() == 10
    assert table["population"].sum() == pytest.approx(pop["population"].sum(), rel=1e-12)
    assert (table["code_34"] != "").all() and table["code_63"].notna().all()


def test_foreign_and_sea_tiles_inside_the_box_end_in_no_province():
    """Tiles in Laos, Cambodia, Guangxi, Hainan and at sea, all inside Vietnam's bounding box and
    most within 0.5 degree of a province, count in no province: reported with their tests."""
    from geodata.reference import load_provinces, population_raster_path
    from tests.geodata.test_study_area import INSIDE, OUTSIDE

    provinces = {v: load_provinces(v, simplified=True) for v in ("63", "34")}
    pop, stats = population_cells(population_raster_path(), 8, provinces)
    assert stats["raster_total"] == pytest.approx(
        stats["cells_total"] + stats["outside_people"], rel=1e-12
    )
    places = {**INSIDE, **OUTSIDE}
    xy = np.array(list(places.values()))
    tiles = pd.DataFrame(
        {
            "lat": xy[:, 1],
            "lng": xy[:, 0],
            "avg_d_kbps": 50_000,
            "avg_u_kbps": 10_000,
            "avg_lat_ms": 20,
            "tests": 7,
            "devices": 2,
        }
    )
    fixed = speed_by_cell(tiles, 8, "fixed")
    table = build_cell_table(
        pop,
        fixed,
        speed_by_cell(tiles.iloc[:0], 8, "mobile"),
        coverage_by_cell(pop["cell"].to_numpy(), 8),
        provinces,
    )
    outside = table.attrs["outside"]
    foreign = set(latlng_to_cells(xy[len(INSIDE) :, 1], xy[len(INSIDE) :, 0], 8).tolist())
    home = set(latlng_to_cells(xy[: len(INSIDE), 1], xy[: len(INSIDE), 0], 8).tolist())
    assert set(outside["cell"].tolist()) == foreign
    assert outside["fixed_tests"].sum() == 7 * len(OUTSIDE)
    assert not foreign & set(table["cell"].tolist())
    assert home <= set(table["cell"].tolist())
    assert (table["code_34"] != "").all() and (table["code_63"] != "").all()
    assert table["fixed_tests"].sum() == 7 * len(INSIDE)
