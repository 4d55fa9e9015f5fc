"""Quarter partitions of the speed tiles (``2026Q3``), added as input files for them appear."""

from typing import Any

import dagster as dg

quarters = dg.DynamicPartitionsDefinition(name="quarter")

#: Annotation of an unpartitioned asset's input that holds every quarter of a per-quarter asset:
#: its shape depends on how many quarters there are (see :func:`by_quarter`).
AllQuarters = Any


def by_quarter(context: dg.AssetExecutionContext, name: str, loaded: Any) -> dict[str, Any]:
    """Input ``name`` of an unpartitioned asset (every quarter of a per-quarter asset) as a dict
    keyed by quarter, however many quarters there are.

    Dagster's IO manager hands an unpartitioned asset a dict keyed by partition when the input
    spans two or more quarters, but the bare value when it spans exactly one: a new user's first
    run. A one-quarter ``province_summaries`` is itself a dict (keyed by view), so the quarters
    come from the input's partition keys, never from the value. Annotate such inputs
    :data:`AllQuarters` so Dagster does not type-check the shape.
    """
    keys = sorted(context.asset_partition_keys_for_input(name))
    if not keys or loaded is None:
        return {}
    if len(keys) == 1:
        return {keys[0]: loaded}
    return {k: loaded[k] for k in keys if k in loaded}
