"""What a refresh must run: one fingerprint per input kind and per quarter, compared with the
last ones run, turned into ONE run per detected change.

The nightly schedule and the input-directory sensor share this plan:

- a change to a base input kind (cell sites, coverage rasters, population, adoption tables)
  affects its root asset and everything downstream of it, for every quarter;
- a changed or new quarter of speed tiles affects ``speed_tiles`` and everything downstream,
  for that quarter (a new quarter also brings the quarter that enters the detail window);
- the run covers exactly those assets, over the range of quarters affected, in one run of
  ``refresh_assets_job``: the per-quarter assets span the range in one step each
  (``BackfillPolicy.single_run``, :func:`dagster_project.partitions.spans_quarters`), the
  across-quarter assets and the publication (``output_manifest``) run once.

Run keys carry the fingerprints, so Dagster itself never launches the same refresh twice, and a
night with nothing new launches nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from dagster_project.partitions import PER_QUARTER_METADATA
from dagster_project.partitions import quarters as quarter_partitions
from dagster_project.resources import detail_quarters as latest
from dagster_project.resources import resource_run_config
from geodata.inputs import InputInventory
from geodata.provenance import fingerprint

__all__ = [
    "BASE_KINDS",
    "ROOT_ASSETS",
    "ROOT_OF_KIND",
    "FINGERPRINT_KEY",
    "KIND_FINGERPRINTS_KEY",
    "REFRESH_JOB",
    "RefreshPlan",
    "add_new_quarters",
    "input_state",
    "materialized_state",
    "plan_refresh",
    "refresh_request",
]

#: Input kinds that feed the unpartitioned root assets.
BASE_KINDS = ("cell_sites", "coverage", "population", "adoption")
#: The root asset that reads each base input kind.
ROOT_OF_KIND = {
    "cell_sites": "cell_sites",
    "coverage": "coverage_rasters",
    "population": "population_cells",
    "adoption": "adoption_statistics",
}
#: Unpartitioned assets that read input files (the roots of the graph besides speed tiles).
ROOT_ASSETS = (
    "province_boundaries",
    "population_cells",
    "cell_sites",
    "coverage_rasters",
    "adoption_statistics",
)
#: The job a refresh launches: every asset, each run selecting its own subset and quarters.
REFRESH_JOB = "refresh_assets_job"

#: Metadata key under which input assets record the fingerprint of the files they read.
FINGERPRINT_KEY = "input_fingerprint"
#: Metadata key (every asset's provenance) with the fingerprint of each base input kind.
KIND_FINGERPRINTS_KEY = "input_fingerprints_by_kind"
#: Tag of the runs a refresh launches (the run queue allows one at a time per value).
INPUTS_TAG = "gap_monitor/inputs"


def input_state(inv: InputInventory) -> dict[str, str]:
    """Fingerprint of the base inputs (key ``"base"``, all kinds together), of each base kind
    (``"base:<kind>"``) and of each quarter's speed tiles (key ``"2026Q3"``)."""
    state = {"base": inv.fingerprint(BASE_KINDS)}
    for kind in BASE_KINDS:
        state[f"base:{kind}"] = inv.fingerprint((kind,))
    for quarter in inv.quarters:
        state[quarter] = inv.fingerprint((), quarter=quarter)
    return state


def _is_quarter(key: str) -> bool:
    return not key.startswith("base")


@dataclass(frozen=True)
class RefreshPlan:
    """One run: the root assets whose inputs changed (their downstream assets run too) and the
    quarters it covers, in partition order; ``why`` says what changed, ``key`` is the run key."""

    roots: tuple[str, ...]
    quarters: tuple[str, ...]
    why: str
    key: str


def plan_refresh(
    state: dict[str, str],
    previous: dict[str, str],
    partition_order: list[str],
    detail_quarters: int = 2,
) -> RefreshPlan | None:
    """The one run that brings the outputs up to ``state`` from ``previous`` (None: nothing).

    ``partition_order``: the quarter partitions in Dagster's order (a range is taken in it).
    """
    quarters = [k for k in state if _is_quarter(k)]
    kinds = [k for k in BASE_KINDS if previous.get(f"base:{k}") != state[f"base:{k}"]]
    changed = sorted(q for q in quarters if previous.get(q) != state[q])
    before = latest([k for k in previous if _is_quarter(k)], detail_quarters) if previous else []
    now = latest(quarters, detail_quarters) if quarters else []
    entering = [q for q in now if before and q not in before]
    roots = [ROOT_OF_KIND[k] for k in kinds]
    if not any(k.startswith("base") for k in previous):  # nothing materialised yet: everything
        roots = [r for r in ROOT_ASSETS if r not in roots] + roots
    if changed or entering:
        roots.append("speed_tiles")
    if not roots:
        return None
    affected = set(quarters) if kinds else set(changed) | set(entering)
    order = [q for q in partition_order if q in state] or sorted(quarters)
    positions = [order.index(q) for q in affected if q in order]
    span = tuple(order[min(positions) : max(positions) + 1]) if positions else ()
    parts = [f"{k} changed" for k in kinds] if previous else ["first refresh"]
    if changed:
        parts.append(f"speed tiles of {', '.join(changed)}")
    if entering:
        parts.append(f"{', '.join(entering)} entered the detail window")
    key = fingerprint(f"{name}={value}" for name, value in state.items())
    return RefreshPlan(tuple(roots), span, "; ".join(parts), key)


def refresh_request(
    plan: RefreshPlan, resources: dict[str, object] | None = None, all_assets: list | None = None
) -> dg.RunRequest:
    """The RunRequest of ``plan``: the changed roots and everything downstream, over its
    quarters (one partition key, or a range when it spans several). ``resources`` (the
    launcher's inputs, outputs and settings) go into the run's configuration, so every step,
    on whatever worker, uses them rather than its own environment's."""
    if all_assets is None:
        from dagster_project.definitions import ALL_ASSETS as all_assets  # noqa: N811
    selection = dg.AssetSelection.assets(*plan.roots).downstream()
    keys = sorted(selection.resolve(all_assets), key=lambda k: k.to_user_string())
    tags = {INPUTS_TAG: "refresh", "gap_monitor/why": plan.why[:200]}
    partition_key = None
    if len(plan.quarters) == 1:
        partition_key = plan.quarters[0]
    elif plan.quarters:
        tags["dagster/asset_partition_range_start"] = plan.quarters[0]
        tags["dagster/asset_partition_range_end"] = plan.quarters[-1]
    return dg.RunRequest(
        run_key=f"refresh:{plan.key}",
        job_name=REFRESH_JOB,
        run_config=resource_run_config(resources or {}),
        asset_selection=keys,
        partition_key=partition_key,
        tags=tags,
    )


def _metadata_value(record: object, key: str) -> object:
    mat = getattr(record, "asset_materialization", None)
    value = mat.metadata.get(key) if mat is not None else None
    return getattr(value, "value", value)


def _latest(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> object:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None
        ),
        limit=1,
    ).records
    return records[0] if records else None


def materialized_state(instance: dg.DagsterInstance, quarters: list[str]) -> dict[str, str]:
    """The fingerprints recorded by the last materialisations (whoever launched them: the
    schedule, the sensor or ``make run``), in the shape of :func:`input_state`."""
    state: dict[str, str] = {}
    if fp := _metadata_value(_latest(instance, "population_cells"), FINGERPRINT_KEY):
        state["base"] = str(fp)
    for kind, asset in ROOT_OF_KIND.items():
        by_kind = _metadata_value(_latest(instance, asset), KIND_FINGERPRINTS_KEY)
        if isinstance(by_kind, dict) and kind in by_kind:
            state[f"base:{kind}"] = str(by_kind[kind])
    for quarter in quarters:
        record = _latest(instance, "speed_tiles", quarter)
        spanned = _metadata_value(record, PER_QUARTER_METADATA)  # a run over several quarters
        if isinstance(spanned, dict) and quarter in spanned.get(FINGERPRINT_KEY, {}):
            state[quarter] = str(spanned[FINGERPRINT_KEY][quarter])
        elif fp := _metadata_value(record, FINGERPRINT_KEY):
            state[quarter] = str(fp)
    return state


def add_new_quarters(instance: dg.DagsterInstance, found: list[str]) -> list[str]:
    """Add the quarters found in the input directory that are not partitions yet; return them."""
    known = set(instance.get_dynamic_partitions(quarter_partitions.name))
    new = sorted(q for q in found if q not in known)
    if new:
        instance.add_dynamic_partitions(quarter_partitions.name, new)
    return new
