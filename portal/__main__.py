"""``python -m portal``: serve the outputs read-only with uvicorn.

Environment (read in :func:`main` only): ``GAP_MONITOR_OUTPUT_DIR`` (default ``assets/`` of the
project), ``GAP_MONITOR_HOST`` (default ``127.0.0.1``), ``GAP_MONITOR_PORT`` (default ``8000``),
``GAP_MONITOR_PUBLISH_URL`` (an object store the pipeline publishes to, e.g.
``s3://bucket/gap-monitor``: its current generation is served, mirrored into the output directory).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_OUTPUT_DIR", "DEFAULT_HOST", "DEFAULT_PORT", "settings", "main"]

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def settings(env: Mapping[str, str]) -> tuple[Path, str, int]:
    """``(output_dir, host, port)`` from ``env``; a clear ``SystemExit`` on a bad value."""
    output_dir = Path(env.get("GAP_MONITOR_OUTPUT_DIR", "").strip() or DEFAULT_OUTPUT_DIR)
    if env.get("GAP_MONITOR_PUBLISH_URL", "").strip():  # the output directory holds the mirror
        output_dir.mkdir(parents=True, exist_ok=True)
    host = env.get("GAP_MONITOR_HOST", "").strip() or DEFAULT_HOST
    raw_port = env.get("GAP_MONITOR_PORT", "").strip() or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise SystemExit(f"GAP_MONITOR_PORT={raw_port!r}: expected a TCP port number 1-65535")
    if not output_dir.is_dir():
        raise SystemExit(
            f"GAP_MONITOR_OUTPUT_DIR={str(output_dir)!r} is not a directory "
            "(run `make run` first, or point the variable at an output directory)"
        )
    return output_dir, host, int(raw_port)


def main() -> None:
    import uvicorn

    from portal.app import create_app

    publish_url = os.environ.get("GAP_MONITOR_PUBLISH_URL", "").strip()
    output_dir, host, port = settings(os.environ)
    print(f"serving {publish_url or output_dir} on http://{host}:{port}/", file=sys.stderr)
    app = create_app(output_dir, publish_url=publish_url)
    uvicorn.run(app, host=host, port=port, server_header=False, log_level="info")


if __name__ == "__main__":
    main()
