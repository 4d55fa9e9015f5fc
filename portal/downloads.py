"""File downloads: only manifest-listed files, checked against the manifest, with revalidation.

A download is answered from one open file descriptor, so an atomic replacement of the file
(``os.replace`` by the nightly refresh) during the transfer cannot mix two versions. Before the
first full body of a file version (device, inode, mtime, size) is sent, its sha256 is compared
with the manifest; a size or digest that differs means a refresh is in progress, answered with
``503`` and ``Retry-After`` rather than a file the manifest does not describe.

The ``ETag`` is the manifest sha256, ``Last-Modified`` the file's modification time;
``If-None-Match`` (weak comparison, RFC 9110 13.1.2) takes precedence over
``If-Modified-Since``.

Interrupted downloads resume: a single byte range (``Range: bytes=a-b``, ``a-`` or ``-n``,
RFC 9110 14) is answered ``206 Partial Content`` with ``Content-Range``, an unsatisfiable one
``416`` with ``Content-Range: bytes */size``; ``If-Range`` with another ETag (or a date other than
``Last-Modified``) sends the whole file, as does a request for several ranges.
"""

from __future__ import annotations

import hashlib
import os
import stat
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from portal.catalogue import FileEntry
from portal.http_errors import BilingualError

__all__ = [
    "MEDIA_TYPES",
    "CACHE_CONTROL",
    "RETRY_AFTER_SECONDS",
    "media_type",
    "etag_matches",
    "file_response",
    "parse_range",
    "read_verified",
]

#: Content-Type by extension; anything else is ``application/octet-stream``.
MEDIA_TYPES: dict[str, str] = {
    "geojson": "application/geo+json",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "png": "image/png",
    "parquet": "application/vnd.apache.parquet",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}

#: Outputs change at most nightly: caches may keep a file 5 minutes, then revalidate (cheap 304).
CACHE_CONTROL = "public, max-age=300, must-revalidate"
#: Seconds a client should wait when a file does not (yet) match the manifest.
RETRY_AFTER_SECONDS = 30

_CHUNK = 1 << 16
_HASH_CHUNK = 1 << 20


def media_type(path: str) -> str:
    """Content-Type of a file name by its extension.

    >>> media_type("downloads/34/01_ha_noi/2026Q3_cells.geojson")
    'application/geo+json'
    """
    return MEDIA_TYPES.get(Path(path).suffix.lower().lstrip("."), "application/octet-stream")


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` by weak comparison (``*`` matches)."""
    opaque = etag.removeprefix("W/")
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == opaque:
            return True
    return False


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored (RFC 9110 13.1.3)
    if since is None or since.tzinfo is None:
        return False
    return int(mtime) <= since.timestamp()


def _content_disposition(name: str) -> str:
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _unavailable(entry: FileEntry, why_vi: str, why_en: str) -> BilingualError:
    return BilingualError(
        503,
        f"Tệp {entry.path} đang được cập nhật ({why_vi}). Vui lòng thử lại sau "
        f"{RETRY_AFTER_SECONDS} giây.",
        f"File {entry.path} is being refreshed ({why_en}). Please retry in "
        f"{RETRY_AFTER_SECONDS} seconds.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _sha256_fd(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, _HASH_CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """The byte range ``(first, last)`` (inclusive) a ``Range`` header asks of a ``size``-byte
    file; ``None`` when the header is to be ignored (not bytes, malformed, several ranges);
    ``False`` when it is unsatisfiable (416).

    >>> parse_range("bytes=0-99", 1000), parse_range("bytes=-100", 1000), parse_range("bytes=990-", 1000)
    ((0, 99), (900, 999), (990, 999))
    >>> parse_range("bytes=1000-", 1000), parse_range("bytes=0-1,5-9", 1000)
    (False, None)
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        n = int(last)
        if n == 0 or size == 0:
            return False
        return (max(size - n, 0), size - 1)
    a = int(first)
    b = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < a:
        return None  # invalid range: ignore the header (RFC 9110 14.1.1)
    if a >= size:
        return False
    return (a, b)


def _if_range_holds(header: str | None, etag: str, last_modified: str) -> bool:
    """``If-Range`` absent or matching: a strong ETag equal to ours, or exactly our date."""
    if header is None:
        return True
    header = header.strip()
    if header.startswith('"'):
        return header == etag
    return header == last_modified


class _DescriptorResponse(Response):
    """Streams ``size`` bytes of an open file descriptor from ``start``, which it closes when
    done or aborted."""

    def __init__(
        self,
        fd: int,
        size: int,
        headers: dict[str, str],
        media_type: str,
        *,
        start: int = 0,
        status_code: int = 200,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers, media_type=media_type)
        self.fd = fd
        self.size = size
        self.start = start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            offset = 0
            while offset < self.size:
                n = min(_CHUNK, self.size - offset)
                chunk = await anyio.to_thread.run_sync(os.pread, self.fd, n, self.start + offset)
                if not chunk:  # cannot happen on the inode we hold open, unless truncated in place
                    raise OSError(f"file shrank to {offset} bytes while being sent")
                offset += len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": offset < self.size}
                )
            if self.size == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            os.close(self.fd)


class _OutsideRoot(Exception):
    """The path resolves (through a symlink) to a file outside the output directory."""


def _open_inside(root: Path, rel: str) -> int:
    """Open ``root/rel`` read-only if its real path stays inside ``root`` (symlinks resolved)."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise _OutsideRoot(rel)
    return os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))


def _open_checked(root: Path, entry: FileEntry, use: tuple[str, str]) -> tuple[int, os.stat_result]:
    """Open a manifest file of the served generation ``root``: a 404 when its path leaves
    ``root`` (``use``: what is refused, in Vietnamese and English), a 503 asking to retry when it
    is missing, not a regular file or not the manifest's size (a refresh is under way). The
    caller owns the returned descriptor."""
    try:
        fd = _open_inside(root, entry.path)
    except _OutsideRoot as exc:
        raise BilingualError(
            404,
            f"Tệp {entry.path} trỏ ra ngoài thư mục dữ liệu nên không được {use[0]}.",
            f"File {entry.path} points outside the output directory and is not {use[1]}.",
        ) from exc
    except OSError as exc:
        raise _unavailable(entry, "tệp chưa có trên đĩa", "the file is not on disk") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _unavailable(entry, "không phải tệp thường", "not a regular file")
        if st.st_size != entry.bytes:
            raise _unavailable(
                entry,
                f"kích thước {st.st_size} khác bảng kê {entry.bytes}",
                f"size {st.st_size} differs from the manifest's {entry.bytes}",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _sha_mismatch(entry: FileEntry) -> BilingualError:
    return _unavailable(
        entry, "nội dung khác sha256 của bảng kê", "content differs from the manifest's sha256"
    )


def read_verified(root: Path, entry: FileEntry) -> bytes:
    """The bytes of a manifest entry of the served generation ``root``, checked against the
    manifest's size and sha256: a file made on request (GIS formats, the A4 sheet) is built only
    from what the manifest describes (errors as :func:`file_response`)."""
    fd, _ = _open_checked(root, entry, ("dùng", "used"))
    try:
        with os.fdopen(fd, "rb", closefd=True) as fh:
            data = fh.read()
    except OSError as exc:
        raise _unavailable(entry, "không đọc được tệp", "the file cannot be read") from exc
    if len(data) != entry.bytes or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise _sha_mismatch(entry)
    return data


async def file_response(
    request: Request, root: Path, entry: FileEntry, verified: dict[tuple[int, ...], str]
) -> Response:
    """The response for a manifest entry: 200 (GET/HEAD), 304, or 503 if the file on disk
    does not match the manifest.

    ``root`` must be resolved; ``verified`` caches the sha256 checks by
    ``(st_dev, st_ino, st_mtime_ns, st_size)`` across requests.
    """
    fd, st = _open_checked(root, entry, ("phục vụ", "served"))
    try:
        etag = f'"{entry.sha256}"'
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(st.st_mtime, usegmt=True),
            "Cache-Control": CACHE_CONTROL,
            "Content-Disposition": _content_disposition(entry.download_name),
            "X-Content-Type-Options": "nosniff",
            "Accept-Ranges": "bytes",
        }
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (inm is not None and etag_matches(inm, etag)) or (
            inm is None and ims is not None and _not_modified_since(ims, st.st_mtime)
        ):
            os.close(fd)
            return Response(status_code=304, headers=headers)

        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        if verified.get(key) != entry.sha256:
            digest = await anyio.to_thread.run_sync(_sha256_fd, fd)
            if digest != entry.sha256:
                raise _sha_mismatch(entry)
            verified[key] = digest

        wanted = request.headers.get("range")
        span = None
        if wanted is not None and _if_range_holds(
            request.headers.get("if-range"), etag, headers["Last-Modified"]
        ):
            span = parse_range(wanted, st.st_size)
        if span is False:
            os.close(fd)
            headers["Content-Range"] = f"bytes */{st.st_size}"
            return Response(status_code=416, headers=headers)
        start, length, status = 0, st.st_size, 200
        if span is not None:
            start, length, status = span[0], span[1] - span[0] + 1, 206
            headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{st.st_size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            os.close(fd)
            return Response(status_code=status, headers=headers, media_type=media_type(entry.path))
    except BaseException:
        try:
            os.close(fd)
        except OSError:
            pass
        raise
    return _DescriptorResponse(
        fd, length, headers, media_type(entry.path), start=start, status_code=status
    )
