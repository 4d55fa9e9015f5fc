"""What a refresh must run: one fingerprint per input group, compared with the last one run.

The nightly schedules and the input-directory sensor share this plan. Run keys carry the
fingerprints, so Dagster itself skips a request whose inputs have not changed: a night with
nothing new launches no run at all. Downstream assets follow by their eager automation condition.
"""

from __future__ import annotations

import dagster as dg

from dagster_project.partitions import quarters as quarter_partitions
from geodata.inputs import InputInventory

__all__ = [
    "BASE_KINDS",
    "ROOT_ASSETS",
    "FINGERPRINT_KEY",
    "add_new_quarters",
    "input_state",
    "materialized_state",
    "base_request",
    "quarter_requests",
]

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

#: Metadata key under which input assets record the fingerprint of the files they read.
FINGERPRINT_KEY = "input_fingerprint"


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


def _fingerprint_of(record: object) -> str | None:
    mat = getattr(record, "asset_materialization", None)
    value = mat.metadata.get(FINGERPRINT_KEY) if mat is not None else None
    return getattr(value, "value", None)


def materialized_state(instance: dg.DagsterInstance, quarters: list[str]) -> dict[str, str]:
    """The fingerprints recorded by the last materialisations (whoever launched them: the
    schedule, the sensor or ``make run``), in the shape of :func:`input_state`."""
    state: dict[str, str] = {}
    event = instance.get_latest_materialization_event(dg.AssetKey("population_cells"))
    if fp := _fingerprint_of(event):
        state["base"] = fp
    for quarter in quarters:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("speed_tiles"), asset_partitions=[quarter]),
            limit=1,
        ).records
        if records and (fp := _fingerprint_of(records[0])):
            state[quarter] = fp
    return state


def add_new_quarters(instance: dg.DagsterInstance, found: list[str]) -> list[str]:
    """Add the quarters found in the input directory that are not partitions yet; return them."""
    known = set(instance.get_dynamic_partitions(quarter_partitions.name))
    new = sorted(q for q in found if q not in known)
    if new:
        instance.add_dynamic_partitions(quarter_partitions.name, new)
    return new
