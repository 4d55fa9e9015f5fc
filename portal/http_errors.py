"""HTTP errors that explain themselves in Vietnamese and English."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException

__all__ = ["BilingualError", "GENERIC_MESSAGES"]

#: Messages for errors raised without one (unknown route, wrong method, ...).
GENERIC_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Yêu cầu không hợp lệ.", "Bad request."),
    404: (
        "Không tìm thấy trang hoặc tệp này. Chỉ các tệp trong bảng kê (manifest.json) được phục vụ.",
        "No such page or file. Only files listed in the manifest (manifest.json) are served.",
    ),
    405: (
        "Phương thức không được phép: cổng này chỉ đọc (GET, HEAD).",
        "Method not allowed: this portal is read-only (GET, HEAD).",
    ),
    500: ("Lỗi máy chủ.", "Server error."),
    503: (
        "Tạm thời không phục vụ được, vui lòng thử lại sau.",
        "Temporarily unavailable, please retry later.",
    ),
}


class BilingualError(HTTPException):
    """An HTTP error with a Vietnamese and an English message, and optional links to follow.

    Parameters
    ----------
    status_code : HTTP status
    vi, en : the message in each language
    headers : extra response headers (``Retry-After``, ``Allow``, ...)
    links : ``(label, url)`` pairs shown under the message (valid codes, the index, ...)
    """

    def __init__(
        self,
        status_code: int,
        vi: str,
        en: str,
        *,
        headers: Mapping[str, str] | None = None,
        links: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(status_code, detail=f"{vi} / {en}", headers=dict(headers or {}))
        self.vi = vi
        self.en = en
        self.links = links or []
