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
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy.vector import cells_to_wkb_polygons

from geodata import __version__
from geodata.inputs import InputInventory
from geodata.kernels.cells import cells_to_strings
from geodata.provenance import atomic_write_json, sha256_bytes, sha256_file, utc_now_iso
from geodata.publishing.generations import RESERVED_NAMES
from geodata.reference import ATTRIBUTION, BOUNDARY_VALID_FROM
from geodata.writers.tables import write_wkb_geoparquet

__all__ = [
    "LICENCE",
    "cells_geodataframe",
    "cells_polygons",
    "cells_rings",
    "cells_wkb",
    "write_cells_geoparquet",
    "provenance_record",
    "build_manifest",
    "manifest_hint",
    "write_manifest_hints",
    "MANIFEST_HINTS_DIR",
]

#: Licence of outputs derived from the shipped boundaries (share-alike).
LICENCE = "CC BY-SA 4.0 (derived from Open Development Vietnam boundaries); WorldPop data CC BY 4.0"


def cells_polygons(cells: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Hexagon (or pentagon) polygon of each H3 cell id (uint64), lon/lat."""
    wkb = cells_to_wkb_polygons(pa.array(np.asarray(cells, dtype=np.uint64), type=pa.uint64()))
    return shapely.from_wkb(pa.array(wkb).to_numpy(zero_copy_only=False))


def cells_wkb(cells: npt.ArrayLike) -> pa.Array:
    """Hexagon (or pentagon) polygon of each H3 cell id (uint64) as WKB (lon/lat)."""
    return pa.array(
        cells_to_wkb_polygons(pa.array(np.asarray(cells, dtype=np.uint64), type=pa.uint64()))
    )


def cells_rings(
    cells: npt.ArrayLike, wkb: pa.Array | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Boundary of each H3 cell as a closed ring: ``(coords (N, 2) lon/lat, points per cell)``,
    read straight from the cells' polygon WKB (:func:`cells_wkb`, computed unless given)."""
    wkb = cells_wkb(cells) if wkb is None else wkb
    if len(wkb) == 0:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    if wkb.null_count:
        raise ValueError("invalid H3 cell ids: no boundary")
    width = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
    offsets = np.frombuffer(wkb.buffers()[1], dtype=width)[wkb.offset : wkb.offset + len(wkb) + 1]
    data = np.frombuffer(wkb.buffers()[2], dtype=np.uint8)
    size = np.diff(offsets)
    if (size != size[0]).any():  # pentagons among hexagons: through geometry objects
        coords, index = shapely.get_coordinates(
            shapely.get_exterior_ring(cells_polygons(cells)), return_index=True
        )
        return coords, np.bincount(index, minlength=len(wkb)).astype(np.int64)
    # every record is byte order, type, ring count, point count, then the points
    records = data[offsets[0] : offsets[-1]].reshape(len(wkb), int(size[0]))
    header = records[:, 1:13].copy().view("<u4")
    k = (int(size[0]) - 13) // 16
    if (
        (records[:, 0] != 1).any()
        or (header[:, 0] != 3).any()
        or (header[:, 1] != 1).any()
        or (header[:, 2] != k).any()
        or 13 + 16 * k != size[0]
    ):
        raise ValueError("unexpected WKB from h3ronpy: little-endian one-ring polygons expected")
    coords = records[:, 13:].copy().view("<f8").reshape(-1, 2)
    return coords, np.full(len(wkb), k, dtype=np.int64)


def _published_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``h3`` (hex string id) second and categoricals as strings."""
    out = table.copy()
    out.insert(1, "h3", cells_to_strings(table["cell"].to_numpy(np.uint64)))
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype("string")
    return out


def write_cells_geoparquet(
    table: pd.DataFrame, dest: str | PathLike[str], *, provenance: dict[str, Any] | None = None
) -> Path:
    """GeoParquet of :func:`cells_geodataframe` of the table, written from the cells' WKB
    without building geometry objects (same columns, values and ``geo`` metadata)."""
    cells = table["cell"].to_numpy(np.uint64)
    wkb = cells_wkb(cells)
    coords, counts = cells_rings(cells, wkb)
    if len(coords):
        bbox = (*coords.min(axis=0).tolist(), *coords.max(axis=0).tolist())
    else:
        bbox = (np.nan, np.nan, np.nan, np.nan)
    types = ["Polygon"] if len(cells) else []
    return write_wkb_geoparquet(
        _published_cells(table),
        wkb,
        dest,
        bbox=bbox,
        geometry_types=types,
        provenance=provenance,
    )


def cells_geodataframe(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The table with ``h3`` (hex string id) and hexagon polygon geometry (EPSG:4326)."""
    geom = cells_polygons(table["cell"].to_numpy(np.uint64))
    return gpd.GeoDataFrame(_published_cells(table), geometry=geom, crs="EPSG:4326")


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


#: Hidden folder of the output directory where writers leave manifest entries of the files they
#: wrote (sha256 and feature counts computed from the bytes in memory), so the manifest need not
#: re-read or re-parse them. Hidden files and folders are never listed in the manifest.
MANIFEST_HINTS_DIR = ".manifest-hints"


def manifest_hint(
    path: str | PathLike[str],
    root: str | PathLike[str],
    data: bytes,
    *,
    features: int | None = None,
    period: str | None = None,
) -> dict[str, Any]:
    """The manifest entry of ``path`` (below ``root``), just written with the bytes ``data``."""
    stat = Path(path).stat()
    entry: dict[str, Any] = {
        "path": str(Path(path).relative_to(root)),
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": sha256_bytes(data),
    }
    if features is not None:
        entry["features"] = int(features)
    entry["period"] = period
    return entry


def write_manifest_hints(
    output_dir: str | PathLike[str], name: str, entries: list[dict[str, Any]]
) -> Path:
    """Keep ``entries`` (:func:`manifest_hint`) for :func:`build_manifest`, under ``name``."""
    dest = Path(output_dir) / MANIFEST_HINTS_DIR / f"{name}.json"
    return atomic_write_json(dest, {"files": entries})


def _load_entries(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return {e["path"]: e for e in json.loads(path.read_text(encoding="utf-8"))["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def build_manifest(output_dir: str | PathLike[str], *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``manifest.json`` listing every published file with size, sha256, features, period.

    A file whose size and modification time equal those recorded in the previous manifest, or in
    an entry a writer left in :data:`MANIFEST_HINTS_DIR` when it wrote the file, keeps the
    recorded sha256 and feature count, so a refresh re-reads only files written without one.
    Every file is replaced atomically, so a changed file always gets a new mtime. Hidden files
    and folders (names starting with a dot) are not listed.
    """
    root = Path(output_dir)
    previous = _load_entries(root / "manifest.json")
    hints_dir = root / MANIFEST_HINTS_DIR
    if hints_dir.is_dir():
        for hints in sorted(hints_dir.glob("*.json")):
            previous.update(_load_entries(hints))
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if rel.name in ("manifest.json", "README.md") or any(
            part.startswith(".") for part in rel.parts
        ):
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
