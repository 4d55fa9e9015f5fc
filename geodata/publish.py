"""Published outputs: cell GeoDataFrames, provenance records, national files and the manifest."""

from __future__ import annotations

import dataclasses
import json
import re
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy import cells_to_string
from h3ronpy.vector import cells_to_wkb_polygons

from geodata import __version__
from geodata.inputs import InputInventory
from geodata.provenance import atomic_write_json, sha256_file, utc_now_iso
from geodata.publication import RESERVED_NAMES
from geodata.reference import ATTRIBUTION, BOUNDARY_VALID_FROM

__all__ = [
    "LICENCE",
    "cells_geodataframe",
    "provenance_record",
    "build_manifest",
]

#: Licence of outputs derived from the shipped boundaries (share-alike).
LICENCE = "CC BY-SA 4.0 (derived from Open Development Vietnam boundaries); WorldPop data CC BY 4.0"


def cells_geodataframe(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The table with ``h3`` (hex string id) and hexagon polygon geometry (EPSG:4326)."""
    cells = pa.array(table["cell"].to_numpy(np.uint64), type=pa.uint64())
    geom = shapely.from_wkb(
        np.asarray(pa.array(cells_to_wkb_polygons(cells)).to_pylist(), dtype=object)
    )
    out = table.copy()
    out.insert(1, "h3", pa.array(cells_to_string(cells)).to_pylist())
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype("string")
    return gpd.GeoDataFrame(out, geometry=geom, crs="EPSG:4326")


def provenance_record(
    inv: InputInventory,
    *,
    quarter: str | None = None,
    h3_resolution: int | None = None,
    boundary_version: str | None = None,
    thresholds: Any = None,
    kinds: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Provenance carried inside every output: inputs' sha256, boundary version, resolution,
    period, run time, thresholds, licence, attribution and the sample flag."""
    files = {
        str(f.path.relative_to(inv.root)): f.sha256
        for f in inv.files
        if (kinds is None or f.kind in kinds)
        and (f.kind != "speed_tiles" or f.quarter in (None, quarter))
    }
    pop = inv.population_path()
    record: dict[str, Any] = {
        "generator": f"digital-gap-monitor {__version__}",
        "generated_at": utc_now_iso(),
        "sample": inv.sample,
        "sample_note": (
            "SYNTHETIC sample inputs (geodata.sample), not measurements" if inv.sample else None
        ),
        "period": quarter,
        "h3_resolution": h3_resolution,
        "boundary_version": boundary_version or "both (63 until 2025-06-30, 34 since 2025-07-01)",
        "boundary_valid_from": BOUNDARY_VALID_FROM,
        "inputs_sha256": files,
        "population_raster": {"file": pop.name, "sha256": sha256_file(pop)},
        "licence": LICENCE,
        "attribution": ATTRIBUTION,
    }
    if thresholds is not None:
        record["thresholds"] = (
            dataclasses.asdict(thresholds) if dataclasses.is_dataclass(thresholds) else thresholds
        )
    return record


def build_manifest(output_dir: str | PathLike[str], *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``manifest.json`` listing every published file with size, sha256, features, period.

    A file whose size and modification time equal those recorded in the previous manifest keeps
    its recorded sha256 and feature count, so a refresh that rewrote little re-reads little.
    Every file is replaced atomically, so a changed file always gets a new mtime.
    """
    root = Path(output_dir)
    previous: dict[str, dict[str, Any]] = {}
    old = root / "manifest.json"
    if old.exists():
        try:
            previous = {e["path"]: e for e in json.loads(old.read_text(encoding="utf-8"))["files"]}
        except (ValueError, KeyError, TypeError):
            previous = {}
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if rel.name in ("manifest.json", "README.md") or rel.name.startswith("."):
            continue
        if rel.parts[0] in RESERVED_NAMES:  # published generations, not the working set
            continue
        stat = path.stat()
        known = previous.get(str(rel))
        if (
            known
            and known.get("bytes") == stat.st_size
            and known.get("mtime_ns") == stat.st_mtime_ns
        ):
            entries.append(known)
            continue
        entry: dict[str, Any] = {
            "path": str(rel),
            "bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": sha256_file(path),
        }
        if path.suffix == ".geojson":
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            entry["features"] = len(doc.get("features", []))
            entry["period"] = (doc.get("provenance") or {}).get("period")
        elif period := re.search(r"\d{4}Q[1-4]", rel.name):
            entry["period"] = period.group(0)
        entries.append(entry)
    manifest = {"generated_at": utc_now_iso(), "files": entries, **(extra or {})}
    return atomic_write_json(root / "manifest.json", manifest)
