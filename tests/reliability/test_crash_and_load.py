"""Real crashes and real load on a refreshed sample slice.

* kill -9 of ``make run`` at several points: ``current/`` stays the previous complete set, byte
  for byte, the portal catalogue still validates, and the next run completes and publishes;
* a bounded load test: the portal under uvicorn on loopback answers downloads while a refresh
  publishes a new generation; every body matches a sha256 of a manifest, no errors.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest
import uvicorn

from geodata.publishing.generations import (
    CURRENT,
    current_generation,
    generations,
    verify_generation,
)
from portal.app import create_app
from portal.catalogue import load_catalogue
from tests.reliability.conftest import (
    change_input,
    run_refresh,
    start_refresh,
    tree_digests,
)
from tests.reliability.corpus import CORPUS, READ_KWARGS, read_corpus

#: (line of the refresh's output to wait for, seconds to wait after it); the delays are drawn
#: once with a fixed seed so that the kill points are the same on every run of the suite.
_rng = random.Random(20261129)
KILL_POINTS = [
    ("inputs:", round(_rng.uniform(0.0, 2.0), 2)),
    ("materialising quarter 2026Q3", round(_rng.uniform(0.5, 2.0), 2)),
    ("materialising quarter 2026Q3", round(_rng.uniform(2.0, 6.0), 2)),
    ("materialising trends and manifest", round(_rng.uniform(0.0, 0.5), 2)),
    ("materialising trends and manifest", round(_rng.uniform(0.5, 1.2), 2)),
]


def _kill_at(proc, marker: str, delay: float) -> str:
    """SIGKILL ``proc`` ``delay`` s after it prints ``marker``; what it had printed until then."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(marker):
            break
    time.sleep(delay)
    exited = proc.poll()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    return "".join(seen) + ("" if exited is None else f"[exited {exited} before the kill]")


def _assert_current_is(out: Path, digests: dict[str, str]) -> None:
    assert tree_digests(out / CURRENT) == digests
    catalogue = load_catalogue(out / CURRENT)  # validates every entry
    assert catalogue.files and verify_generation(out / CURRENT) == len(catalogue.files)


def test_a_refresh_with_the_whole_bad_corpus_goes_on_quarantines_and_flags_it(refreshed_slice):
    stdout = refreshed_slice["first_stdout"]
    log = refreshed_slice["first_log"].read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in stdout + log  # a bad file never shows a user a traceback
    for check in (
        "adoption_statistics / quarantine_share",
        "cell_sites / quarantine_share",
        "coverage_rasters / rasters_readable",
        "speed_tiles / quarantine_share_fixed",
    ):
        assert f"check FAILED: {check}" in stdout  # what the Dagster UI shows, as a warning
    assert "materialising trends and manifest" in stdout  # everything else went on
    verify_generation(refreshed_slice["out"] / CURRENT)

    quarantine = pd.concat(
        [
            pd.read_csv(f, dtype=str, encoding="utf-8-sig")
            for f in (refreshed_slice["out"] / "quarantine").glob("*.csv")
        ]
    )
    named = {Path(f).name for f in quarantine["_file"]}
    bad = {str(o.file.relative_to(CORPUS)) for o in read_corpus() if o.error or o.rows_quarantined}
    for name, src in refreshed_slice["corpus"].items():
        rel = str(src.relative_to(CORPUS))
        if rel in bad and rel not in READ_KWARGS:
            assert name in named, f"{rel} is not in any quarantine file"
    assert quarantine["_reason"].notna().all()
    rows = quarantine[quarantine["_row"].notna()]
    assert rows["_column"].notna().all()  # every quarantined row names its column

    instance = dg.DagsterInstance.from_config(str(refreshed_slice["home"]))
    for key, prefix in (("cell_sites", ""), ("adoption_statistics", ""), ("speed_tiles", "fixed_")):
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        assert meta[f"{prefix}counts_reconcile"] is True
        read = meta[f"{prefix}rows_read"]
        outside = meta[f"{prefix}rows_outside_study_area"]
        assert read == meta[f"{prefix}rows_accepted"] + meta[f"{prefix}rows_quarantined"] + outside
        assert meta[f"{prefix}rows_in_study_area"] == read - outside
        assert meta[f"{prefix}files_rejected"] > 0 and meta[f"{prefix}rows_quarantined"] > 0


def test_kill_9_mid_refresh_leaves_the_previous_set_then_the_next_run_completes(
    refreshed_slice, record_property
):
    out, env, base = refreshed_slice["out"], refreshed_slice["env"], refreshed_slice["base"]
    before = tree_digests(out / CURRENT)
    generation_before = current_generation(out)
    change_input(refreshed_slice["inputs"], factor=2)
    outcomes = []
    for i, (marker, delay) in enumerate(KILL_POINTS):
        proc = start_refresh(env, base / f"killed_{i}.log")
        printed = _kill_at(proc, marker, delay)
        if "[exited 0" in printed:  # a fast machine finished first: a new complete set, go on
            verify_generation(out / CURRENT)
            before, generation_before = tree_digests(out / CURRENT), current_generation(out)
            change_input(refreshed_slice["inputs"], factor=2 + i)
            outcomes.append(f"after '{marker}' + {delay} s: the run had completed")
            continue
        assert "[exited" not in printed, printed
        _assert_current_is(out, before)  # byte for byte the previous complete set
        assert current_generation(out) == generation_before
        outcomes.append(f"after '{marker}' + {delay} s: killed, current intact")
    record_property("kill_points", outcomes)
    print("\n" + "\n".join(outcomes))
    assert sum("killed" in o for o in outcomes) >= 3

    # the killed runs held the refresh lock: the kernel released it, the next run completes
    done = run_refresh(env, base / "after_kills.log")
    assert done.returncode == 0, (base / "after_kills.log").read_text()[-3000:]
    assert current_generation(out) != generation_before
    after = tree_digests(out / CURRENT)
    assert after != before and after.keys() == before.keys()
    verify_generation(out / CURRENT)
    assert generation_before in generations(out)  # the previous one is kept for a while
    assert tree_digests(generation_before) == before  # and was not touched by the rewrite


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


def _serve(out: Path) -> tuple[_Server, threading.Thread, str]:
    config = uvicorn.Config(
        create_app(out), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


#: a fixed number of requests, spread evenly over a fixed window that starts when the refresh
#: begins its last step (trends, manifest, publication), so that the publication falls inside it
REQUESTS, CLIENTS, WINDOW_S = 600, 4, 15.0  # the window spans the scorecard and the publication


def test_downloads_during_a_refresh_are_complete_and_error_free(refreshed_slice, tmp_path_factory):
    out, env, base = refreshed_slice["out"], refreshed_slice["env"], refreshed_slice["base"]
    server, thread, url = _serve(out)
    manifests: dict[str, dict] = {}  # manifest sha256 -> manifest, every one a client saw
    results: list[tuple[str, int, float, str, str, str]] = []  # path, status, s, sha, etag, err
    lock = threading.Lock()

    def fetch_manifest(client: httpx.Client) -> list[str]:
        r = client.get("/manifest.json")
        r.raise_for_status()
        doc = r.json()
        with lock:
            manifests[r.headers["etag"].strip('"')] = doc
        return [f["path"] for f in doc["files"] if f["path"].startswith(("downloads/", "geojson/"))]

    def client_loop(seed: int, start: float) -> None:
        rng = random.Random(seed)
        per_client = REQUESTS // CLIENTS
        with httpx.Client(base_url=url, timeout=30) as client:
            paths = fetch_manifest(client)
            for k in range(per_client):
                time.sleep(max(0.0, start + k * WINDOW_S / per_client - time.perf_counter()))
                if rng.random() < 0.1:
                    paths = fetch_manifest(client)  # the list a user's page would show now
                path = rng.choice(paths)
                t0 = time.perf_counter()
                try:
                    r = client.get("/files/" + path, headers={"Accept-Encoding": "identity"})
                    row = (
                        path,
                        r.status_code,
                        time.perf_counter() - t0,
                        hashlib.sha256(r.content).hexdigest(),
                        r.headers.get("etag", "").strip('"'),
                        "",
                    )
                except httpx.HTTPError as exc:
                    row = (path, 0, time.perf_counter() - t0, "", "", repr(exc))
                with lock:
                    results.append(row)

    change_input(refreshed_slice["inputs"], factor=3)
    generation_before = current_generation(out)
    proc = start_refresh(env, base / "under_load.log")
    try:
        for line in proc.stdout:
            if line.startswith("materialising trends and manifest"):
                break
        start = time.perf_counter()
        clients = [
            threading.Thread(target=client_loop, args=(s, start + s * WINDOW_S / REQUESTS))
            for s in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        proc.communicate(timeout=600)
        for c in clients:
            c.join(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.should_exit = True
        thread.join(timeout=10)
    assert proc.returncode == 0, (base / "under_load.log").read_text()[-3000:]
    assert current_generation(out) != generation_before  # a generation was published meanwhile

    # every manifest of every generation still on disk, plus those the clients read
    for gen in generations(out):
        doc = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
        manifests[hashlib.sha256((gen / "manifest.json").read_bytes()).hexdigest()] = doc
    known = {(f["path"], f["sha256"]) for doc in manifests.values() for f in doc["files"]}
    errors = [r for r in results if r[1] != 200]
    mixed = [r for r in results if r[1] == 200 and ((r[0], r[3]) not in known or r[3] != r[4])]
    latencies = sorted(r[2] for r in results)
    served_digests = {(r[0], r[3]) for r in results if r[1] == 200}
    figures = {
        "requests": len(results),
        "errors": len(errors),
        "truncated_or_mixed": len(mixed),
        "distinct_file_versions_served": len(served_digests),
        "manifests_seen": len(manifests),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "max_ms": round(1000 * latencies[-1], 1),
        "clients": CLIENTS,
        "window_s": WINDOW_S,
    }
    report = tmp_path_factory.getbasetemp() / "load_test.json"
    report.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nload test during a refresh: {json.dumps(figures)} (written to {report})")
    assert not errors, errors[:5]
    assert not mixed, mixed[:5]
    assert len(results) == REQUESTS
    # files of both generations were served: the load did overlap the publication
    paths_with_two_versions = {
        p for p, _ in served_digests if sum(q == p for q, _ in served_digests) > 1
    }
    assert paths_with_two_versions


@pytest.mark.parametrize(
    "raw_path",
    [
        "/files/../run_state.json",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2e%2e%2f.refresh.lock",
        "/files/current/manifest.json",
        "/files/published/",
        "/files/downloads/escape.geojson",  # a symlink to /etc/passwd, not in the manifest
        "/files/" + "a/" * 5000,
        "/files/" + "x" * 10_000,
    ],
)
def test_requests_outside_the_published_files_are_refused_over_http(refreshed_slice, raw_path):
    import http.client

    out = refreshed_slice["out"]
    link = out / CURRENT / "downloads" / "escape.geojson"  # inside the served generation
    if not link.is_symlink():
        link.symlink_to("/etc/passwd")
    server, thread, url = _serve(out)
    try:
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", raw_path)  # sent as written: no client-side normalisation
        response = conn.getresponse()
        body = response.read()
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert 400 <= response.status < 500, (response.status, body[:200])
    assert b"root:" not in body


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_an_unwritable_output_folder_is_one_line_and_changes_nothing(refreshed_slice):
    out, env, base = refreshed_slice["out"], refreshed_slice["env"], refreshed_slice["base"]
    before = tree_digests(out / CURRENT)
    (refreshed_slice["inputs"] / "adoption" / "bad_percent_140.csv").write_text("")  # news
    folder = out / "quarantine"
    if not _chattr("+i", folder):  # we run as root: chmod would not stop a write
        pytest.skip("chattr +i is not available here")
    try:
        done = run_refresh(env, base / "unwritable.log")
    finally:
        _chattr("-i", folder)
    assert done.returncode == 2
    stderr = (base / "unwritable.log").read_text()
    assert stderr.splitlines() == [
        f"error: output directory {out}: cannot write output {folder}/.write-probe: "
        "Operation not permitted"
    ]
    assert tree_digests(out / CURRENT) == before


def test_a_write_failing_mid_run_names_the_file_and_keeps_the_published_set(refreshed_slice):
    out, env, base = refreshed_slice["out"], refreshed_slice["env"], refreshed_slice["base"]
    before = tree_digests(out / CURRENT)
    generation = current_generation(out)
    (refreshed_slice["inputs"] / "adoption" / "bad_percent_140.csv").write_text("news\n")
    target = out / "quarantine" / "cell_sites.csv"  # the folder is writable, this file is not
    if not _chattr("+i", target):
        pytest.skip("chattr +i is not available here")
    try:
        done = run_refresh(env, base / "write_fails.log")
    finally:
        _chattr("-i", target)
    assert done.returncode == 1
    last = (base / "write_fails.log").read_text().strip().splitlines()[-1]
    assert (
        last.startswith("error: run ")
        and (
            f"cell_sites: geodata.provenance.OutputWriteError: cannot write output {target}: "
            "Operation not permitted"
        )
        in last
    )
    assert not list(target.parent.glob(".*.tmp"))  # the temporary file was removed
    assert current_generation(out) == generation and tree_digests(out / CURRENT) == before
