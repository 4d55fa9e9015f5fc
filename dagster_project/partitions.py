"""Quarter partitions of the speed tiles (``2026Q3``), added as input files for them appear."""

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

# per-quarter assets run over a range of quarters in one step (BackfillPolicy.single_run, beta
# in Dagster 1.13 but the documented way to do it); say so once here, not at every import
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

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


#: The quarter-partitioned assets (inputs of these names hold one value per quarter).
QUARTER_ASSETS = frozenset(
    {
        "speed_tiles",
        "gap_cells",
        "province_sums",
        "province_summaries",
        "inequality",
        "gap_clusters",
        "investment_plan",
        "gap_maps",
        "province_downloads",
    }
)
#: Metadata key under which a step over several quarters records each quarter's own value of a
#: per-quarter metadata entry that later decisions read (the input fingerprint).
PER_QUARTER_METADATA = "by_quarter"


class _OneQuarter:
    """A step's execution context over several quarters, seen as the context of one of them."""

    def __init__(self, context: dg.AssetExecutionContext, quarter: str) -> None:
        self._context = context
        self._quarter = quarter

    @property
    def partition_key(self) -> str:
        return self._quarter

    @property
    def partition_keys(self) -> list[str]:
        return [self._quarter]

    @property
    def has_partition_key(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _events(result: Any) -> Iterator[Any]:
    """The events of an asset body: what it yields, or the one value it returns."""
    if inspect.isgenerator(result):
        yield from result
    elif result is not None:
        yield result


def spans_quarters(*, detail_only: bool = False) -> Callable[[Callable], Callable]:
    """Let a per-quarter asset run over a range of quarters in one step (one run per refresh).

    The asset's body stays written for one quarter. With one partition key it runs as it is.
    With several (a run over a partition range, see ``BackfillPolicy.single_run``), it runs once
    per quarter, each time with a context whose ``partition_key`` is that quarter and with its
    per-quarter inputs (:data:`QUARTER_ASSETS`) narrowed to that quarter. Then:

    - the values go to the IO manager as one dict keyed by quarter
      (:class:`dagster_project.storage.SharedStorageIOManager` stores each at its own path);
    - the metadata is the newest quarter's, plus the quarters run and, under
      :data:`PER_QUARTER_METADATA`, every quarter's input fingerprint;
    - each check passes only if it passed for every quarter; its metadata names the failing
      quarters and holds the first failing quarter's (else the newest quarter's) metadata.

    ``detail_only``: the asset is computed for the latest ``PipelineSettings.detail_quarters``
    only (cell files, clusters, plans, maps, downloads); older quarters of the range are skipped.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        per_quarter = [n for n in sig.parameters if n in QUARTER_ASSETS]

        @functools.wraps(fn)
        def wrapper(context: dg.AssetExecutionContext, **kwargs: Any) -> Iterator[Any]:
            keys = list(context.partition_keys)
            if len(keys) == 1:
                yield from _events(fn(context, **kwargs))
                return
            if detail_only:
                from dagster_project.resources import detail_quarters

                latest = detail_quarters(
                    kwargs["inputs"].inventory().quarters, kwargs["settings"].detail_quarters
                )
                skipped = [q for q in keys if q not in latest]
                if skipped:
                    context.log.info(f"history quarters, not published in full: {skipped}")
                keys = [q for q in keys if q in latest]
            values: dict[str, Any] = {}
            metadata: dict[str, dict] = {}
            checks: dict[str, list[tuple[str, dg.AssetCheckResult]]] = {}
            kind = "output"
            for q in keys:
                narrowed = dict(kwargs)
                for name in per_quarter:
                    if q not in kwargs[name]:
                        raise KeyError(f"{name} has no value for quarter {q}")
                    narrowed[name] = kwargs[name][q]
                for event in _events(fn(_OneQuarter(context, q), **narrowed)):
                    if isinstance(event, dg.Output):
                        values[q] = event.value
                        metadata[q] = dict(event.metadata or {})
                    elif isinstance(event, dg.MaterializeResult):
                        kind = "materialize"
                        metadata[q] = dict(event.metadata or {})
                        for check in event.check_results or ():
                            checks.setdefault(check.check_name, []).append((q, check))
                    elif isinstance(event, dg.AssetCheckResult):
                        checks.setdefault(event.check_name, []).append((q, event))
                    else:
                        raise TypeError(f"{fn.__name__}: unexpected event {type(event).__name__}")
            merged = merge_quarter_metadata(metadata)
            if kind == "materialize":
                yield dg.MaterializeResult(metadata=merged)
            else:
                yield dg.Output(values, metadata=merged)
            for name, results in checks.items():
                yield _merge_check(name, results)

        # Dagster reads the inputs' types from the annotations: over a range they hold a value
        # per quarter, and the output a dict of them
        params = [
            p.replace(annotation=Any) if p.name in per_quarter else p
            for p in sig.parameters.values()
        ]
        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=inspect.Signature.empty
        )
        wrapper.__annotations__ = {
            k: (Any if k in per_quarter else v)
            for k, v in getattr(fn, "__annotations__", {}).items()
            if k != "return"
        }
        del wrapper.__wrapped__  # Dagster must see the signature above, not fn's
        return wrapper

    return decorate


def merge_quarter_metadata(by_quarter: dict[str, dict]) -> dict[str, Any]:
    """One step's metadata over several quarters: the newest quarter's, the quarters, and every
    quarter's input fingerprint under :data:`PER_QUARTER_METADATA`."""
    if not by_quarter:
        return {"quarters": dg.MetadataValue.json([])}
    newest = max(by_quarter)
    merged = dict(by_quarter[newest])
    merged["quarters"] = dg.MetadataValue.json(sorted(by_quarter))
    from dagster_project.defs.automation.refresh import FINGERPRINT_KEY

    fingerprints = {
        q: getattr(m[FINGERPRINT_KEY], "value", m[FINGERPRINT_KEY])
        for q, m in by_quarter.items()
        if FINGERPRINT_KEY in m
    }
    if fingerprints:
        merged[PER_QUARTER_METADATA] = dg.MetadataValue.json({FINGERPRINT_KEY: fingerprints})
    return merged


def _merge_check(name: str, results: list[tuple[str, dg.AssetCheckResult]]) -> dg.AssetCheckResult:
    failed = [(q, r) for q, r in results if not r.passed]
    shown_q, shown = failed[0] if failed else max(results, key=lambda item: item[0])
    return dg.AssetCheckResult(
        check_name=name,
        passed=not failed,
        severity=shown.severity,
        metadata={
            **dict(shown.metadata or {}),
            "quarters_checked": dg.MetadataValue.json(sorted(q for q, _ in results)),
            "quarters_failed": dg.MetadataValue.json(sorted(q for q, _ in failed)),
            "shown_quarter": shown_q,
        },
    )
