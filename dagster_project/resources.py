"""Resources: where inputs come from, where outputs go, and the run settings.

``InputSource`` reads a user's own input directory (``DirectoryInputs``) or the deterministic
synthetic sample, generated on first use (``SampleInputs``; tests use a one-province slice of it),
chosen in ``definitions.py`` only. :func:`resource_run_config` turns the resources into run
configuration, so every step of a run, in whatever process or on whatever machine, uses the
launcher's settings rather than its own environment's.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from geodata.indicators.service import ServiceThresholds, threshold_set
from geodata.inputs import InputInventory, scan_input_dir

__all__ = [
    "InputSource",
    "DirectoryInputs",
    "SampleInputs",
    "OutputStore",
    "PipelineSettings",
    "resource_run_config",
]


class InputSource(dg.ConfigurableResource):
    """An input directory in the documented layout: a user's own (``sample=False``) or the
    synthetic sample, generated deterministically into ``path`` on first use (``sample=True``).

    One class with every field, so a run's configuration (which Dagster stores with the run and
    hands to every step, wherever it runs) says all there is to know: a worker whose own
    environment differs still reads the launcher's inputs, and never mistakes a user's folder
    for the sample or the other way round.
    """

    path: str = ""
    #: The synthetic sample (generated when missing, or made by other arguments or an older
    #: generator) rather than a user's own directory.
    sample: bool = False
    seed: int = 20250701
    scale: float = 1.0
    provinces_34: list[str] = []
    #: A new or changed input file counts for the sensor only once its size and modification
    #: time have stayed unchanged this long (a file still being copied is not read half-written).
    settle_seconds: float = 120.0

    def root(self) -> Path:
        if not self.sample:
            return Path(self.path)
        from geodata.sample import ensure_sample

        root, _ = ensure_sample(
            self.path, seed=self.seed, scale=self.scale, provinces_34=self.provinces_34 or None
        )
        return root

    def inventory(self) -> InputInventory:
        """Scan the input directory (sha256 of every file) in the documented layout."""
        return scan_input_dir(self.root())


class DirectoryInputs(InputSource):
    """A user's own input directory (``GAP_MONITOR_INPUT_DIR``)."""

    sample: bool = False


class SampleInputs(InputSource):
    """The synthetic sample, generated deterministically into ``path`` on first use."""

    sample: bool = True


class OutputStore(dg.ConfigurableResource):
    """Where published outputs land (``GAP_MONITOR_OUTPUT_DIR``, default ``assets/``), and the
    object store each published generation is also put on (``GAP_MONITOR_PUBLISH_URL``, e.g.
    ``s3://bucket/gap-monitor``; empty: none)."""

    path: str
    publish_url: str = ""

    def root(self) -> Path:
        root = Path(self.path)
        root.mkdir(parents=True, exist_ok=True)
        return root

    def file(self, *parts: str) -> Path:
        dest = self.root().joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest

    def relative(self, path: str | os.PathLike[str]) -> str:
        return str(Path(path).relative_to(self.root()))


def detail_quarters(all_quarters: list[str], n: int) -> list[str]:
    """The latest ``n`` (at least 1) of ``all_quarters``, oldest first."""
    return sorted(all_quarters)[-max(1, int(n)) :]


class PipelineSettings(dg.ConfigurableResource):
    """Named configuration of the gap computation."""

    h3_resolution: int = 8
    rollup_resolutions: list[int] = [7, 6, 5]
    max_quarantine_share: float = 0.05
    max_input_age_days: int = 120
    #: Sites in the mobile investment plan (geodata.planning.sites), per quarter.
    plan_sites: int = 1000
    #: Technology of the planned sites: "4G" (default: rural 4G macro cells, 4 km) or "5G" (1 km).
    plan_technology: str = "4G"
    #: Quarters published in full (cell files, clusters, plans, maps, downloads), counted back
    #: from the latest; older quarters feed the trends and the targets scorecard only
    #: (speed tiles, cell table, summaries, inequality).
    detail_quarters: int = 2
    #: Service-class thresholds: "ntia_fcc" (NTIA BEAD / FCC, the default) or "vn_2025"
    #: (Vietnam's 2025 targets, Decision 36/QĐ-TTg); named in every output.
    thresholds: str = "ntia_fcc"
    #: 34-version provinces per step of the per-province work (sums, downloads, plan maps; see
    #: dagster_project.provinces): 0 for all in the split step.
    provinces_per_step: int = 0

    def service_thresholds(self) -> ServiceThresholds:
        return threshold_set(self.thresholds)

    def is_detail_quarter(self, quarter: str, all_quarters: list[str]) -> bool:
        """Whether ``quarter`` is one of the latest ``detail_quarters`` of ``all_quarters``."""
        return quarter in detail_quarters(all_quarters, self.detail_quarters)


def resource_run_config(resources: dict[str, object]) -> dict[str, dict]:
    """Run configuration (``{"resources": ...}``) holding every configurable resource's fields.

    Dagster stores a run's configuration with the run and applies it in every step process, so a
    step on a Celery worker or in a Kubernetes pod uses these paths and settings, not whatever
    its own environment would give."""
    out: dict[str, dict] = {}
    for key, res in resources.items():
        if isinstance(res, dg.ConfigurableResource | dg.ConfigurableIOManagerFactory):
            out[key] = {"config": res.model_dump()}
    return {"resources": out}
