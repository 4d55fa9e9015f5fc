"""The synthetic sample generator: layout, formats, labels, determinism and realism (small slice)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.windows import Window

from geodata.quadkeys import quadkey_to_tile, tile_bounds, tile_centroids, valid_quadkeys
from geodata.reference import load_provinces, population_raster_path, province_names
from geodata.sample import SampleManifest, generate_sample
from geodata.sample.__main__ import main
from geodata.sample.coverage import CoverageGrid, covered_mask
from geodata.sample.sites import OPENCELLID_COLUMNS, RADIO_RANGE_M
from geodata.sample.speeds import tile_wkt
from geodata.sample.surface import KM_PER_DEG

SLICE = ["01", "24"]  # Hà Nội (odd code: BOM) and Bắc Ninh (even code: no BOM)
SCALE = 0.15
PERIODS = ("2026Q2", "2026Q3")
SPEED_FILES = [
    f"speed_tiles/sample_{d}_performance_{k}_tiles.parquet"
    for d in ("2026-04-01", "2026-07-01")
    for k in ("fixed", "mobile")
]
COVERAGE_FILES = [
    f"coverage/sample_{o}_{t}_coverage.tif" for o in ("opa", "opb", "opc") for t in ("4g", "5g")
]
REAL_OPERATORS = (
    "viettel",
    "vinaphone",
    "mobifone",
    "vietnamobile",
    "gmobile",
    "vnpt",
    "itel",
    "reddi",
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleManifest:
    out = tmp_path_factory.mktemp("gen") / "sample"
    return generate_sample(out, seed=7, scale=SCALE, provinces_34=SLICE, periods=PERIODS)


@pytest.fixture(scope="module")
def tables(sample: SampleManifest) -> dict[str, pa.Table]:
    return {f: pq.read_table(sample.out_dir / f) for f in SPEED_FILES}


def test_layout(sample: SampleManifest) -> None:
    expected = {
        "SAMPLE.json",
        *SPEED_FILES,
        "cell_sites/sample_cell_towers_452.csv",
        *COVERAGE_FILES,
        "adoption/sample_01_ha_noi.csv",
        "adoption/sample_24_bac_ninh.csv",
        "adoption/real_dti_2022_provincial_ranking.csv",
        "population/worldpop_vnm_2020_1km_clip.tif",
    }
    on_disk = set(_tree_hashes(sample.out_dir))
    assert on_disk == expected
    assert set(sample.files) == expected
    assert sample.provinces_34 == tuple(SLICE) and sample.periods == PERIODS
    assert sample.seed == 7 and sample.scale == SCALE
    assert not any(
        p.name.startswith(".sample") for p in sample.out_dir.parent.iterdir()
    )  # no temp left


def test_sample_json_lists_every_file_with_its_sha256(sample: SampleManifest) -> None:
    marker = json.loads((sample.out_dir / "SAMPLE.json").read_text(encoding="utf-8"))
    assert marker["sample"] is True and marker["synthetic"] is True
    assert marker["generator"] == "geodata.sample"
    assert marker["seed"] == 7 and marker["scale"] == SCALE
    assert marker["provinces_34"] == SLICE and marker["periods"] == list(PERIODS)
    assert "SYNTHETIC" in marker["note"]
    hashes = _tree_hashes(sample.out_dir)
    hashes.pop("SAMPLE.json")
    assert marker["files"] == hashes


def test_ookla_columns_types_and_metadata(tables: dict[str, pa.Table]) -> None:
    want = {
        "quadkey": pa.string(),
        "tile": pa.string(),
        "avg_d_kbps": pa.int64(),
        "avg_u_kbps": pa.int64(),
        "avg_lat_ms": pa.int64(),
        "tests": pa.int64(),
        "devices": pa.int64(),
        "avg_lat_down_ms": pa.int64(),
        "avg_lat_up_ms": pa.int64(),
    }
    for name, t in tables.items():
        assert t.num_rows > 100, name
        for col, typ in want.items():
            assert t.schema.field(col).type == typ, (name, col)
        meta = t.schema.metadata
        assert meta[b"gap_monitor:sample"] == b"true"
        assert meta[b"gap_monitor:generator"] == b"geodata.sample"
        df = t.to_pandas()
        for col in (
            "quadkey",
            "tile",
            "avg_d_kbps",
            "avg_u_kbps",
            "avg_lat_ms",
            "tests",
            "devices",
        ):
            assert df[col].notna().all(), (name, col)
        assert 0 < df["avg_lat_down_ms"].isna().mean() < 1  # sparsely populated, as in Ookla files
        assert (df["avg_d_kbps"] > 0).all() and (df["avg_u_kbps"] > 0).all()
        assert (df["devices"] >= 1).all() and (df["devices"] <= df["tests"]).all()
        assert df["quadkey"].is_unique and df["quadkey"].is_monotonic_increasing


def test_quadkeys_are_zoom16_and_wkt_is_the_tile(tables: dict[str, pa.Table]) -> None:
    for t in tables.values():
        qk = np.asarray(t["quadkey"].to_pylist())
        assert valid_quadkeys(qk, 16).all()
        x, y, z = quadkey_to_tile(qk)
        west, south, east, north = tile_bounds(x, y, z)
        wkt = np.asarray(t["tile"].to_pylist())
        assert all(w.startswith("POLYGON((") for w in wkt[:50])
        geoms = shapely.from_wkt(wkt)
        np.testing.assert_allclose(
            shapely.bounds(geoms), np.column_stack([west, south, east, north]), atol=1e-9
        )
        rings = shapely.get_coordinates(shapely.get_exterior_ring(geoms)).reshape(-1, 5, 2)
        np.testing.assert_array_equal(rings[:, 0], rings[:, 4])  # closed ring, w n first as Ookla
        np.testing.assert_allclose(rings[:, 0], np.column_stack([west, north]), atol=1e-9)
        lat_c, lon_c = tile_centroids(x, y, z)
        np.testing.assert_allclose(t["tile_x"].to_numpy(), lon_c)
        np.testing.assert_allclose(t["tile_y"].to_numpy(), lat_c)


def test_tiles_fall_inside_the_selected_provinces_bbox(tables: dict[str, pa.Table]) -> None:
    west, south, east, north = load_provinces("34", simplified=True).loc[SLICE].total_bounds
    for t in tables.values():
        lon, lat = t["tile_x"].to_numpy(), t["tile_y"].to_numpy()
        assert ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)).all()


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def test_more_tests_in_denser_pixels(sample: SampleManifest, tables: dict[str, pa.Table]) -> None:
    with rasterio.open(sample.out_dir / "population/worldpop_vnm_2020_1km_clip.tif") as ds:
        pop = ds.read(1)
        transform = ds.transform
    for t in tables.values():
        rows, cols = rasterio.transform.rowcol(
            transform, t["tile_x"].to_numpy(), t["tile_y"].to_numpy()
        )
        density = pop[np.asarray(rows), np.asarray(cols)]
        assert _rank_corr(density, t["tests"].to_numpy()) > 0.2


def test_second_period_is_a_bit_better(tables: dict[str, pa.Table]) -> None:
    for kind in ("fixed", "mobile"):
        first = tables[
            f"speed_tiles/sample_2026-04-01_performance_{kind}_tiles.parquet"
        ].to_pandas()
        second = tables[
            f"speed_tiles/sample_2026-07-01_performance_{kind}_tiles.parquet"
        ].to_pandas()
        both = first.merge(second, on="quadkey", suffixes=("_1", "_2"))
        assert (both["avg_d_kbps_2"] / both["avg_d_kbps_1"]).median() > 1.02  # same tiles, faster
        assert len(set(second["quadkey"]) - set(first["quadkey"])) > 0  # new tiles appear
        assert len(set(first["quadkey"]) & set(second["quadkey"])) > 0.7 * len(first)


def test_fixed_speeds_follow_urbanness(tables: dict[str, pa.Table]) -> None:
    df = tables[SPEED_FILES[0]].to_pandas()
    busy = df["tests"] >= df["tests"].quantile(0.9)  # the dense city core
    assert df.loc[busy, "avg_d_kbps"].median() > 120_000  # cities ~150-300 Mbps
    assert df.loc[busy, "avg_d_kbps"].median() > df.loc[df["tests"] == 1, "avg_d_kbps"].median()


def test_cell_sites_layout_and_synthetic_operators(sample: SampleManifest) -> None:
    path = sample.out_dir / "cell_sites/sample_cell_towers_452.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(OPENCELLID_COLUMNS)
    cells = pd.read_csv(path)
    assert len(cells) > 50
    assert (cells["mcc"] == 452).all()
    assert set(cells["net"]) <= {91, 92, 93}
    assert not set(cells["net"]) & {1, 2, 4, 5, 7, 8}  # real Vietnamese MNCs never used
    assert set(cells["radio"]) <= {"GSM", "UMTS", "LTE", "NR"} and "NR" in set(cells["radio"])
    assert not cells.duplicated(["radio", "mcc", "net", "area", "cell"]).any()
    for radio, (lo, hi) in RADIO_RANGE_M.items():
        r = cells.loc[cells["radio"] == radio, "range"]
        assert r.between(lo, hi).all(), radio
    assert cells.loc[cells["radio"] == "GSM", "unit"].isna().all()
    assert (cells["updated"] >= cells["created"]).all() and (cells["created"] > 1.3e9).all()
    west, south, east, north = load_provinces("34", simplified=True).loc[SLICE].total_bounds
    assert cells["lon"].between(west - 0.01, east + 0.01).all()
    assert cells["lat"].between(south - 0.01, north + 0.01).all()


def test_no_real_operator_names_anywhere(sample: SampleManifest) -> None:
    for path in sample.out_dir.rglob("*"):
        if path.suffix in (".csv", ".json"):
            text = path.read_text(encoding="utf-8-sig").lower()
            assert not any(name in text for name in REAL_OPERATORS), path
    for f in COVERAGE_FILES:
        with rasterio.open(sample.out_dir / f) as ds:
            tags = " ".join(ds.tags().values()).lower()
        assert not any(name in tags for name in REAL_OPERATORS)
        assert "operator " in tags


def test_adoption_csvs_utf8_with_and_without_bom(sample: SampleManifest) -> None:
    names = province_names("34")
    boms = {}
    for code, slug in (("01", "ha_noi"), ("24", "bac_ninh")):
        raw = (sample.out_dir / f"adoption/sample_{code}_{slug}.csv").read_bytes()
        boms[code] = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")  # strict: raises on invalid UTF-8
        df = pd.read_csv(pd.io.common.StringIO(text), dtype=str)
        assert list(df.columns) == [
            "province_code",
            "province_name",
            "period",
            "indicator",
            "value",
            "unit",
            "source",
        ]
        assert set(df["province_code"]) == {code}
        assert set(df["province_name"]) == {names.loc[code, "name"]}
        assert set(df["period"]) == set(PERIODS)
        assert len(df) == 4 * len(PERIODS)
        assert df["source"].str.startswith("SYNTHETIC").all()
        v = df.assign(value=df["value"].astype(float)).pivot(
            index="indicator", columns="period", values="value"
        )
        assert v.loc[["household_internet_share", "smartphone_share"]].le(100).all().all()
        assert (v > 0).all().all()
    assert (
        names.loc["01", "name"] == "Hà Nội" and names.loc["24", "name"] == "Bắc Ninh"
    )  # diacritics
    assert boms == {"01": True, "24": False}


def test_adoption_follows_urbanisation(tmp_path: Path) -> None:
    # Hồ Chí Minh (dense, urban) against Lai Châu (remote uplands), same seed
    m = generate_sample(
        tmp_path / "s", seed=1, scale=0.02, provinces_34=["79", "12"], periods=["2026Q3"]
    )
    frames = [
        pd.read_csv(m.out_dir / f, encoding="utf-8-sig", dtype={"province_code": str})
        for f in m.files
        if "adoption/sample_" in f
    ]
    df = pd.concat(frames).set_index(["province_code", "indicator"])["value"]
    for ind in (
        "household_internet_share",
        "fixed_broadband_subscriptions_per_100",
        "smartphone_share",
    ):
        assert df[("79", ind)] > df[("12", ind)], ind


def test_real_dti_ranking_is_labelled_with_its_source(sample: SampleManifest) -> None:
    df = pd.read_csv(
        sample.out_dir / "adoption/real_dti_2022_provincial_ranking.csv",
        dtype=str,
        encoding="utf-8",
    )
    assert set(df["province_code"]) == {
        "01",
        "24",
        "27",
    }  # 63-system: Bắc Giang + Bắc Ninh -> new 24
    assert set(df["period"]) == {"2022"}
    ranks = df[df["indicator"] == "dti_rank"]
    assert len(ranks) == 3 and ranks["value"].astype(int).between(1, 63).all()
    assert (ranks["unit"] == "rank").all()
    assert df["source"].str.contains("https://dti.gov.vn/xep-hang-2022", regex=False).all()
    assert not df["source"].str.contains("SYNTHETIC").any()


def test_coverage_rasters_crs_nodata_tags(sample: SampleManifest) -> None:
    cells = pd.read_csv(sample.out_dir / "cell_sites/sample_cell_towers_452.csv")
    epsg = {}
    for f in COVERAGE_FILES:
        with rasterio.open(sample.out_dir / f) as ds:
            epsg[f] = ds.crs.to_epsg()
            assert ds.nodata == 255 and ds.dtypes[0] == "uint8"
            assert ds.profile["tiled"] and ds.profile["compress"].lower() == "deflate"
            tags = ds.tags()
            assert tags["GAP_MONITOR_SAMPLE"] == "true"
            assert tags["OPERATOR"] in {"Operator A", "Operator B", "Operator C"}
            assert tags["TECHNOLOGY"] == f.split("_")[2].upper()
            data = ds.read(1)
            assert set(np.unique(data)) <= {0, 1, 255} and (data == 255).any() and (data == 0).any()
            if tags["OPERATOR"] == "Operator A" and tags["TECHNOLOGY"] == "4G":
                lte = cells[(cells["net"] == 91) & (cells["radio"] == "LTE")]
                rows, cols = rasterio.transform.rowcol(ds.transform, lte["lon"], lte["lat"])
                assert (data[np.asarray(rows), np.asarray(cols)] == 1).mean() > 0.95
    assert epsg["coverage/sample_opc_4g_coverage.tif"] == 32648
    assert sum(v == 4326 for v in epsg.values()) == 5


def test_population_clip_is_the_real_grid(sample: SampleManifest) -> None:
    with rasterio.open(sample.out_dir / "population/worldpop_vnm_2020_1km_clip.tif") as clip:
        data = clip.read(1)
        bounds = clip.bounds
        assert data.max() > 10_000  # dense Hà Nội pixels
        assert "WorldPop" in clip.tags()["SOURCE"] and clip.tags()["SYNTHETIC"] == "false"
        with rasterio.open(population_raster_path()) as full:
            assert clip.crs == full.crs and clip.nodata == full.nodata
            col0 = round((clip.transform.c - full.transform.c) / full.transform.a)
            row0 = round((clip.transform.f - full.transform.f) / full.transform.e)
            window = Window(col0, row0, clip.width, clip.height)
            np.testing.assert_array_equal(data, full.read(1, window=window))  # never rescaled
    west, south, east, north = load_provinces("34", simplified=True).loc[SLICE].total_bounds
    assert (
        bounds.left <= west
        and bounds.right >= east
        and bounds.bottom <= south
        and bounds.top >= north
    )


def test_deterministic_and_seed_dependent(sample: SampleManifest, tmp_path: Path) -> None:
    again = generate_sample(
        tmp_path / "again", seed=7, scale=SCALE, provinces_34=SLICE, periods=PERIODS
    )
    assert _tree_hashes(again.out_dir) == _tree_hashes(sample.out_dir)  # byte-identical
    other = generate_sample(
        tmp_path / "other", seed=8, scale=SCALE, provinces_34=SLICE, periods=PERIODS
    )
    a, b = _tree_hashes(sample.out_dir), _tree_hashes(other.out_dir)
    assert (
        a["population/worldpop_vnm_2020_1km_clip.tif"]
        == b["population/worldpop_vnm_2020_1km_clip.tif"]
    )
    assert a[SPEED_FILES[0]] != b[SPEED_FILES[0]]


def test_replaces_a_previous_sample_but_never_a_user_directory(tmp_path: Path) -> None:
    out = tmp_path / "s"
    generate_sample(out, seed=1, scale=0.05, provinces_34=["24"], periods=["2026Q1", "2026Q2"])
    (out / "speed_tiles" / "stale.parquet").write_bytes(b"x")
    m = generate_sample(out, seed=1, scale=0.05, provinces_34=["24"], periods=["2026Q3"])
    assert not (out / "speed_tiles" / "stale.parquet").exists()
    assert sorted(p.name for p in (out / "speed_tiles").iterdir()) == [
        "sample_2026-07-01_performance_fixed_tiles.parquet",
        "sample_2026-07-01_performance_mobile_tiles.parquet",
    ]
    assert m.periods == ("2026Q3",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # nothing left aside
    user = tmp_path / "mine"
    user.mkdir()
    (user / "precious.csv").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate_sample(user, provinces_34=["24"], scale=0.05)
    assert (user / "precious.csv").read_text() == "keep me"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"provinces_34": ["99"]},
        {"provinces_34": []},
        {"periods": ["2026Q3", "2026Q2"]},
        {"periods": ["2026-07"]},
        {"scale": 0.0},
        {"scale": float("nan")},
    ],
)
def test_bad_arguments_raise(tmp_path: Path, kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"provinces_34": ["24"], "scale": 0.05, **kwargs}
    with pytest.raises(ValueError):
        generate_sample(tmp_path / "s", **args)  # type: ignore[arg-type]
    assert not (tmp_path / "s").exists()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["--out", str(tmp_path / "cli"), "--seed", "3", "--scale", "0.05", "--provinces", "24"]
    )
    assert code == 0
    assert "SYNTHETIC sample written" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli" / "SAMPLE.json").read_text(encoding="utf-8"))["seed"] == 3
    assert main(["--out", str(tmp_path / "bad"), "--provinces", "99"]) == 2


# --- kernels against slow obvious loops -------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    sites=st.lists(
        st.tuples(st.floats(106.0, 106.3), st.floats(10.0, 10.3), st.integers(200, 9000)),
        min_size=1,
        max_size=6,
    ),
    projected=st.booleans(),
)
def test_covered_mask_matches_a_loop(
    sites: list[tuple[float, float, int]], projected: bool
) -> None:
    lon, lat, rng_m = (np.array(v, dtype=float) for v in zip(*sites, strict=True))
    bbox = (105.95, 9.95, 106.35, 10.35)
    grid = (
        CoverageGrid.projected(bbox, 32648, 1000.0)
        if projected
        else CoverageGrid.geographic(bbox, 0.01)
    )
    got = covered_mask(grid, lon, lat, rng_m)
    want = np.zeros(grid.shape, dtype=bool)
    t = grid.transform
    if projected:
        from pyproj import Transformer

        sx, sy = Transformer.from_crs(4326, grid.crs, always_xy=True).transform(lon, lat)
    for k in range(lon.size):
        x0, y0 = (sx[k], sy[k]) if projected else (lon[k], lat[k])
        own = (int(np.floor((y0 - t.f) / t.e)), int(np.floor((x0 - t.c) / t.a)))
        for r in range(grid.shape[0]):
            for c in range(grid.shape[1]):
                cx, cy = t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e
                if projected:
                    d = np.hypot(cx - x0, cy - y0)
                else:
                    d = np.hypot(
                        (cx - x0) * KM_PER_DEG * 1000 * np.cos(np.radians(y0)),
                        (cy - y0) * KM_PER_DEG * 1000,
                    )
                if d <= rng_m[k] or (r, c) == own:
                    want[r, c] = True
    np.testing.assert_array_equal(got, want)


@settings(max_examples=30, deadline=None)
@given(x=st.integers(51000, 53000), y=st.integers(28000, 31000))
def test_tile_wkt_matches_scalar_formatting(x: int, y: int) -> None:
    w, s, e, n = (float(v[0]) for v in tile_bounds([x], [y], 16))
    want = f"POLYGON(({w:.15g} {n:.15g}, {e:.15g} {n:.15g}, {e:.15g} {s:.15g}, {w:.15g} {s:.15g}, {w:.15g} {n:.15g}))"
    assert str(tile_wkt([x], [y])[0]) == want
