"""Province fan-out: the per-province outputs written by steps keyed quarter x province."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.definitions import resources_from_env
from dagster_project.provinces import (
    PROVINCES_PER_STEP_ENV,
    default_provinces_per_step,
    mapping_key,
    province_groups,
    provinces_of_key,
)
from dagster_project.resources import DirectoryInputs, OutputStore, PipelineSettings
from dagster_project.run import refresh
from geodata.publishing.compare import compare_generations
from geodata.reference import province_codes
from geodata.sample import DEFAULT_PERIODS


@pytest.mark.parametrize("per_step", [0, 1, 5, 12, 33, 34, 100])
def test_groups_cover_every_province_once_and_their_keys_name_them(per_step):
    groups = province_groups(per_step)
    flat = [c for g in groups for c in g]
    assert flat == list(province_codes("34"))
    assert len(groups) == (1 if per_step in (0, 34, 100) else -(-34 // per_step))
    keys = [mapping_key("2026Q3", g) for g in groups]
    assert len(set(keys)) == len(keys)
    for key, group in zip(keys, groups, strict=True):
        assert key.startswith("2026Q3_")
        assert provinces_of_key(key) == group
    if per_step == 1:
        assert keys[:2] == ["2026Q3_01", "2026Q3_04"]
    if per_step == 0:
        assert keys == ["2026Q3_all"]


def test_provinces_per_step_is_all_at_once_unless_set():
    assert default_provinces_per_step({}) == 0
    assert default_provinces_per_step({PROVINCES_PER_STEP_ENV: "4"}) == 4
    with pytest.raises(ValueError, match=PROVINCES_PER_STEP_ENV):
        default_provinces_per_step({PROVINCES_PER_STEP_ENV: "-1"})
    assert len(province_groups(9)) == 4
    env = {"GAP_MONITOR_EXECUTOR": "celery", "GAP_MONITOR_CELERY_BROKER": "redis://x:1/0"}
    assert resources_from_env(env)["settings"].provinces_per_step == 0  # whatever the executor
    env[PROVINCES_PER_STEP_ENV] = "5"
    assert resources_from_env(env)["settings"].provinces_per_step == 5


def _refresh(sample, out, per_step):
    resources = {
        "inputs": DirectoryInputs(path=str(sample)),
        "outputs": OutputStore(path=str(out)),
        "settings": PipelineSettings(rollup_resolutions=[6], provinces_per_step=per_step),
    }
    with dg.instance_for_test() as instance:
        refresh(instance, resources)
        runs = instance.get_runs()
        steps = {
            s.step_key
            for r in runs
            for s in instance.get_run_step_stats(r.run_id)
            if s.status.value == "SUCCESS"
        }
    return (out / "current").resolve(), steps


def test_one_step_per_province_publishes_the_same_files_as_one_step_for_all(sample_slice, tmp_path):
    """The slice's quarters with every province in its own step (what a Celery or multiprocess
    deployment does) against all provinces in one step (make run): every published file equal,
    timestamps aside; the plan maps and the downloads ran as steps keyed quarter x province."""
    whole, whole_steps = _refresh(sample_slice, tmp_path / "whole", 0)
    split, split_steps = _refresh(sample_slice, tmp_path / "split", 1)
    assert compare_generations(whole, split) == []
    # one group: the split steps did the work themselves, no step was handed the whole country
    assert not [s for s in whole_steps if "[" in s]
    assert {"province_sums.sums_split", "province_downloads.downloads_split"} <= whole_steps
    # the sums: one step per quarter and province with cells
    # one downloads step per detail quarter and province with cells (Cao Bằng and the
    # neighbours its border hexagons reach)
    with_cells = sorted(
        p.parent.name.split("_")[0] for p in split.glob("downloads/34/*/2026Q3_cells.geojson")
    )
    assert "04" in with_cells and len(with_cells) >= 2
    sums = sorted(s for s in split_steps if ".sums_piece[" in s)
    assert sums == [
        f"province_sums.sums_piece[{q}_{c}]" for q in DEFAULT_PERIODS for c in with_cells
    ]
    downloads = sorted(s for s in split_steps if ".downloads_write[" in s)
    assert downloads == [
        f"province_downloads.downloads_write[{q}_{c}]"
        for q in ("2026Q2", "2026Q3")
        for c in with_cells
    ]
    # every province gets its plan map (latest quarter only), one step each
    maps = sorted(s for s in split_steps if ".plan_maps_draw[" in s)
    assert maps == [f"province_plan_maps.plan_maps_draw[2026Q3_{c}]" for c in province_codes("34")]
    assert len(list(split.glob("downloads/*/*/2026Q3_plan.png"))) == 34 + 63
