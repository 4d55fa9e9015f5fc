"""The nightly refresh runs once: one edit -> one run and one publication, nothing left for the
automation sensor; nothing new -> nothing launched (a file still growing: test_automation.py)."""

import shutil

import dagster as dg
import pytest

from dagster_project.definitions import build_definitions
from dagster_project.defs.automation.schedules import input_files_sensor, nightly_refresh
from dagster_project.resources import DirectoryInputs, OutputStore, PipelineSettings
from dagster_project.storage import SharedStorageIOManager
from geodata.publishing.generations import served_generations
from geodata.sample import DEFAULT_PERIODS

pytestmark = pytest.mark.slow


def _launch(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> None:
    """What the daemon does with a RunRequest, in this process."""
    job = defs.resolve_job_def(request.job_name)
    result = job.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        tags=request.tags,
        asset_selection=request.asset_selection,
        partition_key=request.partition_key,
    )
    assert result.success


def _publications(instance: dg.DagsterInstance) -> int:
    return len(instance.fetch_materializations(dg.AssetKey("output_manifest"), limit=100).records)


def test_one_edit_one_run_one_publication(sample_slice, tmp_path):
    root = tmp_path / "inputs"
    shutil.copytree(sample_slice, root)
    out = tmp_path / "out"
    resources = {
        "inputs": DirectoryInputs(path=str(root), settle_seconds=0),
        "outputs": OutputStore(path=str(out)),
        "settings": PipelineSettings(rollup_resolutions=[6]),
        "io_manager": SharedStorageIOManager(base_path=str(tmp_path / "values")),
    }
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:

        def tick(cursor=None) -> dg.SensorResult:
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, definitions=defs
            )
            return input_files_sensor(ctx)

        first = tick()
        (everything,) = first.run_requests  # a new input directory: one run, every quarter
        # the run carries the launcher's paths: a worker's own environment does not decide
        config = everything.run_config["resources"]
        assert config["inputs"]["config"]["path"] == str(root)
        assert config["outputs"]["config"]["path"] == str(out)
        _launch(defs, instance, everything)
        assert len(instance.get_runs()) == 1 and _publications(instance) == 1

        quiet = tick(first.cursor)
        assert not quiet.run_requests  # nothing new: nothing launched

        adoption = sorted((root / "adoption").glob("*.csv"))[0]
        adoption.write_bytes(adoption.read_bytes() + b"\n")
        edited = tick(quiet.cursor)
        (request,) = edited.run_requests
        assert request.tags["dagster/asset_partition_range_start"] == DEFAULT_PERIODS[0]
        assert request.tags["dagster/asset_partition_range_end"] == DEFAULT_PERIODS[-1]
        _launch(defs, instance, request)
        assert len(instance.get_runs()) == 2  # the edit: one run ...
        assert _publications(instance) == 2  # ... and one publication
        assert len(served_generations(out)) == 2
        every_quarter = instance.get_materialized_partitions(dg.AssetKey("province_summaries"))
        assert every_quarter == set(DEFAULT_PERIODS)

        # the automation sensor finds nothing left to do after the refresh run
        automation = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert automation.total_requested == 0

        assert not tick(edited.cursor).run_requests  # and the next tick launches nothing
        with dg.build_schedule_context(instance=instance, resources=resources) as ctx:
            assert isinstance(nightly_refresh(ctx), dg.SkipReason)  # nor does the schedule
