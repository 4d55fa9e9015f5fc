"""GIS formats made on request, and the field dictionary.

=================================================  ===============================================
``/provinces/{version}/{code}/{quarter}.gpkg``     GeoPackage: cells, summary, mobile sites, fibre
                                                   routes, ``metadata`` and ``fields`` tables
``/provinces/{version}/{code}/{quarter}.shp.zip``  zipped Shapefiles (UTF-8 ``.cpg``, short field
                                                   names, ``field_names.csv``, README, provenance)
``/provinces/{version}/{code}/{quarter}_cells.csv``  the cells as CSV with ``h3, lat, lon``
``/fields`` ``/fields.csv``                        the bilingual field dictionary
=================================================  ===============================================

Formats are written by :mod:`geodata.publishing.gis_formats` from the manifest-listed GeoJSON
files of the served generation (``{quarter}_cells.geojson``, ``_summary``, ``_mobile_sites``,
``_fixed_routes``), whose bytes are checked against the manifest's sha256 first
(:func:`portal.downloads.read_verified`; a mismatch is a refresh in progress: ``503`` with
``Retry-After``). The product is cached on disk under a key
made of the sources' sha256 and :data:`~geodata.publishing.gis_formats.FORMAT_VERSION`, in
``GAP_MONITOR_PORTAL_CACHE`` (default ``<output_dir>/.portal_cache/``, hidden, so never in the
manifest; :func:`geodata.publishing.generations.portal_cache_dir`); when the cache cannot be written the product is built in a temporary folder, streamed
and deleted. It is served like a manifest file (:func:`portal.downloads.file_response`: ETag =
its sha256, ``304``, ``Range``/``206``). ``X-Portal-Cache`` says ``hit``, ``miss`` or ``off``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
import anyio.to_thread
import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from geodata.provenance import OutputWriteError, sha256_file
from geodata.publishing.field_dictionary import FIELD_DICTIONARY_PATH, load_field_dictionary
from geodata.publishing.generations import portal_cache_dir
from geodata.publishing.gis_formats import (
    FORMAT_VERSION,
    GIS_LAYERS,
    WRITERS,
    LayerSource,
    read_province_layers,
)
from portal.catalogue import FileEntry, ManifestStore, Province
from portal.downloads import CACHE_CONTROL, etag_matches, file_response, read_verified
from portal.http_errors import BilingualError
from portal.pages import render, requested_province

__all__ = ["GIS_FORMATS", "gis_routes"]

#: Cached products kept; the least recently built beyond this are removed.
MAX_CACHED = 512

#: format -> (URL suffix after the quarter, media type, label)
GIS_FORMATS: dict[str, tuple[str, str, str]] = {
    "gpkg": (".gpkg", "application/geopackage+sqlite3", "GeoPackage"),
    "shp.zip": (".shp.zip", "application/zip", "Shapefile (zip)"),
    "cells.csv": ("_cells.csv", "text/csv; charset=utf-8", "CSV (ô lưới / cells)"),
}

_QUARTER = re.compile(r"^\d{4}Q[1-4]$")


def _sources(province: Province, quarter: str) -> dict[str, FileEntry]:
    """The GeoJSON files of the province and quarter that the formats are made from."""
    out = {}
    for f in province.files:
        if f.period == quarter and f.suffix == "geojson" and f.kind in GIS_LAYERS:
            out[f.kind] = f
    return out


def _not_found(province: Province, quarter: str, suffix: str) -> BilingualError:
    quarters = province.cells_quarters
    base = f"/provinces/{province.version}/{province.code}"
    return BilingualError(
        404,
        f"Không có dữ liệu ô lưới quý '{quarter}' cho {province.name} ({province.code}, hệ "
        f"{province.version} tỉnh). Các quý có: {', '.join(quarters) or 'chưa có'}.",
        f"No cells for quarter '{quarter}' of {province.name} ({province.code}, "
        f"{province.version}-province system). Available: {', '.join(quarters) or 'none yet'}.",
        links=[(q, f"{base}/{q}{suffix}") for q in quarters] + [(province.name, base)],
    )


def _cache_key(fmt: str, sources: dict[str, FileEntry]) -> str:
    h = hashlib.sha256(f"gis-formats {FORMAT_VERSION} {fmt}\n".encode())
    for layer in GIS_LAYERS:
        if layer in sources:
            h.update(f"{layer} {sources[layer].sha256}\n".encode())
    return h.hexdigest()[:32]


def _prune(root: Path, keep: int) -> None:
    try:
        dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    except OSError:
        return
    if len(dirs) <= keep:
        return
    dirs.sort(key=lambda d: d.stat().st_mtime)
    for d in dirs[: len(dirs) - keep]:
        shutil.rmtree(d, ignore_errors=True)


def gis_routes(store: ManifestStore, env: jinja2.Environment) -> list[Route]:
    """The routes of this module, for the portal of ``store`` (``env`` renders ``/fields``)."""
    cache_root = portal_cache_dir(store.root)
    verified: dict[tuple[int, ...], str] = {}
    locks: dict[str, anyio.Lock] = {}

    def build(root: Path, entries: dict[str, FileEntry], fmt: str, dest: Path) -> None:
        layers = read_province_layers(
            {
                layer: LayerSource(read_verified(root, e), PurePosixPath(e.path).name, e.sha256)
                for layer, e in entries.items()
            }
        )
        WRITERS[fmt](layers, dest)

    async def serve(
        request: Request, base: Path, rel: str, entry_of: Callable[[Path], FileEntry], media: str
    ) -> Response:
        path = base / rel
        entry = entry_of(path)
        st = path.stat()
        verified[(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)] = entry.sha256
        response = await file_response(request, base, entry, verified)
        if response.status_code in (200, 206):
            response.headers["Content-Type"] = media
        return response

    def make_handler(fmt: str) -> Callable[[Request], Any]:
        suffix, media, _ = GIS_FORMATS[fmt]

        async def handler(request: Request) -> Response:
            version = request.path_params["version"]
            quarter = request.path_params["quarter"]
            got = requested_province(store, request, f"/{quarter}{suffix}")
            if isinstance(got, Response):
                return got
            served, catalogue, found = got
            entries = _sources(found, quarter) if _QUARTER.match(quarter) else {}
            if "cells" not in entries:
                raise _not_found(found, quarter, suffix)
            if len(verified) > 4096:
                verified.clear()
            folder = PurePosixPath(entries["cells"].path).parent.name
            name = f"{version}_{folder}_{quarter}{suffix}"
            key = _cache_key(fmt, entries)
            rel = f"{key}/{name}"

            def entry_of(path: Path) -> FileEntry:
                st = path.stat()
                return FileEntry(
                    path=rel,
                    bytes=st.st_size,
                    sha256=sha256_file(path),
                    features=None,
                    period=quarter,
                    version=version,
                    code=found.code,
                    kind=fmt,
                    mtime=st.st_mtime,
                )

            state, base = "hit", None
            lock = locks.setdefault(key, anyio.Lock())
            async with lock:
                try:
                    if not (cache_root / rel).is_file():
                        state = "miss"
                        await anyio.to_thread.run_sync(
                            build, served, entries, fmt, cache_root / rel
                        )
                        await anyio.to_thread.run_sync(_prune, cache_root, MAX_CACHED)
                    base = cache_root.resolve()
                except (OutputWriteError, PermissionError, NotADirectoryError, FileExistsError):
                    state = "off"
                finally:
                    if len(locks) > 1024 and not lock.locked():
                        locks.pop(key, None)
            if base is not None:
                response = await serve(request, base, rel, entry_of, media)
            else:  # cache not writable: build in a temporary folder, stream, delete
                work = Path(tempfile.mkdtemp(prefix="gap-monitor-gis-")).resolve()
                try:
                    await anyio.to_thread.run_sync(build, served, entries, fmt, work / rel)
                    response = await serve(request, work, rel, entry_of, media)
                finally:  # the response holds its file open: the name may go now
                    shutil.rmtree(work, ignore_errors=True)
            response.headers["X-Portal-Cache"] = state
            return response

        return handler

    async def fields_page(request: Request) -> Response:
        table = load_field_dictionary()
        rows = table.to_dict("records")
        for r in rows:
            r["layer_list"] = r["layers"].split(";")
        return render(env, "fields.html", sample=store.current().sample, fields=rows)

    async def fields_csv(request: Request) -> Response:
        data = FIELD_DICTIONARY_PATH.read_bytes()
        if not data.startswith(b"\xef\xbb\xbf"):
            data = b"\xef\xbb\xbf" + data  # Excel reads UTF-8 only with a BOM
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        headers = {
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "Content-Disposition": 'attachment; filename="field_dictionary.csv"',
            "X-Content-Type-Options": "nosniff",
        }
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="text/csv; charset=utf-8", headers=headers)

    routes = [
        Route(
            f"/provinces/{{version}}/{{code}}/{{quarter}}{suffix}",
            make_handler(fmt),
            methods=["GET"],
        )
        for fmt, (suffix, _, _) in GIS_FORMATS.items()
    ]
    routes += [
        Route("/fields", fields_page, methods=["GET"]),
        Route("/fields.csv", fields_csv, methods=["GET"]),
    ]
    return routes
