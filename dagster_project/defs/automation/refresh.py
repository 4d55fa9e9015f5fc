"""What a refresh must run: one fingerprint per input group, compared with the last one run.

The nightly schedules and the input-directory sensor share this plan. Run keys carry the
fingerprints, so Dagster itself skips a request whose inputs have not changed: a night with
nothing new launches no run at all. Downstream assets follow by their eager automation condition.
"""

from __future__ import annotations

import dagster as dg

from geodata.inputs import InputInventory

__all__ = ["BASE_KINDS", "ROOT_ASSETS", "input_state", "base_request", "quarter_requests"]

#: Input kinds that feed the unpartitioned root assets.
BASE_KINDS = ("cell_sites", "coverage", "population", "adoption")
#: Unpartitioned assets that read input files (the roots of the graph besides speed tiles).
ROOT_ASSETS = (
    "province_boundaries",
    "population_cells",
    "cell_sites",
    "coverage_rasters",
    "adoption_statistics",
)


def input_state(inv: InputInventory) -> dict[str, str]:
    """Fingerprint of the base inputs (key ``"base"``) and of each quarter's speed tiles."""
    state = {"base": inv.fingerprint(BASE_KINDS)}
    for quarter in inv.quarters:
        state[quarter] = inv.fingerprint((), quarter=quarter)
    return state


def base_request(state: dict[str, str]) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"base:{state['base']}", tags={"gap_monitor/inputs": "base"})


def quarter_requests(state: dict[str, str], only: set[str] | None = None) -> list[dg.RunRequest]:
    return [
        dg.RunRequest(partition_key=q, run_key=f"{q}:{fp}", tags={"gap_monitor/inputs": q})
        for q, fp in sorted(state.items())
        if q != "base" and (only is None or q in only)
    ]
