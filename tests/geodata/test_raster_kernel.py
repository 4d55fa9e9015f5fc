"""raster -> cells: conservation on the real grid, differential tests against slow per-pixel loops
over the h3 scalar API, any CRS, nodata/masks/NaN, strips, and loud errors on bad files."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import h3
import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.io import MemoryFile

from geodata.errors import CorruptFileError, CRSError
from geodata.kernels.raster import RasterCells, raster_to_cells
from geodata.reference import population_raster_path

WORLDPOP = population_raster_path()


# --------------------------------------------------------------------------- helpers


def _profile(data: np.ndarray, transform: Affine, crs: str | None, nodata: float | None) -> dict:
    return {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }


def _write(
    path: Path,
    data: np.ndarray,
    transform: Affine,
    crs: str | None = "EPSG:4326",
    nodata: float | None = None,
    **extra: object,
) -> Path:
    with rasterio.open(path, "w", **_profile(data, transform, crs, nodata), **extra) as dst:
        dst.write(data, 1)
    return path


def _transformers(crs: str):
    if crs == "EPSG:4326":
        return (lambda x, y: (x, y)), (lambda lng, lat: (lng, lat))
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    from_wgs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return to_wgs.transform, from_wgs.transform


def _pixels(path: Path):
    """Yield (row, col, value, lat, lng) of every valid pixel, one at a time."""
    with rasterio.open(path) as ds:
        data = ds.read(1, masked=True)
        transform, crs = ds.transform, ds.crs.to_string()
    to_wgs, _ = _transformers(crs)
    for r in range(data.shape[0]):
        for c in range(data.shape[1]):
            if data.mask is not np.ma.nomask and data.mask[r, c]:
                continue
            v = float(data[r, c])
            if not math.isfinite(v):
                continue
            lng, lat = to_wgs(*(transform @ (c + 0.5, r + 0.5)))
            yield r, c, v, lat, lng


def _slow_centre(path: Path, res: int) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for _, _, v, lat, lng in _pixels(path):
        out[h3.str_to_int(h3.latlng_to_cell(lat, lng, res))] += v
    return dict(out)


def _slow_area(path: Path, res: int, k: int) -> dict[int, float]:
    """Each pixel: the cells (among a generous grid disk) whose centres fall in it, by area."""
    with rasterio.open(path) as ds:
        inverse, crs = ~ds.transform, ds.crs.to_string()
        valid = ~ds.read(1, masked=True).mask if ds.nodata is not None else None
    _, from_wgs = _transformers(crs)
    out: dict[int, float] = defaultdict(float)
    for r, c, v, lat, lng in _pixels(path):
        assert valid is None or valid[r, c]
        origin = h3.latlng_to_cell(lat, lng, res)
        inside = []
        for cell in h3.grid_disk(origin, k):
            clat, clng = h3.cell_to_latlng(cell)
            col, row = inverse @ from_wgs(clng, clat)
            if math.floor(row) == r and math.floor(col) == c:
                inside.append(cell)
        if not inside:
            out[h3.str_to_int(origin)] += v
            continue
        areas = [h3.cell_area(cell, "km^2") for cell in inside]
        for cell, a in zip(inside, areas, strict=True):
            out[h3.str_to_int(cell)] += v * a / sum(areas)
    return dict(out)


def _assert_matches(rc: RasterCells, expected: dict[int, float]) -> None:
    cells = np.array(sorted(expected), dtype=np.uint64)
    assert np.array_equal(rc.cells, cells)
    np.testing.assert_allclose(rc.values, [expected[int(c)] for c in cells], rtol=1e-9, atol=1e-9)


def _random_grid(seed: int, shape: tuple[int, int], nodata_share: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.gamma(1.0, 50.0, shape).astype(np.float32)
    data[rng.random(shape) < nodata_share] = -9999.0
    return data


# --------------------------------------------------------------------------- real grid


@pytest.mark.parametrize(
    ("res", "mode"), [(8, "area"), (8, "centre"), (7, "auto"), (6, "auto"), (5, "auto")]
)
def test_worldpop_total_conserved(res, mode):
    rc = raster_to_cells(WORLDPOP, res, mode=mode)
    assert abs(rc.total - 97_338_584) < 2.0  # the shipped grid's documented total
    assert abs(rc.values.sum() - rc.total) / rc.total < 1e-9
    assert rc.cells.dtype == np.uint64 and np.all(np.diff(rc.cells) > 0)
    assert all(h3.get_resolution(h3.int_to_str(int(c))) == res for c in rc.cells[:50])
    assert rc.n_valid_pixels == 406_784


def test_auto_mode_follows_pixel_to_cell_size():
    assert raster_to_cells(WORLDPOP, 8).mode == "area"  # 1 km pixel ~ 0.8 km2 > 0.74 / 2
    assert raster_to_cells(WORLDPOP, 7).mode == "centre"  # 5.2 km2 cells


def test_worldpop_strips_agree_with_default_strips():
    a = raster_to_cells(WORLDPOP, 8, mode="area")
    b = raster_to_cells(WORLDPOP, 8, mode="area", window_rows=37)
    assert np.array_equal(a.cells, b.cells)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)


def test_area_mode_fills_cells_that_hold_no_pixel_centre():
    centre = raster_to_cells(WORLDPOP, 8, mode="centre")
    area = raster_to_cells(WORLDPOP, 8, mode="area")
    assert area.cells.size > centre.cells.size
    # no cell gets the lumpy double share centre mode gives: the largest cell is smaller
    assert area.values.max() < centre.values.max()


# --------------------------------------------------------------------------- synthetic


def test_centre_mode_matches_per_pixel_loop(tmp_path):
    data = _random_grid(1, (30, 40))
    path = _write(
        tmp_path / "fine.tif", data, Affine(0.001, 0, 105.8123, 0, -0.001, 21.0571), nodata=-9999.0
    )
    rc = raster_to_cells(path, 8, mode="centre")
    _assert_matches(rc, _slow_centre(path, 8))
    assert rc.mode == "centre" and raster_to_cells(path, 8).mode == "centre"


@pytest.mark.parametrize(("res", "pixel_deg", "k"), [(8, 0.0093, 5), (7, 0.031, 5), (8, 0.047, 12)])
def test_area_mode_matches_per_pixel_loop(tmp_path, res, pixel_deg, k):
    data = _random_grid(2, (9, 11))
    t = Affine(pixel_deg, 0, 105.5037, 0, -pixel_deg, 21.2219)
    path = _write(tmp_path / "coarse.tif", data, t, nodata=-9999.0)
    rc = raster_to_cells(path, res, mode="area")
    _assert_matches(rc, _slow_area(path, res, k))
    assert abs(rc.values.sum() - rc.total) <= 1e-9 * rc.total


@pytest.mark.parametrize("crs", ["EPSG:32648", "EPSG:3857"])
@pytest.mark.parametrize("mode", ["centre", "area"])
def test_projected_raster_matches_loop_over_transformed_centres(tmp_path, crs, mode):
    to_proj = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0 = to_proj.transform(105.81, 21.03)
    size, shape = (95.0, (24, 28)) if mode == "centre" else (1130.0, (8, 10))
    data = _random_grid(3, shape)
    path = _write(
        tmp_path / "proj.tif", data, Affine(size, 0, x0, 0, -size, y0), crs=crs, nodata=-9999.0
    )
    rc = raster_to_cells(path, 8, mode=mode)
    expected = _slow_centre(path, 8) if mode == "centre" else _slow_area(path, 8, 5)
    _assert_matches(rc, expected)
    assert rc.total == pytest.approx(float(data[data != -9999.0].astype(np.float64).sum()))


def test_projected_twin_of_a_wgs84_raster_keeps_total_and_cells(tmp_path):
    """One row of pixels along a parallel is a grid in both EPSG:4326 and EPSG:3857."""
    data = _random_grid(4, (1, 300), nodata_share=0.0)
    lng0, lat0, dlng = 105.2, 20.9, 0.0011
    geo = _write(tmp_path / "geo.tif", data, Affine(dlng, 0, lng0, 0, -0.001, lat0))
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    lat_c = lat0 - 0.0005
    (xa, xb), (ya, _) = to_merc.transform([lng0, lng0 + dlng], [lat_c, lat_c])
    merc = _write(
        tmp_path / "merc.tif", data, Affine(xb - xa, 0, xa, 0, -1.0, ya + 0.5), crs="EPSG:3857"
    )
    a = raster_to_cells(geo, 9, mode="centre")
    b = raster_to_cells(merc, 9, mode="centre")
    assert np.array_equal(a.cells, b.cells)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)
    assert a.total == b.total


def test_nodata_nan_and_mask_are_honoured(tmp_path):
    t = Affine(0.002, 0, 105.9, 0, -0.002, 20.5)
    data = np.full((20, 20), 5.0, dtype=np.float32)
    data[:5] = -1.0  # nodata
    data[5, :] = np.nan  # NaN is never a value
    path = _write(tmp_path / "nd.tif", data, t, nodata=-1.0)
    rc = raster_to_cells(path, 8, mode="centre")
    assert rc.n_valid_pixels == 14 * 20 and rc.total == 14 * 20 * 5.0
    assert rc.values.sum() == pytest.approx(rc.total)
    assert set(rc.cells.tolist()) == set(_slow_centre(path, 8))
    # an internal mask (no nodata value) hides pixels too
    masked = tmp_path / "mask.tif"
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(
            masked, "w", **_profile(np.full((20, 20), 2.0, np.float32), t, "EPSG:4326", None)
        ) as dst,
    ):
        dst.write(np.full((20, 20), 2.0, np.float32), 1)
        mask = np.full((20, 20), 255, np.uint8)
        mask[:, :10] = 0
        dst.write_mask(mask)
    rc = raster_to_cells(masked, 8, mode="area")
    assert rc.n_valid_pixels == 200 and rc.total == 400.0


def test_all_nodata_gives_empty_arrays(tmp_path):
    data = np.full((10, 12), -9999.0, dtype=np.float32)
    path = _write(tmp_path / "empty.tif", data, Affine(0.01, 0, 105, 0, -0.01, 21), nodata=-9999.0)
    for mode in ("centre", "area", "auto"):
        rc = raster_to_cells(path, 8, mode=mode)
        assert rc.cells.size == 0 and rc.values.size == 0 and rc.cells.dtype == np.uint64
        assert rc.total == 0.0 and rc.n_valid_pixels == 0


@pytest.mark.parametrize("mode", ["centre", "area"])
def test_small_strips_equal_one_strip(tmp_path, mode):
    data = _random_grid(5, (60, 45))
    path = _write(
        tmp_path / "strips.tif",
        data,
        Affine(0.006, 0, 106.01, 0, -0.006, 10.9),
        nodata=-9999.0,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    )
    one = raster_to_cells(path, 8, mode=mode, window_rows=60)
    many = raster_to_cells(path, 8, mode=mode, window_rows=7)
    default = raster_to_cells(path, 8, mode=mode)
    for other in (many, default):
        assert np.array_equal(one.cells, other.cells)
        np.testing.assert_allclose(one.values, other.values, rtol=1e-12)
        assert one.n_valid_pixels == other.n_valid_pixels


def test_open_dataset_is_accepted_and_left_open(tmp_path):
    data = _random_grid(6, (10, 10))
    path = _write(tmp_path / "ds.tif", data, Affine(0.01, 0, 105, 0, -0.01, 21), nodata=-9999.0)
    with rasterio.open(path) as ds:
        rc = raster_to_cells(ds, 7)
        assert not ds.closed
    assert rc.values.sum() == pytest.approx(rc.total)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    rows=st.integers(1, 25),
    cols=st.integers(1, 25),
    pixel_deg=st.floats(0.0005, 0.05),
    res=st.integers(5, 9),
    mode=st.sampled_from(["centre", "area", "auto"]),
    window_rows=st.integers(1, 30),
    lat0=st.floats(-60, 60),
    lng0=st.floats(-179, 170),
)
def test_total_is_always_conserved(seed, rows, cols, pixel_deg, res, mode, window_rows, lat0, lng0):
    data = _random_grid(seed, (rows, cols), nodata_share=0.3)
    profile = _profile(data, Affine(pixel_deg, 0, lng0, 0, -pixel_deg, lat0), "EPSG:4326", -9999.0)
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data, 1)
        with mem.open() as ds:
            rc = raster_to_cells(ds, res, mode=mode, window_rows=window_rows)
    valid = data[data != -9999.0].astype(np.float64)
    assert rc.n_valid_pixels == valid.size
    assert rc.total == pytest.approx(valid.sum(), rel=1e-12, abs=1e-9)
    assert rc.values.sum() == pytest.approx(rc.total, rel=1e-9, abs=1e-9)
    assert np.all(np.diff(rc.cells.astype(np.float64)) >= 0) and np.all(rc.cells != 0)


# --------------------------------------------------------------------------- bad files


def test_raster_without_crs_raises_crs_error(tmp_path):
    path = _write(
        tmp_path / "nocrs.tif",
        _random_grid(7, (5, 5)),
        Affine(0.01, 0, 105, 0, -0.01, 21),
        crs=None,
    )
    with pytest.raises(CRSError, match="nocrs.tif"):
        raster_to_cells(path, 8)


def test_truncated_file_raises_corrupt_file_error(tmp_path):
    path = _write(
        tmp_path / "trunc.tif",
        _random_grid(8, (300, 300)),
        Affine(0.001, 0, 105, 0, -0.001, 21),
        nodata=-9999.0,
    )
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError, match="trunc.tif"):
        raster_to_cells(path, 8)


def test_not_a_raster_raises_corrupt_file_error(tmp_path):
    path = tmp_path / "text.tif"
    path.write_text("this is not a GeoTIFF\n")
    with pytest.raises(CorruptFileError, match="text.tif"):
        raster_to_cells(path, 8)
