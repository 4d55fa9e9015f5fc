"""The read-only download portal as a Starlette application.

Routes (GET and HEAD only; any other method is ``405``):

=================================  ==========================================================
``/``                              index, Vietnamese and English: every province of both
                                   boundary versions with its files, sizes and refresh time
``/provinces/{version}/{code}``    one province and its files (name or unpadded code redirects)
``/scorecard``                     targets scorecard, Vietnamese and English: nation, regions,
                                   provinces ranked per target; ``?version=63``,
                                   ``?quarter=2026Q2`` (default 34 and the latest quarter)
``/map`` ``/map/{version}``        offline map of province summaries; ``?period=2026Q3``,
                                   ``?province=01`` (click a province to load its H3 cells)
``/files/{path}``                  a file listed in ``manifest.json`` (ETag, 304, gzip)
``/manifest.json``                 the manifest itself, to verify downloads
``/static/...``                    the portal's CSS, script and vendored Leaflet 1.9.4
=================================  ==========================================================

Examples
--------
>>> from starlette.testclient import TestClient
>>> client = TestClient(create_app("assets"))  # doctest: +SKIP
>>> client.get("/").status_code  # doctest: +SKIP
200
"""

from __future__ import annotations

import hashlib
from os import PathLike
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geodata.errors import InputError
from portal.basemap import basemap_routes
from portal.catalogue import MANIFEST_NAME, ManifestStore, ObjectStoreManifestStore
from portal.downloads import CACHE_CONTROL, RETRY_AFTER_SECONDS, etag_matches, file_response
from portal.gis import gis_routes
from portal.http_errors import GENERIC_MESSAGES, BilingualError
from portal.pages import (
    check_version,
    index_context,
    make_environment,
    map_context,
    province_context,
    render,
    requested_province,
)
from portal.scorecard import province_targets, scorecard_context
from portal.sheets import sheet_routes

__all__ = ["ALLOWED_METHODS", "STATIC_DIR", "create_app"]

ALLOWED_METHODS = ("GET", "HEAD")
STATIC_DIR = Path(__file__).parent / "static"

#: Level 6 instead of Starlette's 9: on a 359 kB GeoJSON 3x faster for 0.7 % more bytes.
_GZIP_LEVEL = 6
#: Already-compressed types are sent as they are (PNG is in Starlette's default list).
_NO_GZIP = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "application/vnd.apache.parquet",
    "image/tiff",
    "application/pdf",  # compressed already; gzip would weaken its ETag
    "application/zip",
)
_MAX_SHOWN_PATH = 120


class _ReadOnly:
    """ASGI middleware: ``405`` with ``Allow: GET, HEAD`` for any other method, on any path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ALLOWED_METHODS:
            vi, en = GENERIC_MESSAGES[405]
            response = PlainTextResponse(
                f"{vi}\n{en}\n", status_code=405, headers={"Allow": ", ".join(ALLOWED_METHODS)}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _WeakETagWhenEncoded:
    """ASGI middleware: a strong ETag becomes weak when the body was gzipped on the way out
    (the bytes sent are not the bytes the sha256 names), as nginx does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_weak(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                etag = headers.get("etag")
                if "content-encoding" in headers and etag and etag.startswith('"'):
                    headers["ETag"] = "W/" + etag
            await send(message)

        await self.app(scope, receive, send_weak if scope["type"] == "http" else send)


class _CachedStaticFiles(StaticFiles):
    """Static files with a day of caching (the vendored Leaflet never changes)."""

    def file_response(self, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def create_app(output_dir: str | PathLike[str], publish_url: str = "") -> Starlette:
    """The portal serving the files listed in ``output_dir/manifest.json``.

    Parameters
    ----------
    output_dir : the pipeline's output directory (``GAP_MONITOR_OUTPUT_DIR``); it may not
        have a manifest yet, in which case every province is listed without files.
    publish_url : an object store the pipeline publishes to (``GAP_MONITOR_PUBLISH_URL``):
        its current generation is served instead, mirrored into ``output_dir``.
    """
    root = Path(output_dir).resolve()
    store = ObjectStoreManifestStore(root, publish_url) if publish_url else ManifestStore(root)
    env = make_environment()
    verified: dict[tuple[int, ...], str] = {}

    async def index(request: Request) -> Response:
        served, catalogue = store.snapshot()  # one generation for the page and its figures
        return render(env, "index.html", **index_context(catalogue, served))

    async def province(request: Request) -> Response:
        got = requested_province(store, request)  # one generation for the page and its figures
        if isinstance(got, Response):
            return got
        served, catalogue, found = got
        ctx = province_context(catalogue, found, served)
        ctx["targets"] = province_targets(catalogue, served, found)
        return render(env, "province.html", **ctx)

    async def scorecard(request: Request) -> Response:
        served, catalogue = store.snapshot()  # one generation for the page and its tables
        ctx = scorecard_context(
            catalogue,
            served,
            request.query_params.get("version") or None,
            request.query_params.get("quarter") or None,
        )
        return render(env, "scorecard.html", **ctx)

    async def version_index(request: Request) -> Response:
        version = check_version(request.path_params["version"])
        return RedirectResponse(f"/#v{version}", status_code=308)

    async def map_default(request: Request) -> Response:
        return RedirectResponse("/map/34", status_code=307)

    async def map_page(request: Request) -> Response:
        version = check_version(request.path_params["version"])
        ctx = map_context(
            store.current(),
            version,
            request.query_params.get("period") or None,
            request.query_params.get("province") or None,
            request.query_params.get("layers") or None,
        )
        return render(env, "map.html", **ctx)

    async def download(request: Request) -> Response:
        rel = request.path_params["path"]
        served, catalogue = store.snapshot()  # one generation for the manifest and the file
        entry = catalogue.files.get(rel)
        if entry is None:
            shown = rel if len(rel) <= _MAX_SHOWN_PATH else rel[:_MAX_SHOWN_PATH] + "…"
            raise BilingualError(
                404,
                f"Không có tệp '{shown}' trong bảng kê. Chỉ các tệp liệt kê trong manifest.json "
                "được tải về; xem danh sách ở trang chủ.",
                f"No file '{shown}' in the manifest. Only files listed in manifest.json can be "
                "downloaded; see the list on the index page.",
                links=[("Trang chủ / Index", "/"), ("manifest.json", "/manifest.json")],
            )
        if len(verified) > 4 * len(catalogue.files) + 64:
            verified.clear()
        return await file_response(request, served, entry, verified)

    async def manifest(request: Request) -> Response:
        try:
            data = (store.served_root() / MANIFEST_NAME).read_bytes()
        except FileNotFoundError as exc:
            raise BilingualError(
                404,
                "Chưa có bảng kê: quy trình chưa xuất bản tệp nào.",
                "No manifest yet: the pipeline has not published any file.",
            ) from exc
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="application/json", headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if isinstance(exc, BilingualError):
            vi, en, links = exc.vi, exc.en, exc.links
        else:
            vi, en = GENERIC_MESSAGES.get(exc.status_code, (str(exc.detail), str(exc.detail)))
            links = [("Trang chủ / Index", "/")]
        response = render(
            env,
            "error.html",
            status_code=exc.status_code,
            status=exc.status_code,
            vi=vi,
            en=en,
            links=links,
        )
        response.headers.update(exc.headers or {})
        return response

    async def manifest_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InputError)
        response = render(
            env,
            "error.html",
            status_code=503,
            status=503,
            vi=f"Bảng kê hiện không đọc được ({exc.reason}). Vui lòng thử lại sau.",
            en=f"The manifest cannot be read right now ({exc.reason}). Please retry later.",
            links=[],
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/provinces/{version}", version_index, methods=["GET"]),
        Route("/provinces/{version}/{code}", province, methods=["GET"]),
        Route("/scorecard", scorecard, methods=["GET"]),
        Route("/map", map_default, methods=["GET"]),
        Route("/map/{version}", map_page, methods=["GET"]),
        Route("/files/{path:path}", download, methods=["GET"]),
        Route("/manifest.json", manifest, methods=["GET"]),
        *basemap_routes(),
        *gis_routes(store, env),
        *sheet_routes(store),
        Mount("/static", app=_CachedStaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        Middleware(_ReadOnly),
        Middleware(_WeakETagWhenEncoded),
        Middleware(
            GZipMiddleware,
            minimum_size=500,
            compresslevel=_GZIP_LEVEL,
            exclude_content_types=_NO_GZIP,
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, InputError: manifest_error},
    )
