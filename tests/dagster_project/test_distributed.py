"""Past one machine: asset values on shared storage (a folder or S3), the run's configuration
carrying the launcher's settings to every step, the executors chosen by the environment, and
publication on an object store behind a pointer. `make scale-test` runs the whole refresh on
Postgres, Redis, S3 and two Celery workers; these are the fast pieces."""

import json

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from dagster_project.executors import executor_from_env
from dagster_project.resources import (
    DirectoryInputs,
    OutputStore,
    PipelineSettings,
    SampleInputs,
    resource_run_config,
)
from dagster_project.storage import (
    PARQUET_MAGIC,
    SharedStorageIOManager,
    decode_value,
    encode_value,
)
from tests.s3_server import keys, moto_s3

BUCKET = "gap-monitor-test"


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server with credentials and endpoint in the environment."""
    yield from moto_s3(BUCKET)


# --- values between steps ------------------------------------------------------------------


def test_tables_are_stored_as_parquet_and_come_back_equal():
    cells = pd.DataFrame(
        {
            "cell": np.array([0x8865A84A2BFFFFF, 0x8865A84A2DFFFFF], dtype=np.uint64),
            "people": [12.5, np.nan],
            "class": pd.Categorical(["served", "unserved"]),
            "name": ["Cao Bằng", "Đà Nẵng"],
        }
    )
    data = encode_value(cells)
    assert data[:4] == PARQUET_MAGIC
    pd.testing.assert_frame_equal(decode_value(data), cells)

    gdf = gpd.GeoDataFrame(
        {"code": ["04", "48"]}, geometry=shapely.points([106.25, 108.2], [22.67, 16.05]), crs=4326
    )
    back = decode_value(encode_value(gdf))
    assert isinstance(back, gpd.GeoDataFrame) and back.crs == gdf.crs
    assert back.geometry.equals(gdf.geometry) and back["code"].tolist() == ["04", "48"]

    table = pa.table({"h3": pa.array([1, 2], pa.uint64())})
    assert decode_value(encode_value(table)).equals(table)


def test_values_parquet_cannot_hold_are_pickled_whole():
    with_attrs = pd.DataFrame({"a": [1]})
    with_attrs.attrs["outside"] = pd.DataFrame({"cell": [7]})  # attrs: not kept by Parquet
    views = {"34": pd.DataFrame({"a": [1]}), "63": pd.DataFrame({"a": [2]})}
    for value in (with_attrs, views, {"x": np.arange(3)}):
        data = encode_value(value)
        assert data[:4] != PARQUET_MAGIC
    back = decode_value(encode_value(with_attrs))
    pd.testing.assert_frame_equal(back.attrs["outside"], with_attrs.attrs["outside"])


quarters = dg.StaticPartitionsDefinition(["2026Q2", "2026Q3"])


@dg.asset(partitions_def=quarters)
def tiles(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"quarter": [context.partition_key], "tests": [3]})


@dg.asset
def every_quarter(tiles: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(tiles.values(), ignore_index=True)


def _run_graph(io_manager: SharedStorageIOManager, instance: dg.DagsterInstance) -> pd.DataFrame:
    for q in quarters.get_partition_keys():
        dg.materialize(
            [tiles], partition_key=q, resources={"io_manager": io_manager}, instance=instance
        )
    result = dg.materialize(
        [tiles, every_quarter],
        selection=[every_quarter],
        resources={"io_manager": io_manager},
        instance=instance,
    )
    return result.output_for_node("every_quarter")


def test_values_on_s3_are_read_by_the_next_step(s3):
    io = SharedStorageIOManager(base_path=f"s3://{BUCKET}/values")
    with dg.instance_for_test() as instance:
        out = _run_graph(io, instance)
    assert sorted(out["quarter"]) == ["2026Q2", "2026Q3"]
    stored = keys(s3, BUCKET, "values/")
    assert stored == ["values/every_quarter", "values/tiles/2026Q2", "values/tiles/2026Q3"]
    body = s3.get_object(Bucket=BUCKET, Key="values/tiles/2026Q3")["Body"].read()
    assert body[:4] == PARQUET_MAGIC  # readable by any Parquet reader, not only by Dagster


def test_local_default_is_the_instance_storage_folder_and_leaves_no_temp_file(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        _run_graph(SharedStorageIOManager(), instance)
        storage = instance.storage_directory()
    from pathlib import Path

    files = {p.relative_to(storage).as_posix() for p in Path(storage).rglob("*") if p.is_file()}
    files = {f for f in files if "compute_logs" not in f}  # the instance's own logs live there too
    assert files == {"every_quarter", "tiles/2026Q2", "tiles/2026Q3"}


# --- the run's configuration carries the launcher's settings --------------------------------


@dg.asset
def where(inputs: DirectoryInputs, outputs: OutputStore, settings: PipelineSettings) -> dict:
    return {
        "inputs": inputs.path,
        "sample": inputs.sample,
        "outputs": outputs.path,
        "thresholds": settings.thresholds,
    }


def test_a_step_uses_the_run_configuration_not_its_own_environment(tmp_path):
    launcher = {
        "inputs": DirectoryInputs(path=str(tmp_path / "user-inputs")),
        "outputs": OutputStore(path=str(tmp_path / "shared-out"), publish_url="s3://b/p"),
        "settings": PipelineSettings(thresholds="vn_2025"),
        "io_manager": SharedStorageIOManager(base_path=str(tmp_path / "values")),
    }
    # what another machine's environment would build: the sample, its own folder, defaults
    worker = {
        "inputs": SampleInputs(path=str(tmp_path / "worker-sample")),
        "outputs": OutputStore(path=str(tmp_path / "worker-out")),
        "settings": PipelineSettings(),
        "io_manager": SharedStorageIOManager(),
    }
    config = resource_run_config(launcher)
    json.dumps(config)  # stored with the run: plain JSON
    result = dg.materialize([where], resources=worker, run_config=config)
    assert result.output_for_node("where") == {
        "inputs": str(tmp_path / "user-inputs"),
        "sample": False,  # a user's folder is never taken for the sample (nor regenerated)
        "outputs": str(tmp_path / "shared-out"),
        "thresholds": "vn_2025",
    }
    assert (tmp_path / "values" / "where").is_file()
    assert not (tmp_path / "worker-sample").exists()


# --- executors --------------------------------------------------------------------------------


def test_executor_is_chosen_by_the_environment():
    assert executor_from_env({}) is None
    assert executor_from_env({"GAP_MONITOR_EXECUTOR": "in_process"}) is dg.in_process_executor
    mp = executor_from_env(
        {"GAP_MONITOR_EXECUTOR": "multiprocess", "GAP_MONITOR_MAX_CONCURRENT": "3"}
    )
    assert mp.name == "multiprocess"
    fs = executor_from_env({"GAP_MONITOR_EXECUTOR": "forkserver"})
    assert fs.name == "multiprocess"
    with pytest.raises(ValueError, match="expected one of"):
        executor_from_env({"GAP_MONITOR_EXECUTOR": "spark"})
    with pytest.raises(ValueError, match="GAP_MONITOR_CELERY_BROKER"):
        executor_from_env({"GAP_MONITOR_EXECUTOR": "celery"})
    pytest.importorskip("dagster_celery")
    celery = executor_from_env(
        {"GAP_MONITOR_EXECUTOR": "celery", "GAP_MONITOR_CELERY_BROKER": "redis://127.0.0.1:1/0"}
    )
    assert celery.name == "celery"


def test_the_refresh_job_holds_every_asset_and_publication_is_in_a_pool_of_its_own():
    from dagster_project.definitions import ALL_ASSETS, refresh_job

    job = refresh_job()
    keys = {k.to_user_string() for a in ALL_ASSETS for k in a.keys}
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= keys
    (manifest,) = [a for a in ALL_ASSETS if "output_manifest" in {k.path[-1] for k in a.keys}]
    pools = {node.pool for node in [manifest.node_def]}
    assert pools == {"gap_monitor_publication"}


def test_the_deployment_instance_configuration_is_valid(tmp_path, monkeypatch):
    """deploy/dagster.yaml passes Dagster's own validation (no database is contacted)."""
    import shutil
    from pathlib import Path

    from dagster._core.instance.ref import InstanceRef

    deploy = Path(__file__).parents[2] / "deploy" / "dagster.yaml"
    shutil.copy(deploy, tmp_path / "dagster.yaml")
    for key, value in {
        "GAP_MONITOR_PG_HOST": "db",
        "GAP_MONITOR_PG_PORT": "5432",
        "GAP_MONITOR_PG_USER": "dagster",
        "GAP_MONITOR_PG_PASSWORD": "x",
        "GAP_MONITOR_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(key, value)
    pytest.importorskip("dagster_postgres")
    ref = InstanceRef.from_dir(str(tmp_path))
    assert "Postgres" in ref.run_storage_data.class_name
    assert "QueuedRunCoordinator" in ref.run_coordinator_data.class_name
    assert ref.settings["concurrency"]["pools"]["default_limit"] == 1


def test_the_local_instance_queues_refresh_runs_one_at_a_time(tmp_path):
    from dagster._core.instance.ref import InstanceRef

    from dagster_project.run import ensure_home

    ensure_home(tmp_path)
    ref = InstanceRef.from_dir(str(tmp_path))  # Dagster's own validation
    (limit,) = ref.settings["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limit["key"] == "gap_monitor/inputs" and limit["limit"] == 1
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_home(tmp_path)  # a user's own configuration is kept
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"
