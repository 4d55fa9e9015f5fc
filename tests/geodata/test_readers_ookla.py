"""Ookla speed-tile reader: real Ookla sample tiles, the malformed corpus, formats agree, rules vs a loop."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import CorruptFileError, EmptyFileError, InputError, SchemaError
from geodata.quadkeys import lnglat_to_tile, tile_bounds, tile_to_quadkey
from geodata.readers.ookla import MAX_KBPS, MAX_LATENCY_MS, VIETNAM_BBOX, read_speed_tiles

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = FIXTURES / "bad_inputs" / "speed_tiles"
GOOD = FIXTURES / "good_inputs" / "speed_tiles"
OOKLA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ookla"
OOKLA_FILES = [
    f"{area}_{kind}_2023Q4.{ext}"
    for area in ("guam", "am-samoa")
    for kind in ("fixed", "mobile")
    for ext in ("csv", "geojson")
]
needs_ookla = pytest.mark.skipif(
    not OOKLA.is_dir(), reason=f"real Ookla sample tiles not found at {OOKLA} (sibling 'shared')"
)


def _quarantine(res) -> dict[int, tuple[str, str]]:
    q = res.quarantined
    return dict(
        zip(q["_row"].astype(int), zip(q["_column"], q["_reason"], strict=True), strict=True)
    )


# ------------------------------------------------------------------ the malformed corpus

BAD_CASES = [
    # file, error class | None, {row: (column, reason substring)}, n_accepted
    ("truncated.parquet", CorruptFileError, "Parquet", None),
    ("wrong_delimiter_semicolon.csv", SchemaError, "semicolon ';' as delimiter", None),
    ("missing_column_tests.csv", SchemaError, "missing required column(s) tests", None),
    ("header_only.csv", EmptyFileError, "no data rows", None),
    ("extra_column.csv", None, {}, 4),
    (
        "speeds_negative_zero_absurd.csv",
        None,
        {
            2: ("avg_d_kbps", "avg_d_kbps <= 0"),
            3: ("avg_u_kbps", "avg_u_kbps <= 0"),
            4: ("avg_d_kbps", "absurd speed"),
        },
        2,
    ),
    (
        "tests_zero.csv",
        None,
        {2: ("tests; devices", "tests < 1"), 3: ("devices", "devices > tests")},
        1,
    ),
    (
        "latency_and_missing.csv",
        None,
        {
            1: ("avg_lat_ms", "avg_lat_ms negative"),
            2: ("avg_lat_ms", "above 60,000 ms"),
            3: ("avg_u_kbps", "missing or not a number"),
        },
        1,
    ),
    (
        "duplicate_quadkeys.csv",
        None,
        {
            3: ("quadkey", "duplicate quadkey of row 1"),
            5: ("quadkey", "duplicate quadkey of row 1"),
        },
        3,
    ),
    (
        "wrong_zoom_quadkeys.csv",
        None,
        {
            2: ("quadkey", "15 digits (zoom 15)"),
            3: ("quadkey", "17 digits (zoom 17)"),
            4: ("quadkey", "other than digits 0-3"),
            5: ("quadkey", "other than digits 0-3"),
        },
        1,
    ),
    (
        "wkt_mismatch.csv",
        None,
        {2: ("tile", "disagree with the quadkey"), 3: ("tile", "unparseable")},
        2,
    ),
    (
        # Bangkok, Manila and the sea off Borneo: out of scope, counted, never quarantined
        "outside_vietnam.csv",
        None,
        {},
        1,
    ),
]
#: Rows each bad-input file holds outside the study area.
OUTSIDE = {"outside_vietnam.csv": 3}


@pytest.mark.parametrize(
    ("name", "error", "expected", "n_accepted"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_inputs(name, error, expected, n_accepted):
    path = BAD / name
    if error is not None:
        with pytest.raises(error) as info:
            read_speed_tiles(path)
        assert type(info.value) is error
        assert str(path) in str(info.value) and expected in str(info.value)
        assert info.value.__cause__ is None or not isinstance(info.value.__cause__, InputError)
        return
    res = read_speed_tiles(path)
    assert res.reconciles()
    assert res.n_outside == OUTSIDE.get(name, 0)
    assert res.n_read == res.n_accepted + res.n_quarantined + res.n_outside
    assert res.n_accepted == n_accepted
    got = _quarantine(res)
    assert set(got) == set(expected)
    for row, (column, reason) in expected.items():
        assert got[row][0] == column
        assert reason in got[row][1]
    assert (res.quarantined["_file"] == str(path)).all()


def test_missing_column_error_names_column():
    with pytest.raises(SchemaError) as info:
        read_speed_tiles(BAD / "missing_column_tests.csv")
    assert info.value.column == "tests"


def test_extra_column_is_kept():
    res = read_speed_tiles(BAD / "extra_column.csv")
    assert (res.accepted["operator"] == "Viettel").all()


def test_quarantine_keeps_original_text():
    res = read_speed_tiles(BAD / "speeds_negative_zero_absurd.csv")
    row = res.quarantined.set_index("_row").loc[4]
    assert row["avg_d_kbps"] == "20000000"
    assert row["quadkey"].startswith("13")


def test_empty_tile_wkt_is_allowed():
    res = read_speed_tiles(BAD / "wkt_mismatch.csv")
    assert (res.accepted["tile"] == "").sum() == 1


# ------------------------------------------------------------------ good inputs and metadata


def test_good_csv_and_meta():
    path = GOOD / "2025-07-01_performance_fixed_tiles.csv"
    res = read_speed_tiles(path)
    assert res.n_quarantined == 0 and res.n_accepted == 12
    assert res.meta["period"] == "2025Q3" and res.meta["kind"] == "fixed"
    assert res.meta["sample"] is False
    assert len(res.meta["sha256"]) == 64
    a = res.accepted
    assert a["quadkey"].str.len().eq(16).all()
    assert a["tests"].dtype == np.int64 and a["avg_d_kbps"].dtype == np.float64
    west, south, east, north = VIETNAM_BBOX
    assert a["lng"].between(west, east).all() and a["lat"].between(south, north).all()


def test_good_parquet_newer_columns_and_sample_flag():
    res = read_speed_tiles(GOOD / "2025-07-01_performance_mobile_tiles.parquet")
    assert res.n_quarantined == 0 and res.meta["sample"] is True
    assert res.meta["kind"] == "mobile" and res.meta["period"] == "2025Q3"
    a = res.accepted
    # Ookla's own tile_x / tile_y (centroid lon / lat) are kept under other names
    np.testing.assert_allclose(a["ookla_tile_x"], a["lng"], atol=1e-3)
    np.testing.assert_allclose(a["ookla_tile_y"], a["lat"], atol=1e-3)
    assert a["avg_lat_down_ms"].isna().any() and a["avg_lat_down_ms"].notna().any()
    assert a["tile_x"].dtype == np.int64


@pytest.mark.parametrize(
    ("name", "period", "kind"),
    [
        ("2025-07-01_performance_fixed_tiles.csv", "2025Q3", "fixed"),
        ("mobile_2025-Q3.csv", "2025Q3", "mobile"),
        ("type=fixed/year=2025/quarter=4/part.csv", "2025Q4", "fixed"),
        ("tiles.csv", None, None),
    ],
)
def test_period_and_kind_from_name(tmp_path, name, period, kind):
    dest = tmp_path / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(GOOD / "2025-07-01_performance_fixed_tiles.csv", dest)
    res = read_speed_tiles(dest)
    assert (res.meta["period"], res.meta["kind"]) == (period, kind)


def test_kind_contradicting_name(tmp_path):
    with pytest.raises(InputError, match="file name says fixed"):
        read_speed_tiles(GOOD / "2025-07-01_performance_fixed_tiles.csv", kind="mobile")


def test_unsupported_and_missing_file(tmp_path):
    (tmp_path / "tiles.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match="unsupported"):
        read_speed_tiles(tmp_path / "tiles.xlsx")
    with pytest.raises(InputError, match="does not exist"):
        read_speed_tiles(tmp_path / "nope.csv")


def test_sample_comment_in_csv(tmp_path):
    text = (GOOD / "2025-07-01_performance_fixed_tiles.csv").read_text()
    dest = tmp_path / "2025Q3_fixed.csv"
    dest.write_text("# gap_monitor_sample=true\n# SYNTHETIC\n" + text)
    res = read_speed_tiles(dest)
    assert res.meta["sample"] is True and res.n_accepted == 12


def test_integer_quadkeys_in_parquet(tmp_path):
    """Vietnam's quadkeys start with 1: an integer column still decodes; a leading 0 is lost."""
    src = read_speed_tiles(GOOD / "2025-07-01_performance_fixed_tiles.csv").accepted
    qk = src["quadkey"].astype(np.int64).tolist() + [123]  # '123' stands for a lost '0...0123'
    table = pa.table(
        {
            "quadkey": pa.array(qk, pa.int64()),
            **{
                c: pa.array(list(src[c]) + [src[c].iloc[0]])
                for c in ("avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices")
            },
        }
    )
    pq.write_table(table, tmp_path / "fixed_2025Q3.parquet")
    res = read_speed_tiles(tmp_path / "fixed_2025Q3.parquet")
    assert res.meta["quadkey_was_integer"] is True
    assert res.n_accepted == len(src)
    assert list(res.accepted["quadkey"]) == list(src["quadkey"])
    assert _quarantine(res) == {len(src) + 1: ("quadkey", "quadkey has 3 digits (zoom 3), not 16")}


def test_wkb_tile_column_in_parquet(tmp_path):
    src = read_speed_tiles(GOOD / "2025-07-01_performance_fixed_tiles.csv").accepted
    wkb = shapely.to_wkb(shapely.from_wkt(src["tile"].to_numpy()))
    wkb[1] = shapely.to_wkb(shapely.box(0, 0, 1, 1))  # wrong tile for row 2
    table = pa.Table.from_pandas(
        src.drop(columns=["tile", "tile_x", "tile_y", "lat", "lng"]), preserve_index=False
    )
    table = table.append_column("tile", pa.array(list(wkb), pa.binary()))
    pq.write_table(table, tmp_path / "fixed_2025Q3.parquet")
    res = read_speed_tiles(tmp_path / "fixed_2025Q3.parquet")
    assert set(_quarantine(res)) == {2}
    assert res.accepted["tile"].str.startswith("POLYGON").all()


# ------------------------------------------------------------------ real Ookla sample tiles


@needs_ookla
@pytest.mark.parametrize("name", OOKLA_FILES)
def test_real_ookla_tiles_read_clean(name):
    path = OOKLA / name
    res = read_speed_tiles(path, study_area=False)
    assert res.reconciles() and res.n_quarantined == 0 and res.n_accepted > 0
    assert res.meta["period"] == "2023Q4" and res.meta["kind"] in ("fixed", "mobile")
    a = res.accepted
    # decoded tiles re-encode to the quadkey, and the centroid is shapely's centroid of the tile
    assert (tile_to_quadkey(a["tile_x"], a["tile_y"], 16) == a["quadkey"].to_numpy(dtype=str)).all()
    if "tile" in a:
        geoms = shapely.from_wkt(a["tile"].to_numpy())
        np.testing.assert_allclose(shapely.get_x(shapely.centroid(geoms)), a["lng"], atol=1e-9)
        np.testing.assert_allclose(shapely.get_y(shapely.centroid(geoms)), a["lat"], atol=1e-9)
        bounds = np.column_stack(tile_bounds(a["tile_x"], a["tile_y"], 16))
        np.testing.assert_allclose(shapely.bounds(geoms), bounds, atol=1e-9)


@needs_ookla
def test_real_ookla_tiles_outside_vietnam_by_default():
    res = read_speed_tiles(OOKLA / "guam_fixed_2023Q4.csv")
    assert res.n_accepted == 0 and res.n_quarantined == 0 and res.reconciles()
    assert res.n_outside == res.n_read == 565
    assert res.meta["rows_outside_study_area"] == 565


@needs_ookla
@pytest.mark.parametrize("area", ["guam", "am-samoa"])
def test_formats_agree_on_real_tiles(tmp_path, area):
    """CSV, GeoJSON, Parquet and a zipped shapefile of the same tiles give the same rows."""
    csv = read_speed_tiles(OOKLA / f"{area}_fixed_2023Q4.csv", study_area=False).accepted
    frame = pd.read_csv(OOKLA / f"{area}_fixed_2023Q4.csv", dtype={"quadkey": str})
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), tmp_path / f"{area}_fixed_2023Q4.parquet"
    )
    gdf = pyogrio.read_dataframe(OOKLA / f"{area}_fixed_2023Q4.geojson")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    pyogrio.write_dataframe(gdf, shp_dir / "2023-10-01_performance_fixed_tiles.shp")
    with zipfile.ZipFile(tmp_path / "2023-10-01_performance_fixed_tiles.zip", "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    cols = [
        "quadkey",
        "avg_d_kbps",
        "avg_u_kbps",
        "avg_lat_ms",
        "tests",
        "devices",
        "tile_x",
        "tile_y",
        "lat",
        "lng",
    ]
    want = csv[cols].sort_values("quadkey").reset_index(drop=True)
    for other in (
        tmp_path / f"{area}_fixed_2023Q4.parquet",
        OOKLA / f"{area}_fixed_2023Q4.geojson",
        shp_dir / "2023-10-01_performance_fixed_tiles.shp",
        tmp_path / "2023-10-01_performance_fixed_tiles.zip",
    ):
        res = read_speed_tiles(other, study_area=False)
        assert res.n_quarantined == 0, other
        got = res.accepted[cols].sort_values("quadkey").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


# ------------------------------------------------------------------ rules vs a slow loop


def _slow_reasons(row: dict) -> set[str]:
    """The value rules, one row at a time, written the obvious way."""
    out = set()
    for col in ("avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices"):
        if row[col] is None or np.isnan(row[col]):
            out.add(col)
    for col in ("avg_d_kbps", "avg_u_kbps"):
        v = row[col]
        if v is not None and (v <= 0 or v > MAX_KBPS):
            out.add(col)
    lat = row["avg_lat_ms"]
    if lat is not None and (lat < 0 or lat > MAX_LATENCY_MS):
        out.add("avg_lat_ms")
    t, d = row["tests"], row["devices"]
    if t is not None and (t < 1 or t != int(t)):
        out.add("tests")
    if d is not None and (d < 1 or d != int(d) or (t is not None and d > t)):
        out.add("devices")
    return out


_num = st.one_of(
    st.none(),
    st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 61_000.0, MAX_KBPS + 1.0]),
    st.integers(1, 500).map(float),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_num, _num, _num, _num, _num), min_size=1, max_size=12))
def test_value_rules_match_a_loop(tmp_path_factory, rows):
    lines = ["quadkey,avg_d_kbps,avg_u_kbps,avg_lat_ms,tests,devices"]
    x0, y0 = lnglat_to_tile([105.85], [21.03], 16)
    keys = tile_to_quadkey(x0 + np.arange(len(rows)), np.repeat(y0, len(rows)), 16)
    records = []
    for qk, vals in zip(keys, rows, strict=True):
        rec = dict(
            zip(("avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices"), vals, strict=True)
        )
        records.append(rec)
        lines.append(",".join([str(qk)] + ["" if v is None else repr(v) for v in vals]))
    path = tmp_path_factory.mktemp("tiles") / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    res = read_speed_tiles(path)
    assert res.reconciles()
    got = {r: set(c.split("; ")) for r, (c, _) in _quarantine(res).items()}
    want = {i + 1: s for i, rec in enumerate(records) if (s := _slow_reasons(rec))}
    assert got == want


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=20))
def test_duplicates_match_a_loop(tmp_path_factory, picks):
    x0, y0 = lnglat_to_tile([106.66], [10.76], 16)
    keys = tile_to_quadkey(x0 + np.asarray(picks), np.repeat(y0, len(picks)), 16)
    body = "\n".join(f"{k},50000,20000,20,5,2" for k in keys)
    path = tmp_path_factory.mktemp("dups") / "t.csv"
    path.write_text("quadkey,avg_d_kbps,avg_u_kbps,avg_lat_ms,tests,devices\n" + body + "\n")
    res = read_speed_tiles(path)
    first: dict[str, int] = {}
    want = {}
    for i, k in enumerate(keys.tolist(), start=1):
        if k in first:
            want[i] = f"duplicate quadkey of row {first[k]}"
        else:
            first[k] = i
    assert {r: reason for r, (_, reason) in _quarantine(res).items()} == want
    assert res.n_accepted == len(first)


def test_geoparquet_geometry_column(tmp_path):
    """A GeoParquet (WKB ``geometry``, no WKT ``tile``) as geopandas writes it."""
    import geopandas as gpd

    src = read_speed_tiles(GOOD / "2025-07-01_performance_fixed_tiles.csv").accepted
    gdf = gpd.GeoDataFrame(
        src.drop(columns=["tile", "tile_x", "tile_y", "lat", "lng"]),
        geometry=gpd.GeoSeries.from_wkt(src["tile"]),
        crs=4326,
    )
    gdf.to_parquet(tmp_path / "fixed_2025Q3.parquet")
    res = read_speed_tiles(tmp_path / "fixed_2025Q3.parquet")
    assert res.n_quarantined == 0 and res.n_accepted == len(src)
    np.testing.assert_allclose(res.accepted["lat"], src["lat"])
