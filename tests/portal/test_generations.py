"""The portal serves the published generation ``current`` points at (geodata.publishing.generations)."""

from __future__ import annotations

import hashlib
import json
import os
import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx 0.28 works the same here
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from geodata.provenance import atomic_write_bytes
from geodata.publishing.generations import CURRENT, publish_generation
from geodata.publishing.outputs import build_manifest
from portal.app import create_app

CELLS = "downloads/34/01_ha_noi/2026Q3_cells.geojson"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_refresh_in_progress_does_not_change_what_is_served(output_dir):
    publish_generation(output_dir)
    client = TestClient(create_app(output_dir))
    old = client.get("/files/" + CELLS)
    assert old.status_code == 200
    old_manifest = client.get("/manifest.json").json()
    # the refresh rewrites the file and the working manifest, and drops another file
    doc = json.loads(old.content)
    doc["features"] = doc["features"][:1]
    atomic_write_bytes(output_dir / CELLS, json.dumps(doc).encode())
    (output_dir / "tables" / os.listdir(output_dir / "tables")[0]).unlink()
    build_manifest(output_dir)
    during = client.get("/files/" + CELLS)
    assert during.status_code == 200 and during.content == old.content  # not a 503, not new
    assert client.get("/manifest.json").json() == old_manifest
    for f in old_manifest["files"]:  # every file of the served manifest is still there
        assert _sha(client.get("/files/" + f["path"]).content) == f["sha256"], f["path"]
    publish_generation(output_dir)
    new = client.get("/files/" + CELLS)
    assert new.status_code == 200 and len(json.loads(new.content)["features"]) == 1
    assert new.headers["etag"].removeprefix("W/") == f'"{_sha(new.content)}"'


def test_current_pointing_outside_published_is_ignored(output_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text('{"files": []}')
    (output_dir / CURRENT).symlink_to(elsewhere)
    client = TestClient(create_app(output_dir))
    assert client.get("/files/" + CELLS).status_code == 200  # the output directory itself


def test_symlink_inside_a_generation_pointing_outside_is_refused(output_dir):
    secret = output_dir.parent / "secret.txt"
    secret.write_text("TOP SECRET")
    (output_dir / "tables" / "leak.csv").symlink_to(secret)
    build_manifest(output_dir)  # a manifest that (wrongly) lists the symlink
    gen = publish_generation(output_dir)
    assert (gen / "tables" / "leak.csv").exists()
    client = TestClient(create_app(output_dir))
    r = client.get("/files/tables/leak.csv")
    assert r.status_code in (403, 404) and "TOP SECRET" not in r.text
    r = client.get("/files/%2e%2e/%2e%2e/secret.txt")
    assert r.status_code == 404 and "TOP SECRET" not in r.text
