"""Resources: where inputs come from, where outputs go, and the run settings.

``InputSource`` has two implementations, chosen in ``definitions.py`` only:
``DirectoryInputs`` (a user's own input directory) and ``SampleInputs`` (the deterministic
synthetic sample, generated on first use; tests use a one-province slice of it).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from geodata.indicators.service import ServiceThresholds, threshold_set
from geodata.inputs import InputInventory, scan_input_dir

__all__ = ["InputSource", "DirectoryInputs", "SampleInputs", "OutputStore", "PipelineSettings"]


class InputSource(dg.ConfigurableResource):
    """Interface: an input directory in the documented layout."""

    #: A new or changed input file counts for the sensor only once its size and modification
    #: time have stayed unchanged this long (a file still being copied is not read half-written).
    settle_seconds: float = 120.0

    def root(self) -> Path:
        raise NotImplementedError

    def inventory(self) -> InputInventory:
        """Scan the input directory (sha256 of every file) in the documented layout."""
        return scan_input_dir(self.root())


class DirectoryInputs(InputSource):
    """A user's own input directory (``GAP_MONITOR_INPUT_DIR``)."""

    path: str

    def root(self) -> Path:
        return Path(self.path)


class SampleInputs(InputSource):
    """The synthetic sample, generated deterministically into ``path`` on first use."""

    path: str
    seed: int = 20250701
    scale: float = 1.0
    provinces_34: list[str] = []

    def root(self) -> Path:
        from geodata.sample import ensure_sample

        # regenerated when missing, or made by other arguments or an older generator
        root, _ = ensure_sample(
            self.path, seed=self.seed, scale=self.scale, provinces_34=self.provinces_34 or None
        )
        return root


class OutputStore(dg.ConfigurableResource):
    """Where published outputs land (``GAP_MONITOR_OUTPUT_DIR``, default ``assets/``)."""

    path: str

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

    def service_thresholds(self) -> ServiceThresholds:
        return threshold_set(self.thresholds)

    def is_detail_quarter(self, quarter: str, all_quarters: list[str]) -> bool:
        """Whether ``quarter`` is one of the latest ``detail_quarters`` of ``all_quarters``."""
        return quarter in detail_quarters(all_quarters, self.detail_quarters)
