"""Printable A4 sheet of a province and quarter (PDF), rendered on demand and cached on disk.

``/provinces/{version}/{code}/{quarter}.pdf`` is made from manifest-listed files of the served
generation only, each checked against the manifest's size and sha256 before it is used:

==============================================================  ==============================
``downloads/{v}/{code}_{slug}/{quarter}_cells.geojson``         map, provenance (required)
``tables/summary_{v}_{quarter}.csv`` and the previous quarter's  headline figures, rank
``downloads/{v}/{code}_{slug}/{quarter}_mobile_sites.csv``      the plan's first sites
``tables/targets_{v}_{quarter}.csv``                            target statuses
==============================================================  ==============================

A quarter is offered when the province's cells GeoJSON of that quarter is published; any other
quarter (or an unknown province) is a bilingual 404. The PDF is cached under a key made of the
sources' manifest sha256 (and the sheet's layout version), in ``GAP_MONITOR_PORTAL_CACHE``
(default ``<output_dir>/.portal_cache/``), or in memory when that directory cannot be written;
a new generation with other files gives other keys, so a stale sheet is never served.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anyio.to_thread
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from geodata.provenance import atomic_write_bytes
from geodata.publishing.generations import portal_cache_dir
from geodata.reference import fold_name, load_provinces
from portal.catalogue import Catalogue, FileEntry, ManifestStore, Province
from portal.downloads import CACHE_CONTROL, etag_matches, read_verified
from portal.http_errors import BilingualError
from portal.pages import requested_province

__all__ = ["SheetCache", "sheet_sources", "sheet_routes"]

_QUARTER = re.compile(r"^\d{4}Q[1-4]$")
_MEMORY_ENTRIES = 64
_DISK_ENTRIES = 1000
_SHEET_SUBDIR = "sheets"


class SheetCache:
    """Rendered sheets by key: files ``<dir>/sheets/<key>.pdf`` (written atomically, the oldest
    pruned beyond 1000), or a small in-memory LRU once the directory proves unwritable."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory / _SHEET_SUBDIR if directory is not None else None
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def on_disk(self) -> bool:
        return self.directory is not None

    def get(self, key: str) -> bytes | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        if self.directory is not None:
            try:
                return (self.directory / f"{key}.pdf").read_bytes()
            except OSError:
                return None
        return None

    def put(self, key: str, data: bytes) -> None:
        if self.directory is not None:
            try:
                self._write(key, data)
                return
            except OSError:
                self.directory = None  # not writable: keep sheets in memory from now on
        with self._lock:
            self._memory[key] = data
            self._memory.move_to_end(key)
            while len(self._memory) > _MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    def _write(self, key: str, data: bytes) -> None:
        assert self.directory is not None
        atomic_write_bytes(self.directory / f"{key}.pdf", data)  # OutputWriteError: an OSError
        files = sorted(self.directory.glob("*.pdf"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - _DISK_ENTRIES)]:
            old.unlink(missing_ok=True)


def _cells_file(province: Province, quarter: str) -> FileEntry | None:
    return next(
        (
            f
            for f in province.files
            if f.kind == "cells" and f.period == quarter and f.suffix == "geojson"
        ),
        None,
    )


def sheet_sources(catalogue: Catalogue, province: Province, quarter: str) -> dict[str, Any]:
    """The manifest entries a sheet is made from: ``cells`` (required), ``summary``,
    ``previous`` (the previous quarter's summary table), ``sites``, ``targets``, and
    ``previous_quarter``; a bilingual 404 when the quarter has no sheet."""
    cells = _cells_file(province, quarter) if _QUARTER.match(quarter) else None
    if cells is None:
        quarters = province.cells_quarters
        shown = quarter[:20] + ("…" if len(quarter) > 20 else "")
        base = f"/provinces/{province.version}/{province.code}"
        raise BilingualError(
            404,
            f"Không có bản in quý '{shown}' cho {province.name}. Các quý có: "
            f"{', '.join(quarters) or 'chưa có'}.",
            f"No printable sheet for quarter '{shown}' of {province.name_ascii}. Available: "
            f"{', '.join(quarters) or 'none yet'}.",
            links=[(f"{q} (PDF)", f"{base}/{q}.pdf") for q in quarters]
            or [(f"{province.name}", base)],
        )
    v = province.version
    tables = {
        f.period: f
        for f in catalogue.national.get(v, ())
        if f.kind == "summary" and f.suffix == "csv" and f.period
    }
    earlier = sorted(p for p in tables if p < quarter)
    sites = next(
        (
            f
            for f in province.files
            if f.kind == "mobile_sites" and f.period == quarter and f.suffix == "csv"
        ),
        None,
    )
    return {
        "cells": cells,
        "summary": tables.get(quarter),
        "previous": tables[earlier[-1]] if earlier else None,
        "previous_quarter": earlier[-1] if earlier else None,
        "sites": sites,
        "targets": catalogue.files.get(f"tables/targets_{v}_{quarter}.csv"),
    }


def _entries(sources: dict[str, Any]) -> list[FileEntry]:
    return [
        sources[k]
        for k in ("cells", "summary", "previous", "sites", "targets")
        if sources.get(k) is not None
    ]


def _cache_key(province: Province, quarter: str, sources: dict[str, Any]) -> str:
    from geodata.publishing.sheets import SHEET_FORMAT

    h = hashlib.sha256(
        f"sheet {SHEET_FORMAT} {province.version} {province.code} {quarter}\n".encode()
    )
    for e in _entries(sources):
        h.update(f"{e.path} {e.sha256}\n".encode())
    return h.hexdigest()


def _hexagons(geoms: list[dict[str, Any]]) -> Any:
    """Polygons with one ring each, all of the same length (H3 hexagons), built in one call;
    None when the geometries are not all such."""
    try:
        if all(g.get("type") == "Polygon" and len(g["coordinates"]) == 1 for g in geoms):
            arr = np.asarray([g["coordinates"][0] for g in geoms], dtype=float)
            if arr.ndim == 3 and arr.shape[2] == 2:
                return shapely.polygons(arr)
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def cells_from_geojson(data: bytes) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The cells of a published cells GeoJSON and its ``provenance`` member (fast path for
    hexagons: one ring of equal length in every feature)."""
    doc = json.loads(data)
    feats = doc.get("features") or []
    provenance = doc.get("provenance") if isinstance(doc.get("provenance"), dict) else {}
    props = pd.DataFrame.from_records([f.get("properties") or {} for f in feats])
    geoms = [f.get("geometry") or {} for f in feats]
    geometry = _hexagons(geoms)
    if geometry is None:
        geometry = [shapely.geometry.shape(g) if g else None for g in geoms]
    gdf = gpd.GeoDataFrame(props, geometry=list(geometry) if len(feats) else [], crs="EPSG:4326")
    return gdf, provenance


def _table(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _row(table: pd.DataFrame | None, code: str) -> dict[str, Any] | None:
    if table is None or "code" not in table:
        return None
    rows = table.loc[table["code"] == code]
    return None if rows.empty else dict(rows.iloc[0])


def render_sheet(root: Path, province: Province, quarter: str, sources: dict[str, Any]) -> bytes:
    """Read and verify the sources, then render the sheet (blocking: run it in a thread)."""
    from geodata.indicators.targets import INDICATORS
    from geodata.publishing.sheets import province_sheet_pdf

    cells, provenance = cells_from_geojson(read_verified(root, sources["cells"]))
    summary_table = _table(read_verified(root, sources["summary"])) if sources["summary"] else None
    previous_table = (
        _table(read_verified(root, sources["previous"])) if sources["previous"] else None
    )
    sites = _table(read_verified(root, sources["sites"])) if sources["sites"] else None
    targets = None
    if sources["targets"] is not None:
        t = _table(read_verified(root, sources["targets"]))
        if {"code", "indicator"} <= set(t.columns):
            t = t.loc[(t["code"] == province.code) & t["indicator"].isin(list(INDICATORS))]
            order = {ind: i for i, ind in enumerate(INDICATORS)}
            targets = t.sort_values("indicator", key=lambda s: s.map(order)).to_dict("records")
    n = None
    if summary_table is not None and "code" in summary_table:
        n = int((summary_table["code"] != "").sum())
    return province_sheet_pdf(
        code=province.code,
        version=province.version,
        quarter=quarter,
        name=province.name,
        summary=_row(summary_table, province.code),
        previous=_row(previous_table, province.code),
        previous_quarter=sources["previous_quarter"] if previous_table is not None else None,
        n_provinces=n,
        cells=cells,
        provinces=load_provinces(province.version, simplified=True),
        provenance=provenance,
        sites=sites,
        targets=targets,
        sources=[(e.path, e.sha256) for e in _entries(sources)],
    )


def _filename(province: Province, quarter: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", fold_name(province.name_ascii).lower()).strip("-")
    return f"{province.version}_{province.code}_{slug or 'province'}_{quarter}.pdf"


def sheet_routes(store: ManifestStore) -> list[Route]:
    """The routes of the printable sheets, serving from ``store``'s served generation."""
    cache = SheetCache(portal_cache_dir(store.root))
    pending: dict[str, threading.Lock] = {}
    pending_guard = threading.Lock()

    def build(root: Path, province: Province, quarter: str, sources: dict[str, Any], key: str):
        with pending_guard:
            lock = pending.setdefault(key, threading.Lock())
        with lock:  # one rendering per sheet at a time; the others then read the cache
            data = cache.get(key)
            if data is None:
                data = render_sheet(root, province, quarter, sources)
                cache.put(key, data)
        with pending_guard:
            pending.pop(key, None)
        return data

    async def province_sheet(request: Request) -> Response:
        quarter = request.path_params["quarter"]
        got = requested_province(store, request, f"/{quarter}.pdf")
        if isinstance(got, Response):
            return got
        served, catalogue, found = got
        sources = sheet_sources(catalogue, found, quarter)
        key = _cache_key(found, quarter, sources)
        etag = f'"{key}"'
        headers = {
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "Content-Disposition": f'inline; filename="{_filename(found, quarter)}"',
            "X-Content-Type-Options": "nosniff",
        }
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        data = cache.get(key)
        if data is None:
            data = await anyio.to_thread.run_sync(build, served, found, quarter, sources, key)
        return Response(data, media_type="application/pdf", headers=headers)

    return [
        Route("/provinces/{version}/{code}/{quarter}.pdf", province_sheet, methods=["GET"]),
    ]
