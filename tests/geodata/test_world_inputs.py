"""World files as their publishers distribute them (geodata.sample.world), read back: the readers
accept exactly the rows in the study area, skip the rest as outside, quarantine nothing that is
valid, and still quarantine a broken key that may be Vietnamese."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geodata.quadkeys import OOKLA_ZOOM, quadkey_to_tile, tile_centroids
from geodata.readers.ookla import read_speed_tiles
from geodata.readers.opencellid import read_cell_sites
from geodata.sample.generate import generate_sample
from geodata.sample.world import (
    OOKLA_PUBLISHED_SCHEMA,
    OPENCELLID_HEADER,
    read_text_table,
    world_speed_tiles,
    write_world_cell_towers,
    write_world_speed_tiles,
)
from geodata.study_area import in_study_area

N_ROWS = 40_000


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "sample"
    generate_sample(root, scale=0.3, provinces_34=["04", "22"], periods=["2026Q3"])
    (fixed,) = (root / "speed_tiles").glob("*_fixed_*.parquet")
    (cells,) = (root / "cell_sites").glob("*.csv")
    return pq.read_table(fixed), read_text_table(cells)


@pytest.mark.parametrize("order", ["quadkey", "shuffled"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv.gz"])
def test_tile_reader_accepts_exactly_the_study_area(sample, tmp_path, order, suffix):
    vn, _ = sample
    path = tmp_path / f"2026-07-01_performance_fixed_tiles{suffix}"
    truth = write_world_speed_tiles(vn, path, N_ROWS, order=order, row_group_size=4096)
    assert truth.rows == N_ROWS and 0 < truth.inside <= vn.num_rows
    res = read_speed_tiles(path)
    assert res.n_read == N_ROWS
    assert res.n_accepted == truth.inside
    assert res.n_quarantined == 0
    assert res.n_outside == truth.outside
    assert res.reconciles()
    assert res.meta["sample"] is True  # synthetic, and says so
    assert in_study_area(res.accepted["lng"], res.accepted["lat"]).all()


def test_published_layout_and_foreign_rows_in_the_box(sample):
    vn, _ = sample
    table, inside = world_speed_tiles(vn, N_ROWS, seed=3)
    assert table.schema.names == OOKLA_PUBLISHED_SCHEMA.names
    assert len(set(table.column("quadkey").to_pylist())) == N_ROWS  # one row per tile
    keys = table.column("quadkey").to_numpy(zero_copy_only=False).astype(str)
    assert np.char.str_len(keys.astype("S")).min() == OOKLA_ZOOM
    x, y, _ = quadkey_to_tile(keys)
    lat, lng = tile_centroids(x, y, OOKLA_ZOOM)
    np.testing.assert_allclose(table.column("tile_x").to_numpy(), lng)
    np.testing.assert_allclose(table.column("tile_y").to_numpy(), lat)
    in_box = (lng > 102) & (lng < 117.5) & (lat > 6.5) & (lat < 23.6)
    here = in_study_area(lng, lat)
    assert here.sum() == inside
    # foreign tiles inside Vietnam's bounding box: what a box filter wrongly keeps
    assert (in_box & ~here).sum() > 0.05 * N_ROWS
    tests, devices = table.column("tests").to_numpy(), table.column("devices").to_numpy()
    assert (devices >= 1).all() and (tests >= devices).all()


def test_broken_keys_that_may_be_vietnamese_are_quarantined(sample, tmp_path):
    vn, _ = sample
    table, inside = world_speed_tiles(vn, 5_000, seed=4)
    keys = vn.column("quadkey").to_numpy(zero_copy_only=False).astype(str)
    x, y, _ = quadkey_to_tile(keys)
    lat, lng = tile_centroids(x, y, OOKLA_ZOOM)
    first_vn = keys[np.argmax(in_study_area(lng, lat))]
    broken = [
        "",  # missing
        "abc",  # no digit: cannot be placed
        first_vn[:12] + "9999",  # a Vietnamese tile's prefix, garbage after
        first_vn[:15],  # zoom 15
    ]
    foreign_garbage = "0000000000" + "x" * 6  # the first digits already name a foreign tile
    rows = table.slice(0, len(broken) + 1).to_pylist()
    for row, key in zip(rows, [*broken, foreign_garbage], strict=True):
        row["quadkey"], row["tile"] = key, None
    table = pa.concat_tables([table, pa.Table.from_pylist(rows, schema=table.schema)])
    path = tmp_path / "2026-07-01_performance_fixed_tiles.parquet"
    pq.write_table(table, path)
    res = read_speed_tiles(path)
    assert res.n_accepted == inside
    assert sorted(res.quarantined["quadkey"].astype(str)) == sorted(broken)
    assert res.n_outside == table.num_rows - inside - len(broken)
    assert res.reconciles()


def test_cell_reader_keeps_vietnam_only(sample, tmp_path):
    _, cells = sample
    path = tmp_path / "cell_towers.csv.gz"
    truth = write_world_cell_towers(cells, path, 30_000, n_vn_abroad=150)
    with gzip.open(path, "rt") as fh:
        assert fh.readline().startswith("# gap_monitor_sample=true")
        assert fh.readline().strip() == ",".join(OPENCELLID_HEADER)  # OpenCelliD's header, bare
    res = read_cell_sites(path)
    assert res.n_read == 30_000
    assert res.n_accepted == truth.inside
    assert res.n_quarantined == 0
    assert res.reconciles()
    assert res.meta["sites_outside_study_area"] >= 150  # Vietnamese networks located abroad
    assert (res.accepted["mcc"] == 452).all()
