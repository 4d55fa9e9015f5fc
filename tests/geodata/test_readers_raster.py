"""GeoTIFF checks: the malformed corpus, the shipped WorldPop grid, windows cover every pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from geodata.errors import CorruptFileError, CRSError, EmptyFileError, InputError
from geodata.readers.raster import RasterInfo, iter_windows, open_raster, raster_valid_fraction
from geodata.reference import population_raster_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = FIXTURES / "bad_inputs" / "rasters"
GOOD = FIXTURES / "good_inputs" / "coverage"

BAD_CASES = [
    ("no_crs.tif", CRSError, "no coordinate reference system"),
    ("truncated.tif", CorruptFileError, "truncated"),
    ("not_a_tiff.tif", CorruptFileError, "not a readable raster"),
    ("all_nodata.tif", EmptyFileError, "every pixel of band 1 is nodata"),
    ("outside_vietnam.tif", InputError, "does not overlap Vietnam"),
    ("epsg3857.tif", None, "EPSG:3857"),
]


@pytest.mark.parametrize(("name", "error", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_inputs(name, error, expected):
    path = BAD / name
    if error is None:
        info = open_raster(path)
        assert isinstance(info, RasterInfo) and info.crs == expected
        return
    with pytest.raises(error) as caught:
        open_raster(path)
    assert type(caught.value) is error  # exact class, not only a parent
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_epsg3857_bounds_are_degrees_over_hanoi():
    info = open_raster(BAD / "epsg3857.tif")
    west, south, east, north = info.bounds
    assert west < 105.85 < east and south < 21.03 < north
    assert info.res == (1000.0, 1000.0) and info.width == info.height == 64


def test_truncated_tif_opens_but_cannot_be_read():
    """The header survives truncation: only reading the last block catches it."""
    with rasterio.open(BAD / "truncated.tif") as ds:
        assert ds.crs is not None
    with pytest.raises(CorruptFileError):
        list(iter_windows(BAD / "truncated.tif", max_rows=16))


def test_all_nodata_allowed_without_data_check():
    info = open_raster(BAD / "all_nodata.tif", require_data=False)
    assert info.nodata == 0
    assert raster_valid_fraction(BAD / "all_nodata.tif") == 0.0


def test_outside_vietnam_allowed_without_bbox():
    assert open_raster(BAD / "outside_vietnam.tif", bbox=None).bounds[0] == pytest.approx(2.2)


def test_shipped_worldpop_accepted():
    info = open_raster(population_raster_path())
    assert info.crs == "EPSG:4326" and info.sample is False
    assert info.nodata is not None and info.dtype == "float32"
    assert len(info.sha256) == 64
    west, south, east, north = info.bounds
    assert 102 < west < 103 and 23 < north < 24


def test_good_coverage_tags_and_sample_flag():
    info = open_raster(GOOD / "viettel_4g_covered.tif")
    assert info.sample is True and info.tags["TECHNOLOGY"] == "4G"


def test_iter_windows_cover_every_pixel_once():
    path = population_raster_path()
    with rasterio.open(path) as ds:
        full = ds.read(1, masked=True)
    rows = 0
    valid = 0
    for window, arr in iter_windows(path, max_rows=300):
        assert window.col_off == 0 and window.width == full.shape[1]
        np.testing.assert_array_equal(arr.mask, full.mask[rows : rows + arr.shape[0]])
        rows += arr.shape[0]
        valid += int(arr.count())
    assert rows == full.shape[0] and valid == int(full.count())


def test_valid_fraction_exact_and_estimate():
    path = population_raster_path()
    with rasterio.open(path) as ds:
        full = ds.read(1, masked=True)
    exact = full.count() / full.size
    assert raster_valid_fraction(path, max_rows=100) == pytest.approx(exact)
    estimate = raster_valid_fraction(path, max_windows=5, max_rows=100)
    assert 0 < estimate < 1


def test_nan_nodata_and_sparse_data_found(tmp_path):
    """A float raster with NaN nodata and one valid pixel in the last row is accepted."""
    data = np.full((3000, 20), np.nan, dtype=np.float32)
    data[-1, -1] = 1.0
    path = tmp_path / "sparse.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=20, height=3000, count=1, dtype="float32",
        crs="EPSG:4326", transform=Affine(0.001, 0, 105, 0, -0.001, 21), nodata=np.nan,
    ) as ds:  # fmt: skip
        ds.write(data, 1)
    assert open_raster(path).height == 3000
    assert raster_valid_fraction(path) == pytest.approx(1 / data.size)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_raster(tmp_path / "nope.tif")


def _write(path: Path, data: np.ndarray, *, crs: str, transform: Affine, nodata=None) -> Path:
    bands = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=bands.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        ds.write(bands)
    return path


def _provinces():
    from geodata.reference import load_provinces

    return {v: load_provinces(v, simplified=True) for v in ("63", "34")}


def test_multi_band_population_and_coverage_rasters_are_rejected_naming_the_bands(tmp_path):
    from geodata.cell_table import population_cells

    data = np.ones((3, 20, 20), np.float32)
    path = _write(
        tmp_path / "pop_3bands.tif",
        data,
        crs="EPSG:4326",
        transform=Affine(0.01, 0, 105.7, 0, -0.01, 21.1),
    )
    with pytest.raises(InputError, match=r"3 bands .*gdal_translate -b 1") as exc:
        population_cells(path, 7, _provinces())
    assert exc.value.file == str(path)
    with pytest.raises(InputError, match="3 bands"):
        open_raster(path, single_band="coverage")
    assert open_raster(path).count == 3  # without single_band: band 1 is described


def test_a_negative_sentinel_without_nodata_is_rejected_before_summing(tmp_path):
    from geodata.cell_table import population_cells

    data = np.full((20, 20), 12.5, np.float32)
    data[:5, :] = -99999.0
    path = _write(
        tmp_path / "pop_sentinel.tif",
        data,
        crs="EPSG:4326",
        transform=Affine(0.01, 0, 105.7, 0, -0.01, 21.1),
    )
    with pytest.raises(InputError, match=r"-99999.*gdal_edit.py -a_nodata -99999") as exc:
        population_cells(path, 7, _provinces())
    assert exc.value.file == str(path) and "negative" in exc.value.reason
    tagged = _write(
        tmp_path / "pop_tagged.tif",
        data,
        crs="EPSG:4326",
        transform=Affine(0.01, 0, 105.7, 0, -0.01, 21.1),
        nodata=-99999.0,
    )
    df, stats = population_cells(tagged, 7, _provinces())
    assert stats["raster_total"] == pytest.approx(12.5 * 15 * 20)


def test_a_utm_raster_over_the_gulf_of_tonkin_reports_its_sea_people(tmp_path):
    """VN-2000 / UTM 48N (EPSG:3405) footprint from Hải Phòng out over the gulf to Hainan's
    coast: people on sea or foreign cells are counted outside, the rest conserved, nothing
    crashes and no cell of the frame lacks a province."""
    from geodata.cell_table import population_cells

    west, north, px = 640_000.0, 2_340_000.0, 1000.0  # metres, about 106.3 E .. 109.2 E
    data = np.full((200, 300), 3.0, np.float32)
    path = _write(
        tmp_path / "pop_utm48n_gulf.tif",
        data,
        crs="EPSG:3405",
        transform=Affine(px, 0, west, 0, -px, north),
    )
    df, stats = population_cells(path, 7, _provinces())
    assert stats["outside_people"] > 0.5 * stats["raster_total"]
    assert stats["cells_total"] > 0
    assert stats["raster_total"] == pytest.approx(
        stats["cells_total"] + stats["outside_people"], rel=1e-9
    )
    assert (df["code_34"] != "").all() and (df["code_63"] != "").all()
    outside = stats["outside"]
    assert {"cell", "lat", "lng", "population"} <= set(outside.columns)
    assert outside["population"].sum() == pytest.approx(stats["outside_people"])
