"""Province fan-out: the per-province work of a refresh spread over steps keyed quarter x province.

The per-province work (each province's sums behind the summaries and the inequality,
``province_sums``; its downloads, ``province_downloads``; its plan map, ``province_plan_maps``)
can run in steps of its own, one per quarter and group of 34-version provinces (with the old
provinces lying in them), which Dagster's executors run side by side: processes on one host,
Celery workers or Kubernetes pods on many. An asset doing this is a graph of three ops:

- a *split* op reads the quarter's national tables once, does what needs the whole country
  (the national files) and yields, per group of provinces, the rows those provinces need
  (their cells, sites, routes), as a ``DynamicOutput`` keyed ``2026Q3_04`` (one province) or
  ``2026Q3_01_to_12`` (a group); with one group of all 34 it does their work itself;
- a *write* op, mapped over them, does that group's work;
- a *gather* op merges the pieces (listings and manifest hints, sums) into the asset's value.

Why steps and not Dagster partitions (a ``MultiPartitionsDefinition`` quarter x province): a
Dagster run materialises assets of one partitions definition only ("Selected assets must have
the same partitions definitions"), so quarter x province assets could not share a run with the
per-quarter ones, and every refresh would become several runs again; the nightly refresh is one
run per change with one publication (``defs/automation/refresh.py``). Mapped steps spread the
same quarter x province work inside that one run. A single-run range step (the per-quarter
assets, ``BackfillPolicy.single_run``) is one step whatever its size, so this is also what lets
a refresh use more than one worker at once.

How many provinces one step takes is ``PipelineSettings.provinces_per_step``, from
``GAP_MONITOR_PROVINCES_PER_STEP``: 0, the default, for all 34 at once, which the split op does
itself with no hand-over (the fewest steps: measured fastest at resolution 8 on 2 cores with
every executor, see :func:`default_provinces_per_step`); 1 for a step per quarter x province;
n for groups of n. The files are the same bytes however the provinces are grouped (each
province's files depend on its own rows only; tested, and ``make scale-test`` runs with 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from geodata.reference import province_codes

__all__ = [
    "PROVINCES_PER_STEP_ENV",
    "default_provinces_per_step",
    "province_groups",
    "mapping_key",
    "one_group",
    "parts_by_quarter",
    "pieces",
    "provinces_of_key",
    "quarter_of",
    "quarter_value",
    "run_value",
    "split_quarters",
]

PROVINCES_PER_STEP_ENV = "GAP_MONITOR_PROVINCES_PER_STEP"


def default_provinces_per_step(environ: Mapping[str, str]) -> int:
    """``GAP_MONITOR_PROVINCES_PER_STEP`` if set, else 0 (every province in the split step).

    Province steps pay only where a step's start (2 s with ``multiprocess``, 0.6 s with
    ``forkserver``, 0.1-0.2 s on a Celery worker) and its fixed costs (boundaries, shared
    encodings, each piece's hand-over) are small against a province's work, and where there are
    free workers: at resolution 8 on 2 cores every setting measured was slower than one group
    (``bench/bench_backfill.py``; the README's figures). So they are opt-in: with many workers or
    finer resolutions, two groups per worker slot (``34 / (2 x slots)`` provinces per step)
    is a good start."""
    raw = environ.get(PROVINCES_PER_STEP_ENV, "").strip()
    if not raw:
        return 0
    value = int(raw)
    if value < 0:
        raise ValueError(f"{PROVINCES_PER_STEP_ENV}={raw}: expected 0 (all) or more")
    return value


def province_groups(per_step: int) -> list[tuple[str, ...]]:
    """The 34-version provinces in groups of ``per_step`` (0: one group of all), code order."""
    codes = list(province_codes("34"))
    if per_step <= 0 or per_step >= len(codes):
        return [tuple(codes)]
    return [tuple(codes[i : i + per_step]) for i in range(0, len(codes), per_step)]


def one_group(per_step: int) -> bool:
    """Whether every province goes in one group: then the split op does the work itself,
    rather than handing the whole country to one more step."""
    return len(province_groups(per_step)) == 1


def mapping_key(quarter: str, codes: Sequence[str]) -> str:
    """The step key of one quarter and group of provinces: ``2026Q3_04``, ``2026Q3_01_to_12``,
    ``2026Q3_all``."""
    if len(codes) == len(province_codes("34")):
        return f"{quarter}_all"
    if len(codes) == 1:
        return f"{quarter}_{codes[0]}"
    return f"{quarter}_{codes[0]}_to_{codes[-1]}"


def quarter_of(context: dg.OpExecutionContext) -> str:
    """The quarter of a mapped step (the first part of its mapping key)."""
    key = context.get_mapping_key()
    if not key:
        raise RuntimeError("not a mapped step: no mapping key")
    return key.split("_", 1)[0]


def provinces_of_key(key: str | None) -> tuple[str, ...]:
    """The 34-version provinces of a mapped step's key (see :func:`mapping_key`)."""
    if not key or "_" not in key:
        raise RuntimeError(f"not a province step's mapping key: {key!r}")
    codes = list(province_codes("34"))
    group = key.split("_", 1)[1]
    if group == "all":
        return tuple(codes)
    first, _, last = group.partition("_to_")
    return tuple(c for c in codes if first <= c <= (last or first))


def quarter_value(context: dg.OpExecutionContext, name: str, loaded: Any, quarter: str) -> Any:
    """One quarter's value of input ``name`` (a per-quarter asset): the value itself in a
    one-quarter run, else read from the lazy mapping the IO manager gives a range run."""
    keys = context.asset_partition_keys_for_input(name)
    return loaded if len(keys) == 1 else loaded[quarter]


def pieces(
    quarter: str,
    table: pd.DataFrame,
    per_step: int,
    rows_of: Callable[[pd.DataFrame, tuple[str, ...]], np.ndarray],
) -> Iterator[dg.DynamicOutput]:
    """For each group of provinces (``per_step``), the rows of ``table`` it needs (the mask
    ``rows_of(table, codes)``) as a ``DynamicOutput`` named ``parts`` and keyed quarter x
    group; a group without rows gets no step."""
    for codes in province_groups(per_step):
        keep = rows_of(table, codes)
        if keep.any():
            yield dg.DynamicOutput(
                table.loc[keep], mapping_key=mapping_key(quarter, codes), output_name="parts"
            )


def split_quarters(context: dg.OpExecutionContext, detail: Sequence[str]) -> list[str]:
    """The run's quarters a split op works on: a one-quarter run's quarter (whatever it is, as
    every per-quarter step), the ``detail`` quarters of a range."""
    keys = sorted(context.partition_keys)
    if len(keys) == 1:
        return keys
    skipped = [q for q in keys if q not in detail]
    if skipped:
        context.log.info(f"history quarters, not published in full: {skipped}")
    return [q for q in keys if q in detail]


def run_value(context: dg.OpExecutionContext, values: dict[str, Any]) -> Any:
    """The asset value of a gather op: one quarter's value in a one-quarter run, else the dict
    keyed by quarter the IO manager stores per quarter."""
    keys = list(context.partition_keys)
    if len(keys) == 1:
        return values.get(keys[0])
    return values


def parts_by_quarter(parts: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, list[Mapping]]]:
    """The write steps' results (dicts with a ``quarter``) grouped by quarter, in order."""
    grouped: dict[str, list[Mapping]] = {}
    for part in parts:
        grouped.setdefault(part["quarter"], []).append(part)
    yield from sorted(grouped.items())
