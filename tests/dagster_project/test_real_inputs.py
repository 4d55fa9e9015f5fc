"""A first run on files shaped as their publishers distribute them: one quarter only, Ookla's hive
folders (`type=fixed/year=2026/quarter=3/`), a `.csv.gz` of mobile tiles, an OpenCelliD-style
`cell_towers.csv.gz` with every country's networks, tiles in Laos, Cambodia, Guangxi and at sea
inside Vietnam's bounding box, and stray files the scanner must name. The refresh publishes,
the quarantine stays empty, and no foreign tile or site counts in any province."""

from __future__ import annotations

import gzip
import json

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from dagster_project.resources import DirectoryInputs, OutputStore, PipelineSettings
from dagster_project.run import refresh
from geodata.kernels.cells import latlng_to_cells
from geodata.quadkeys import lnglat_to_tile, tile_to_quadkey
from geodata.sample import generate_sample
from tests.geodata.test_study_area import OUTSIDE

#: Ookla's published column order
OOKLA_COLUMNS = [
    "quadkey",
    "tile",
    "tile_x",
    "tile_y",
    "avg_d_kbps",
    "avg_u_kbps",
    "avg_lat_ms",
    "avg_lat_down_ms",
    "avg_lat_up_ms",
    "tests",
    "devices",
]
TRAPS = np.array(list(OUTSIDE.values()))  # (lng, lat)


def _trap_tiles(template: pd.DataFrame) -> pd.DataFrame:
    tx, ty = lnglat_to_tile(TRAPS[:, 0], TRAPS[:, 1], 16)
    keys = tile_to_quadkey(tx, ty, np.full(len(tx), 16))
    rows = template.iloc[np.zeros(len(TRAPS), dtype=int)].copy()
    rows["quadkey"] = [str(k) for k in keys]
    rows["tile"] = ""  # Ookla's WKT is optional for the reader: empty is allowed
    rows["tile_x"], rows["tile_y"] = TRAPS[:, 0], TRAPS[:, 1]
    rows["tests"] = 50
    return rows


def _globalise(root):
    """Rewrite the slice's inputs the way a user downloads them."""
    tiles = root / "speed_tiles"
    for kind in ("fixed", "mobile"):
        (src,) = tiles.glob(f"*_{kind}_*.parquet")
        df = pq.read_table(src).to_pandas()
        df = pd.concat([df, _trap_tiles(df)], ignore_index=True)[OOKLA_COLUMNS]
        df = df.sort_values("quadkey", kind="stable")  # Ookla's files are sorted by quadkey
        hive = tiles / f"type={kind}" / "year=2026" / "quarter=3"
        hive.mkdir(parents=True)
        name = f"2026-07-01_performance_{kind}_tiles"
        table = pa.Table.from_pandas(df, preserve_index=False)
        if kind == "fixed":
            pq.write_table(table, hive / f"{name}.parquet", row_group_size=2000)
        else:
            with gzip.open(hive / f"{name}.csv.gz", "wb") as fh:
                pacsv.write_csv(table, fh)
        src.unlink()
    (tiles / "download_log.txt").write_text("aws s3 cp --recursive ...\n")
    sites_dir = root / "cell_sites"
    (src,) = sites_dir.glob("*.csv")
    sites = pd.read_csv(src, dtype=str, keep_default_na=False)
    foreign = sites.iloc[[0, 0, 0, 0]].copy()
    foreign["mcc"] = ["456", "460", "452", "520"]  # Cambodia, China, Vietnam (in Laos), Thailand
    foreign["lon"] = ["104.92", "106.75", "102.52", "100.50"]
    foreign["lat"] = ["11.56", "22.10", "21.08", "13.75"]
    with gzip.open(sites_dir / "cell_towers.csv.gz", "wt", encoding="utf-8", newline="") as fh:
        pd.concat([foreign.iloc[[1, 3]], sites, foreign.iloc[[0, 2]]]).to_csv(fh, index=False)
    src.unlink()
    (root / "README.txt").write_text("downloaded 2026-10-02\n")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("real") / "inputs"
    generate_sample(root, scale=0.2, provinces_34=["04"], periods=["2026Q3"])
    _globalise(root)
    out = tmp_path_factory.mktemp("real") / "out"
    resources = {
        "inputs": DirectoryInputs(path=str(root)),
        "outputs": OutputStore(path=str(out)),
        "settings": PipelineSettings(rollup_resolutions=[6]),
    }
    with dg.instance_for_test() as instance:
        failed: list[str] = []
        refresh(instance, resources, failed_checks=failed)
        meta = {}
        for key in ("speed_tiles", "cell_sites"):
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            meta[key] = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        yield {"root": root, "out": out, "failed": failed, "meta": meta}


def test_the_first_run_publishes_with_every_check_passing(first_run):
    failed = [c for c in first_run["failed"] if "inputs_fresh" not in c]
    assert failed == []
    out = first_run["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert "downloads/34/04_cao-bang/2026Q3_cells.geojson" in listed
    assert "maps/unserved_by_region.png" in listed or (out / "maps/unserved_by_region.png").exists()
    assert not list((out / "tables").glob("change_*"))  # one quarter: no change table
    # the investment plans, national and per province, and the province's own plan map
    for rel in (
        "priorities/mobile_sites_2026Q3.csv",
        "priorities/fixed_routes_2026Q3.geojson",
        "priorities/cost_curve_2026Q3.csv",
        "downloads/34/04_cao-bang/2026Q3_mobile_sites.csv",
        "downloads/63/04_cao-bang/2026Q3_fixed_routes.geojson",
    ):
        assert rel in listed, rel
    plan_png = out / "downloads/34/04_cao-bang/2026Q3_plan.png"
    assert plan_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((out / "priorities").glob("*_changes_*"))  # one quarter: no plan change


def test_the_quarantine_is_empty_and_foreign_rows_are_counted_once(first_run):
    out, meta = first_run["out"], first_run["meta"]
    for name in ("speed_tiles_fixed_2026Q3", "speed_tiles_mobile_2026Q3", "cell_sites"):
        assert pd.read_csv(out / "quarantine" / f"{name}.csv").empty, name
    tiles = meta["speed_tiles"]
    for kind in ("fixed", "mobile"):
        assert tiles[f"{kind}_counts_reconcile"] is True
        # the slice is one province; its generator also scatters tiles over the whole box, so
        # the traps are a lower bound of what lies outside
        assert tiles[f"{kind}_rows_outside_study_area"] >= len(TRAPS)
        assert tiles[f"{kind}_files_read"] == 1
    sites = meta["cell_sites"]
    assert sites["rows_outside_study_area"] >= 4 and sites["counts_reconcile"] is True


def test_no_foreign_tile_or_site_counts_in_any_province(first_run):
    out = first_run["out"]
    cells = gpd.read_parquet(out / "cells" / "gap_cells_2026Q3_res8.parquet")
    traps = set(latlng_to_cells(TRAPS[:, 1], TRAPS[:, 0], 8).tolist())
    assert not traps & set(cells["cell"].astype(np.uint64).tolist())
    assert (cells["code_34"] != "").all() and (cells["code_63"] != "").all()


def test_every_skipped_file_is_named_with_why(first_run):
    inv = DirectoryInputs(path=str(first_run["root"])).inventory()
    skipped = inv.skipped_report()
    assert set(skipped) == {"README.txt", "speed_tiles/download_log.txt"}
    assert "kind folder" in skipped["README.txt"]
    kinds = {(f.speed_type, f.quarter, f.path.name) for f in inv.of_kind("speed_tiles")}
    assert kinds == {
        ("fixed", "2026Q3", "2026-07-01_performance_fixed_tiles.parquet"),
        ("mobile", "2026Q3", "2026-07-01_performance_mobile_tiles.csv.gz"),
    }
    meta = first_run["meta"]["speed_tiles"]
    assert set(meta["input_files_skipped"]) == set(skipped)


def test_every_published_file_is_readable_by_other_users(first_run):
    """A portal or web server running as another user can read every output (0644 under the
    usual umask 022; the umask is respected, never widened)."""
    import os

    from geodata.provenance import published_file_mode

    want = published_file_mode()
    files = [p for p in first_run["out"].rglob("*") if p.is_file() and not p.is_symlink()]
    assert files
    wrong = [str(p) for p in files if p.stat().st_mode & 0o777 != want]
    assert not wrong, f"{len(wrong)} files not {oct(want)}: {wrong[:5]}"
    for d in [p for p in first_run["out"].rglob("*") if p.is_dir() and not p.is_symlink()]:
        mode = d.stat().st_mode & 0o777
        if want & 0o004:  # others may read files, so they may list and enter folders
            assert mode & 0o005 == 0o005, (str(d), oct(mode))
        assert os.access(d, os.R_OK | os.X_OK)
