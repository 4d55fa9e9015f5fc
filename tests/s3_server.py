"""An S3 server for tests: moto's server mode on a free local port, with credentials and its
endpoint in the environment (as a deployment sets them), and one bucket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def moto_s3(bucket: str) -> Iterator[object]:
    """Generator for a module-scoped fixture: yields a boto3 client of the server."""
    boto3 = pytest.importorskip("boto3")
    s3fs = pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        mp.setenv(key, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    s3fs.S3FileSystem.clear_instance_cache()  # a cached filesystem may know another test's server
    try:
        yield client
    finally:
        mp.undo()
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def keys(client: object, bucket: str, prefix: str = "") -> list[str]:
    """Every key under ``prefix``."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
