"""Raw inputs per kind, validated: accepted rows flow on, bad rows go to quarantine files."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from dagster_project.checks import freshness_check, quarantine_share_check
from dagster_project.defs.automation.refresh import FINGERPRINT_KEY
from dagster_project.metadata import provenance_metadata
from dagster_project.partitions import quarters, spans_quarters
from dagster_project.resources import InputSource, OutputStore, PipelineSettings
from geodata.errors import InputError
from geodata.inputs import InputKind, raster_date_unix
from geodata.kernels.coverage import ALWAYS
from geodata.readers.adoption import read_adoption, resolve_resubmissions
from geodata.readers.ookla import read_speed_tiles
from geodata.readers.opencellid import read_cell_sites
from geodata.readers.raster import open_raster
from geodata.technology import tech_rank
from geodata.validation import ReadResult, quarantine_table, read_files
from geodata.writers import write_csv


def _read_and_quarantine(
    context: dg.AssetExecutionContext,
    reader: Callable[..., ReadResult],
    files: list[Any],
    outputs: OutputStore,
    name: str,
    what: str | None = None,
    **kwargs: Any,
) -> tuple[ReadResult, dict[str, Any]]:
    result, errors = read_files(reader, [f.path for f in files], **kwargs)
    for err in errors:
        context.log.error(f"rejected whole file: {err}")
    for path, facts in result.meta["per_file"].items() if what else ():
        context.log.info(
            f"{path}: {facts['n_read']:,} {what} read, {facts['n_outside']:,} {what} outside "
            f"Vietnam skipped, {facts['n_quarantined']:,} quarantined"
        )
    table = quarantine_table(result, errors)
    dest = write_csv(table, outputs.file("quarantine", f"{name}.csv"))
    meta = {
        "rejected_files": {err.file: str(err) for err in errors},
        "files_read": len(files),
        "files_rejected": len(errors),
        "rows_read": result.n_read,
        "rows_outside_study_area": result.n_outside,
        "rows_in_study_area": result.n_in_area,
        "rows_accepted": result.n_accepted,
        "rows_quarantined": result.n_quarantined,
        "counts_reconcile": result.reconciles(),
        "quarantine_file": dg.MetadataValue.path(str(dest)),
        "input_sha256": dg.MetadataValue.json({str(f.path.name): f.sha256 for f in files}),
        "per_file": dg.MetadataValue.json(result.meta["per_file"]),
    }
    if len(table):
        meta["quarantine_preview"] = dg.MetadataValue.md(
            table[["_file", "_row", "_column", "_reason"]].head(10).to_markdown(index=False)
        )
    return result, meta


def _validated_table(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
    reader: Callable[..., ReadResult],
    kind: InputKind,
    summary: Callable[[pd.DataFrame], dict[str, Any]],
    name: str | None = None,
    what: str | None = None,
):
    """Body of an unpartitioned input asset: read every file of ``kind``, quarantine, check.
    ``what`` names the rows of a located kind (sites): each file's count outside Vietnam is
    logged."""
    inv = inputs.inventory()
    result, meta = _read_and_quarantine(
        context, reader, inv.of_kind(kind), outputs, name or kind, what=what
    )
    if not result.accepted.empty:
        meta.update({k: dg.MetadataValue.json(v) for k, v in summary(result.accepted).items()})
    rejected = meta.pop("rejected_files")
    yield dg.Output(result.accepted, metadata=provenance_metadata(inv, **meta))
    yield quarantine_share_check(
        "quarantine_share",
        result.n_in_area,
        result.n_quarantined,
        settings.max_quarantine_share,
        rejected_files=rejected,
    )


@dg.asset(
    group_name="inputs",
    partitions_def=quarters,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"parquet"},
    check_specs=[
        dg.AssetCheckSpec("quarantine_share_fixed", asset="speed_tiles"),
        dg.AssetCheckSpec("quarantine_share_mobile", asset="speed_tiles"),
        dg.AssetCheckSpec("inputs_fresh", asset="speed_tiles"),
    ],
)
@spans_quarters()
def speed_tiles(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
):
    """Ookla-layout fixed and mobile speed tiles of one quarter, validated (z16 quadkeys decoded)."""
    inv = inputs.inventory()
    quarter = context.partition_key
    out: dict[str, pd.DataFrame] = {}
    meta: dict[str, Any] = provenance_metadata(
        inv, quarter=quarter, **{FINGERPRINT_KEY: inv.fingerprint((), quarter=quarter)}
    )
    for rel, why in inv.skipped_report().items():
        context.log.warning(f"input file skipped: {rel}: {why}")
    checks = []
    for kind in ("fixed", "mobile"):
        files = [f for f in inv.speed_files(quarter) if f.speed_type == kind]
        result, m = _read_and_quarantine(
            context,
            read_speed_tiles,
            files,
            outputs,
            f"speed_tiles_{kind}_{quarter}",
            what="tiles",
            kind=kind,
        )
        out[kind] = result.accepted
        rejected = m.pop("rejected_files")
        meta.update({f"{kind}_{k}": v for k, v in m.items()})
        checks.append(
            quarantine_share_check(
                f"quarantine_share_{kind}",
                result.n_in_area,
                result.n_quarantined,
                settings.max_quarantine_share,
                rejected_files=rejected,
            )
        )
    yield dg.Output(out, metadata=meta)
    yield from checks
    yield freshness_check("inputs_fresh", inv.quarters, settings.max_input_age_days)


@dg.asset(
    group_name="inputs",
    kinds={"csv"},
    check_specs=[dg.AssetCheckSpec("quarantine_share", asset="cell_sites")],
)
def cell_sites(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
):
    """OpenCelliD/MLS-layout cell sites (MCC 452), validated; technology ranked 2G..5G."""
    yield from _validated_table(
        context,
        inputs,
        outputs,
        settings,
        read_cell_sites,
        "cell_sites",
        lambda df: {"sites_by_tech": df["tech"].value_counts().sort_index().to_dict()},
        what="sites",
    )


@dg.asset(
    group_name="inputs",
    kinds={"geotiff"},
    check_specs=[dg.AssetCheckSpec("rasters_readable", asset="coverage_rasters")],
)
def coverage_rasters(context: dg.AssetExecutionContext, inputs: InputSource, outputs: OutputStore):
    """Coverage GeoTIFFs per operator and technology, checked (CRS, readable, over Vietnam);
    rejected files are listed in quarantine/coverage_rasters.csv and fail a check."""
    inv = inputs.inventory()
    accepted: list[dict[str, Any]] = []
    rejected: dict[str, InputError] = {}
    for f in inv.of_kind("coverage"):
        try:
            info = open_raster(f.path, single_band="coverage (covered 1, not covered 0)")
        except Exception as exc:  # InputError and its children: one bad file must not stop others
            context.log.error(f"rejected coverage raster: {exc}")
            rejected[f.path.name] = (
                exc if isinstance(exc, InputError) else InputError(f.path, str(exc))
            )
            continue
        tech = _technology_of(f.path.name, info)
        if tech is None:
            rejected[f.path.name] = InputError(
                f.path, "technology not named in file name or TECHNOLOGY tag (2g..5g)"
            )
            continue
        when = raster_date_unix(info.tags)
        accepted.append(
            {
                "path": str(f.path),
                "tech_rank": int(tech_rank([tech])[0]),
                "tech": tech,
                # a dated raster (TIFFTAG_DATETIME / AS_OF) counts from its date on; undated: always
                "since": ALWAYS if when is None else when,
                "as_of": "undated"
                if when is None
                else str(datetime.fromtimestamp(when, UTC).date()),
            }
        )
    empty = ReadResult(pd.DataFrame(), ReadResult.empty_quarantine(), 0)
    dest = write_csv(
        quarantine_table(empty, list(rejected.values())),
        outputs.file("quarantine", "coverage_rasters.csv"),
    )
    reasons = dg.MetadataValue.json({name: str(e) for name, e in rejected.items()})
    yield dg.Output(
        accepted,
        metadata=provenance_metadata(
            inv,
            files_read=len(inv.of_kind("coverage")),
            files_accepted=len(accepted),
            files_rejected=len(rejected),
            rejections=reasons,
            as_of=dg.MetadataValue.json(
                {r["path"].rsplit("/", 1)[-1]: r["as_of"] for r in accepted}
            ),
            quarantine_file=dg.MetadataValue.path(str(dest)),
            input_sha256=dg.MetadataValue.json(
                {f.path.name: f.sha256 for f in inv.of_kind("coverage")}
            ),
        ),
    )
    yield dg.AssetCheckResult(
        check_name="rasters_readable",
        passed=not rejected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files_read": len(inv.of_kind("coverage")),
            "files_rejected": len(rejected),
            "rejected_files": reasons,
        },
    )


def _technology_of(name: str, info: Any) -> str | None:
    tags = getattr(info, "tags", None) or {}
    tag = str(tags.get("TECHNOLOGY", "")).upper()
    if tag in ("2G", "3G", "4G", "5G"):
        return tag
    lowered = name.lower()
    for tech in ("5g", "4g", "3g", "2g"):
        if tech in lowered:
            return tech.upper()
    return None


@dg.asset(
    group_name="inputs",
    kinds={"csv"},
    check_specs=[dg.AssetCheckSpec("quarantine_share", asset="adoption_statistics")],
)
def adoption_statistics(
    context: dg.AssetExecutionContext,
    inputs: InputSource,
    outputs: OutputStore,
    settings: PipelineSettings,
):
    """Per-province adoption tables (long format), codes of either system, validated.

    A province that sends the same (period, indicator) again in another file resubmits it: the
    row of the file whose name sorts last stands; the rows it replaced are listed, with the file
    and row that stands, in ``quarantine/adoption_superseded.csv`` and counted here."""
    inv = inputs.inventory()
    result, meta = _read_and_quarantine(
        context, read_adoption, inv.of_kind("adoption"), outputs, "adoption_statistics"
    )
    kept, superseded = resolve_resubmissions(result.accepted)
    meta["rows_superseded_by_resubmission"] = len(superseded)
    meta["resubmission_rule"] = (
        "same province, period and indicator in two files: the file whose name sorts last stands"
    )
    if len(superseded):
        report = pd.concat(
            [
                pd.DataFrame(
                    {
                        "_file": superseded["source_file"],
                        "_row": superseded["source_row"],
                        "_column": "value",
                        "_reason": "superseded by the resubmission in "
                        + superseded["superseded_by"]
                        + " (value "
                        + superseded["value_standing"].map("{:g}".format)
                        + ")",
                    }
                ),
                superseded.drop(columns=["source_file", "source_row"]),
            ],
            axis=1,
        )
        dest = write_csv(report, outputs.file("quarantine", "adoption_superseded.csv"))
        meta["superseded_file"] = dg.MetadataValue.path(str(dest))
        for _, row in superseded.head(20).iterrows():
            context.log.warning(
                f"adoption: {row['source_file']} row {row['source_row']} ({row['indicator']}, "
                f"{row['period']}, {row['province_code']}) = {row['value']:g} is superseded by "
                f"{row['superseded_by']} = {row['value_standing']:g}"
            )
    if not kept.empty:
        meta["indicators"] = dg.MetadataValue.json(kept.groupby("indicator").size().to_dict())
    rejected = meta.pop("rejected_files")
    yield dg.Output(kept, metadata=provenance_metadata(inv, **meta))
    yield quarantine_share_check(
        "quarantine_share",
        result.n_in_area,
        result.n_quarantined,
        settings.max_quarantine_share,
        rejected_files=rejected,
    )
