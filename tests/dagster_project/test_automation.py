"""Schedules fire at 02:00 Asia/Ho_Chi_Minh; the sensor's cursor tracks input fingerprints."""

from __future__ import annotations

import shutil

import dagster as dg

from dagster_project.definitions import build_definitions
from dagster_project.defs.automation.schedules import (
    input_files_sensor,
    nightly_refresh,
)
from dagster_project.resources import DirectoryInputs, OutputStore, PipelineSettings
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
    assert {s.name for s in defs.schedules} == {"nightly_refresh"}


def test_schedule_runs_nightly_at_two_in_vietnam():
    assert nightly_refresh.cron_schedule == "0 2 * * *"
    assert nightly_refresh.execution_timezone == "Asia/Ho_Chi_Minh"


def _range(request: dg.RunRequest) -> tuple[str | None, str | None]:
    return (
        request.tags.get("dagster/asset_partition_range_start"),
        request.tags.get("dagster/asset_partition_range_end"),
    )


def _assets(request: dg.RunRequest) -> set[str]:
    return {k.to_user_string() for k in request.asset_selection}


def test_schedule_launches_one_run_and_its_key_changes_only_with_inputs(sample_slice, tmp_path):
    inputs = DirectoryInputs(path=str(sample_slice))
    resources = {
        "inputs": inputs,
        "outputs": OutputStore(path=str(tmp_path / "out")),
        "settings": PipelineSettings(),
    }
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, resources=resources) as ctx:
            first = nightly_refresh(ctx)
            again = nightly_refresh(ctx)
        assert len(first) == 1 and [r.run_key for r in first] == [r.run_key for r in again]
        # nothing materialised yet: every asset, every quarter, in one run
        assert _range(first[0]) == (DEFAULT_PERIODS[0], DEFAULT_PERIODS[-1])
        assert {"speed_tiles", "cell_sites", "output_manifest"} <= _assets(first[0])
        assert set(instance.get_dynamic_partitions("quarter")) == set(DEFAULT_PERIODS)


def test_sensor_cursor_notices_new_and_changed_files(sample_slice, tmp_path):
    root = tmp_path / "inputs"
    shutil.copytree(sample_slice, root)
    inputs = DirectoryInputs(path=str(root), settle_seconds=0)  # settling: the test below
    resources = {
        "inputs": inputs,
        "outputs": OutputStore(path=str(tmp_path / "out")),
        "settings": PipelineSettings(),
    }
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources=resources)
        first = input_files_sensor(ctx)
        assert isinstance(first, dg.SensorResult)
        assert len(first.run_requests) == 1  # one run: base inputs and every quarter
        cursor = first.cursor
        ctx2 = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        second = input_files_sensor(ctx2)
        assert not second.run_requests and second.skip_reason
        adoption = sorted((root / "adoption").glob("*.csv"))[0]
        adoption.write_bytes(adoption.read_bytes() + b"\n")
        ctx3 = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        (third,) = input_files_sensor(ctx3).run_requests
        # the adoption tables and what depends on them, every quarter; no tiles, no sites
        assert "adoption_statistics" in _assets(third) and "province_summaries" in _assets(third)
        assert not {"speed_tiles", "cell_sites", "population_cells"} & _assets(third)
        assert _range(third) == (DEFAULT_PERIODS[0], DEFAULT_PERIODS[-1])
        assert "adoption changed" in third.tags["gap_monitor/why"]


def _age(path, seconds: float) -> None:
    """Set a file's modification time ``seconds`` in the past."""
    import os
    import time

    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_file_still_being_copied_launches_nothing_until_it_settles(
    sample_slice, tmp_path, monkeypatch
):
    from geodata import inputs as inputs_module

    root = tmp_path / "inputs"
    shutil.copytree(sample_slice, root)
    for p in root.rglob("*"):
        if p.is_file():
            _age(p, 3600)  # everything old: settled
    inputs = DirectoryInputs(path=str(root), settle_seconds=60)
    resources = {
        "inputs": inputs,
        "outputs": OutputStore(path=str(tmp_path / "out")),
        "settings": PipelineSettings(),
    }
    with dg.instance_for_test() as instance:
        first = input_files_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert len(first.run_requests) == 1
        # a new adoption file arrives, still being written (fresh mtime): nothing is launched,
        # nothing is hashed, and the sensor says which file it waits for
        hashed: list[str] = []
        real = inputs_module.sha256_file
        monkeypatch.setattr(
            inputs_module, "sha256_file", lambda p: hashed.append(str(p)) or real(p)
        )
        new = root / "adoption" / "late_upload.csv"
        new.write_bytes(sorted((root / "adoption").glob("*.csv"))[0].read_bytes())
        ctx = dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources)
        waiting = input_files_sensor(ctx)
        assert not waiting.run_requests and "late_upload.csv" in waiting.skip_reason.skip_message
        assert hashed == []
        # it grows under an old mtime: still not counted (size changed since the last look)
        new.write_bytes(new.read_bytes() + b"\n")
        _age(new, 3600)
        ctx = dg.build_sensor_context(instance=instance, cursor=waiting.cursor, resources=resources)
        growing = input_files_sensor(ctx)
        assert not growing.run_requests and "late_upload.csv" in growing.skip_reason.skip_message
        # unchanged since the last look and old enough: one refresh of the base inputs
        ctx = dg.build_sensor_context(instance=instance, cursor=growing.cursor, resources=resources)
        settled = input_files_sensor(ctx)
        (settled_run,) = settled.run_requests
        assert "adoption changed" in settled_run.tags["gap_monitor/why"]
        # only the new file was read: the others come from the hash memo
        assert hashed == [str(new)]
        # nothing new: nothing launched
        ctx = dg.build_sensor_context(instance=instance, cursor=settled.cursor, resources=resources)
        assert not input_files_sensor(ctx).run_requests


def test_unchanged_files_are_not_read_twice(sample_slice, tmp_path, monkeypatch):
    from geodata import inputs as inputs_module
    from geodata.inputs import scan_input_dir

    root = tmp_path / "inputs"
    shutil.copytree(sample_slice, root)
    first = scan_input_dir(root)
    hashed: list[str] = []
    real = inputs_module.sha256_file
    monkeypatch.setattr(inputs_module, "sha256_file", lambda p: hashed.append(str(p)) or real(p))
    again = scan_input_dir(root)
    assert hashed == [] and [f.sha256 for f in again.files] == [f.sha256 for f in first.files]
    changed = sorted((root / "adoption").glob("*.csv"))[0]
    changed.write_bytes(changed.read_bytes() + b"\n")
    third = scan_input_dir(root)
    assert hashed == [str(changed)]
    assert {f.path: f.sha256 for f in third.files}[changed] != {
        f.path: f.sha256 for f in first.files
    }[changed]


def test_loading_the_code_location_does_not_import_the_map_renderer():
    """The daemon and every run worker load the code location: matplotlib (the maps) is
    imported by the steps that draw, not by the definitions (about 0.4 s of 2 s)."""
    import subprocess
    import sys

    code = (
        "import sys, dagster_project.definitions as d; d.defs(); "
        "print(sorted(m for m in ('matplotlib', 'matplotlib.pyplot') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
