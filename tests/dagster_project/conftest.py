"""A one-province slice of the synthetic sample, generated once per test session."""

from __future__ import annotations

import pytest

from dagster_project.resources import DirectoryInputs, OutputStore, PipelineSettings
from geodata.sample import generate_sample

SLICE_PROVINCES = ["04"]  # Cao Bằng: small, unmerged, remote uplands and a town


@pytest.fixture(scope="session")
def sample_slice(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample") / "inputs"
    generate_sample(root, scale=0.2, provinces_34=SLICE_PROVINCES)
    return root


@pytest.fixture()
def resources(sample_slice, tmp_path):
    return {
        "inputs": DirectoryInputs(path=str(sample_slice)),
        "outputs": OutputStore(path=str(tmp_path / "out")),
        "settings": PipelineSettings(rollup_resolutions=[6]),
    }
