"""Schedules fire at 02:00 Asia/Ho_Chi_Minh; the sensor's cursor tracks input fingerprints."""

from __future__ import annotations

import json
import shutil

import dagster as dg

from dagster_project.definitions import build_definitions
from dagster_project.defs.automation.schedules import (
    input_files_sensor,
    nightly_refresh,
    nightly_speed_tiles_refresh,
)
from dagster_project.resources import DirectoryInputs
from geodata.sample import DEFAULT_PERIODS


def test_definitions_load(resources):
    defs = build_definitions(resources)
    repo = defs.get_repository_def()
    names = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {
        "province_boundaries",
        "population_cells",
        "speed_tiles",
        "gap_cells",
        "province_summaries",
        "inequality",
        "gap_maps",
        "gap_trends",
        "gap_clusters",
        "investment_priorities",
        "output_manifest",
    } <= names
    assert {s.name for s in defs.schedules} == {"nightly_refresh", "nightly_speed_tiles_refresh"}


def test_schedules_run_nightly_at_two_in_vietnam():
    for sched in (nightly_refresh, nightly_speed_tiles_refresh):
        assert sched.cron_schedule == "0 2 * * *"
        assert sched.execution_timezone == "Asia/Ho_Chi_Minh"


def test_schedule_run_keys_change_only_with_inputs(sample_slice, tmp_path):
    inputs = DirectoryInputs(path=str(sample_slice))
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, resources={"inputs": inputs}) as ctx:
            first = nightly_refresh(ctx)
            again = nightly_refresh(ctx)
            quarters = nightly_speed_tiles_refresh(ctx)
        assert [r.run_key for r in first] == [r.run_key for r in again]
        assert {r.partition_key for r in quarters} == set(DEFAULT_PERIODS)
        assert set(instance.get_dynamic_partitions("quarter")) == set(DEFAULT_PERIODS)


def test_sensor_cursor_notices_new_and_changed_files(sample_slice, tmp_path):
    root = tmp_path / "inputs"
    shutil.copytree(sample_slice, root)
    inputs = DirectoryInputs(path=str(root))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"inputs": inputs})
        first = input_files_sensor(ctx)
        assert isinstance(first, dg.SensorResult)
        assert len(first.run_requests) == 1 + len(DEFAULT_PERIODS)  # base + every quarter
        cursor = first.cursor
        ctx2 = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"inputs": inputs}
        )
        second = input_files_sensor(ctx2)
        assert not second.run_requests and second.skip_reason
        adoption = sorted((root / "adoption").glob("*.csv"))[0]
        adoption.write_bytes(adoption.read_bytes() + b"\n")
        ctx3 = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"inputs": inputs}
        )
        third = input_files_sensor(ctx3)
        assert [r.tags["gap_monitor/inputs"] for r in third.run_requests] == ["base"]
        assert json.loads(third.cursor)["base"] != json.loads(cursor)["base"]
