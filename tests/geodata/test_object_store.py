"""Published generations on an object store: every object first, the pointer last, retention by
serving order, and a reader's mirror checked against the manifest (moto's S3 server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geodata.provenance import atomic_write_text
from geodata.publishing.compare import compare_generations
from geodata.publishing.generations import PublicationError, publish_generation
from geodata.publishing.object_store import mirror_generation, read_pointer, upload_generation
from geodata.publishing.outputs import build_manifest
from tests.s3_server import keys, moto_s3

BUCKET = "published-test"


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server with credentials and endpoint in the environment."""
    yield from moto_s3(BUCKET)


def _generation(root: Path, version: int) -> Path:
    doc = {"type": "FeatureCollection", "features": [], "provenance": {"version": version}}
    atomic_write_text(root / "downloads/34/04_cao_bang/2026Q3_cells.geojson", json.dumps(doc))
    atomic_write_text(root / "tables/Đà Nẵng.csv", f"tỉnh,v\nĐà Nẵng,{version}\n")
    build_manifest(root)
    return publish_generation(root)


def test_pointer_names_a_complete_generation_and_the_mirror_equals_it(s3, tmp_path):
    url = f"s3://{BUCKET}/a"
    assert read_pointer(url) is None and mirror_generation(url, tmp_path / "m") is None
    gen = _generation(tmp_path / "out", 1)
    pointer = upload_generation(gen, url)
    assert read_pointer(url) == pointer and pointer["generation"] == gen.name
    stored = keys(s3, BUCKET, f"a/published/{gen.name}/")
    assert f"a/published/{gen.name}/manifest.json" in stored and len(stored) == 3
    mirrored = mirror_generation(url, tmp_path / "m")
    assert mirrored == tmp_path / "m" / gen.name
    assert compare_generations(gen, mirrored) == []
    assert (mirrored / "tables/Đà Nẵng.csv").read_bytes() == (
        gen / "tables/Đà Nẵng.csv"
    ).read_bytes()


def test_retention_keeps_the_last_served_and_the_pointer_moves_last(s3, tmp_path):
    url = f"s3://{BUCKET}/b"
    names = []
    for version in range(1, 6):
        gen = _generation(tmp_path / "out", version)
        names.append(gen.name)
        upload_generation(gen, url)
        assert read_pointer(url)["generation"] == gen.name
    published = {k.split("/")[2] for k in keys(s3, BUCKET, "b/published/") if k.count("/") > 2}
    assert published == set(names[-3:])  # the current one and its two predecessors
    served = json.loads(s3.get_object(Bucket=BUCKET, Key="b/published/served.json")["Body"].read())
    assert served["served"] == names[-3:]


def test_a_damaged_local_copy_is_never_uploaded(s3, tmp_path):
    url = f"s3://{BUCKET}/c"
    gen = _generation(tmp_path / "out", 1)
    target = gen / "tables/Đà Nẵng.csv"
    data = target.read_bytes()
    target.unlink()  # a hard link: replace, not write into, so the working set keeps its copy
    target.write_bytes(data.replace(b"1", b"7"))
    with pytest.raises(PublicationError, match="does not match"):
        upload_generation(gen, url)
    assert read_pointer(url) is None  # nothing points at a half-uploaded generation


def test_the_portal_serves_the_object_stores_current_generation(s3, tmp_path):
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient

    from portal.app import create_app

    url = f"s3://{BUCKET}/portal"
    first = _generation(tmp_path / "out", 1)
    upload_generation(first, url)
    app = create_app(tmp_path / "mirror", publish_url=url)
    client = TestClient(app)
    manifest = client.get("/manifest.json").json()
    assert manifest == json.loads((first / "manifest.json").read_text())
    path = "downloads/34/04_cao_bang/2026Q3_cells.geojson"
    got = client.get("/files/" + path)
    assert got.status_code == 200 and got.content == (first / path).read_bytes()
    second = _generation(tmp_path / "out", 2)
    upload_generation(second, url)
    # the pointer is read again after check_seconds; force it for the test
    for route_store in _stores(app):
        route_store._checked = -float("inf")
    again = client.get("/files/" + path)
    assert again.content == (second / path).read_bytes()


def _stores(app):
    """The ManifestStore the app's routes close over (found through a route's closure)."""
    from portal.catalogue import ManifestStore

    seen = []
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        for cell in getattr(endpoint, "__closure__", None) or ():
            value = cell.cell_contents
            if isinstance(value, ManifestStore) and value not in seen:
                seen.append(value)
    return seen
