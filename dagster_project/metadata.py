"""Metadata a planner reads in the Dagster UI: provenance, counts, images, tables."""

from __future__ import annotations

import base64
from typing import Any

import dagster as dg
import pandas as pd

from geodata.inputs import InputInventory

__all__ = ["png_md", "table_md", "provenance_metadata"]


def png_md(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown, so it renders in the asset's metadata panel."""
    data = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def table_md(df: pd.DataFrame, max_rows: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(max_rows).to_markdown(index=False, floatfmt=".3g"))


def provenance_metadata(inv: InputInventory, **extra: Any) -> dict[str, Any]:
    """``sample`` flag, input directory, and the files of the input directory that were skipped
    (with why), when there are any."""
    from dagster_project.defs.automation.refresh import BASE_KINDS, KIND_FINGERPRINTS_KEY

    meta: dict[str, Any] = {
        "sample (synthetic inputs)": inv.sample,
        "input_dir": dg.MetadataValue.path(str(inv.root)),
        # what each kind of base input was when this was computed: the nightly refresh compares
        # it with the input directory to find what changed (defs/automation/refresh.py)
        KIND_FINGERPRINTS_KEY: dg.MetadataValue.json(
            {k: inv.fingerprint((k,)) for k in BASE_KINDS}
        ),
    }
    if inv.skipped:
        meta["input_files_skipped"] = dg.MetadataValue.json(inv.skipped_report())
    meta.update(extra)
    return meta
