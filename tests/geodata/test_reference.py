"""Shipped reference data: both boundary versions, crosswalk, regions, population grid."""

import numpy as np
import rasterio

from geodata import reference as ref


def test_both_boundary_versions_keyed_by_official_code():
    p63 = ref.load_provinces("63")
    p34 = ref.load_provinces("34")
    assert len(p63) == 63 and len(p34) == 34
    assert list(p63.index) == list(ref.province_codes("63"))
    assert list(p34.index) == list(ref.province_codes("34"))
    assert p34.loc["79", "name"] == "Hồ Chí Minh"
    assert p34.crs.to_epsg() == 4326
    assert p63.geometry.is_valid.all() and p34.geometry.is_valid.all()


def test_crosswalk_maps_every_old_province_to_one_new():
    cw = ref.load_crosswalk()
    assert cw["old_code"].is_unique and len(cw) == 63
    assert set(cw["new_code"]) == set(ref.province_codes("34"))
    p63 = ref.load_provinces("63")
    assert (p63["new_code"] == cw.loc[p63.index, "new_code"]).all()


def test_regions_cover_the_63_codes():
    regions = ref.load_regions()
    assert set(regions.index) == set(ref.province_codes("63"))
    assert regions["region_id"].nunique() == 6


def test_names_fold_without_diacritics():
    names = ref.province_names("34")
    folded = names["name"].map(ref.fold_name)
    assert (folded == names["name_ascii"].map(ref.fold_name)).all()
    assert ref.fold_name("Tỉnh Đắk Lắk") == "daklak"


def test_boundary_version_for_period():
    assert ref.boundary_version_for_period("2025-06-30") == "63"
    assert ref.boundary_version_for_period("2025-07-01") == "34"


def test_worldpop_grid_is_shipped_as_is():
    with rasterio.open(ref.population_raster_path()) as src:
        data = src.read(1, masked=True)
        assert src.crs.to_epsg() == 4326
    # float32 pixels summed in float64: 97,338,584 people (UN-adjusted 2020), to rounding
    assert abs(float(data.sum(dtype=np.float64)) - 97_338_584) < 2.0


def test_other_reference_tables_load():
    assert len(ref.load_settlements()) == 893
    assert len(ref.load_roads()) == 458
    assert len(ref.load_dti_2022()) == 63
    assert len(ref.load_official_population_34()) == 34
