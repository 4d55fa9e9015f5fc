"""Compare two published generations, ignoring run timestamps only.

A generation (:func:`geodata.publishing.generations.publish_generation`) holds exactly the files
its ``manifest.json`` lists plus the manifest. Two refreshes of the same inputs and code differ
only in what the run's clock wrote:

* ``generated_at``: :func:`geodata.publishing.outputs.provenance_record` (``utc_now_iso()``),
  carried as the top-level ``provenance`` member of every GeoJSON
  (:mod:`geodata.writers.geojson`, ``collection_header``), inside the Parquet key-value metadata
  ``gap_monitor:provenance`` (:mod:`geodata.writers.tables`), and at the top of ``manifest.json``
  (:func:`geodata.publishing.outputs.build_manifest`);
* ``mtime_ns`` of every manifest entry (the file's modification time), and through it the
  ``bytes``/``sha256`` of each file whose only difference is a timestamp;
* the generation folder's name (never compared: paths are relative to it).

PNGs (``maps._finish``: ``savefig(format="png")``) carry only matplotlib's ``Software`` text,
no time; they are compared by decoded pixels and metadata, with a PNG ``Creation Time`` text
ignored should one appear (Pillow skips a ``tIME`` chunk). CSVs carry no provenance and are
compared byte for byte, as is any other format (GeoPackage, PDF and zip files are made on request
by the portal, never published in a generation).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["compare_generations", "TIMESTAMP_KEYS"]

#: Keys whose values are run timestamps, at any depth of JSON, Parquet metadata or PNG text.
TIMESTAMP_KEYS = frozenset({"generated_at", "mtime_ns", "creation time"})
_MASK = "<timestamp>"
_JSON_STAMP = re.compile(
    rb'("(?:generated_at|mtime_ns)"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|null)'
)
_CHUNK = 1 << 20
_NL = b"\n"


def _mismatch(x: bytes, y: bytes) -> int:
    """Offset of the first byte where ``x`` and ``y`` differ (the shorter length if a prefix)."""
    n = min(len(x), len(y))
    d = np.flatnonzero(np.frombuffer(x, np.uint8, n) != np.frombuffer(y, np.uint8, n))
    return int(d[0]) if len(d) else n


def _byte_diff(a: Path, b: Path) -> str | None:
    """``byte N, line L`` of the first difference of two files' bytes, None if identical."""
    offset = line = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
            if ca != cb:
                i = _mismatch(ca, cb)
                return f"byte {offset + i}, line {line + ca.count(_NL, 0, i) + 1}"
            if not ca:
                return None
            offset += len(ca)
            line += ca.count(_NL)


def _scrub(obj: Any) -> Any:
    """``obj`` with the value of every timestamp key, at any depth, masked."""
    if isinstance(obj, dict):
        return {k: _MASK if k.lower() in TIMESTAMP_KEYS else _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def _json_path(x: Any, y: Any, path: str = "") -> str | None:
    """Path of the first difference between two JSON values (types strict: 1 != 1.0)."""
    if type(x) is not type(y):
        return path or "(root)"
    if isinstance(x, dict):
        for k in list(x) + [k for k in y if k not in x]:
            if k not in x or k not in y:
                return f"{path}.{k}".lstrip(".")
            if (found := _json_path(x[k], y[k], f"{path}.{k}")) is not None:
                return found.lstrip(".")
        return None
    if isinstance(x, list):
        for i, (u, v) in enumerate(zip(x, y, strict=False)):
            if (found := _json_path(u, v, f"{path}[{i}]")) is not None:
                return found
        return None if len(x) == len(y) else f"{path}[{min(len(x), len(y))}]"
    return None if x == y else (path or "(root)")


def _diff_json(a: Path, b: Path) -> str | None:
    """JSON/GeoJSON: the bytes with every timestamp value masked must be identical."""
    ta, tb = (_JSON_STAMP.sub(rb'\1"' + _MASK.encode() + b'"', p.read_bytes()) for p in (a, b))
    if ta == tb:
        return None
    try:
        if (where := _json_path(json.loads(ta), json.loads(tb))) is not None:
            return where
    except ValueError:
        pass
    i = _mismatch(ta, tb)
    return f"byte {i} of the masked text, line {ta.count(_NL, 0, i) + 1}"


def _bits(col: pa.ChunkedArray) -> pa.Array:
    """A column as one array, floats as their bit patterns (so that NaN equals NaN)."""
    arr = col.combine_chunks()
    if pa.types.is_floating(arr.type):
        arr = arr.view({16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[arr.type.bit_width])
    return arr


def _diff_parquet(a: Path, b: Path) -> str | None:
    """Parquet: schema, every column's values, and the key-value metadata (JSON values with
    timestamps masked) must be equal."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    if not ta.schema.equals(tb.schema, check_metadata=False):
        fields = [f.name for f, g in zip(ta.schema, tb.schema, strict=False) if not f.equals(g)]
        return f"schema field {fields[0]}" if fields else "schema: number of columns"
    if ta.num_rows != tb.num_rows:
        return f"rows {ta.num_rows} != {tb.num_rows}"
    for name in ta.column_names:
        x, y = _bits(ta[name]), _bits(tb[name])
        if not x.equals(y):
            lo, hi = 0, len(x)  # x[:lo] equals y[:lo], x[:hi] does not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if x.slice(0, mid).equals(y.slice(0, mid)) else (lo, mid)
            return f"column {name} row {lo}"
    ma, mb = ta.schema.metadata or {}, tb.schema.metadata or {}
    for key in sorted(set(ma) | set(mb)):
        va, vb = ma.get(key), mb.get(key)
        try:
            va, vb = _scrub(json.loads(va)), _scrub(json.loads(vb))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
        if (where := _json_path(va, vb)) is not None:
            return f"metadata {key.decode()}: {where}"
    return None


def _diff_png(a: Path, b: Path) -> str | None:
    """PNG: mode, size, decoded pixels and metadata (text chunks, dpi...) with timestamps
    masked must be equal."""
    from PIL import Image

    with Image.open(a) as ia, Image.open(b) as ib:
        if (ia.mode, ia.size) != (ib.mode, ib.size):
            return f"image {ia.mode} {ia.size} != {ib.mode} {ib.size}"
        rgba = ia.mode in ("P", "PA")  # palette images: compare colours, not indices
        pa_, pb_ = (np.asarray(im.convert("RGBA") if rgba else im) for im in (ia, ib))
        if not np.array_equal(pa_, pb_):
            y, x = np.argwhere((pa_ != pb_).reshape(pa_.shape[0], pa_.shape[1], -1).any(-1))[0]
            return f"pixel x={x} y={y}"
        info_a, info_b = (  # complete once the pixels are read (text chunks after IDAT)
            {k: _MASK if str(k).lower() in TIMESTAMP_KEYS else v for k, v in im.info.items()}
            for im in (ia, ib)
        )
    for key in sorted(set(info_a) | set(info_b), key=str):
        if info_a.get(key) != info_b.get(key):
            return f"png metadata {key}"
    return None


_BY_SUFFIX = {
    ".json": _diff_json,
    ".geojson": _diff_json,
    ".parquet": _diff_parquet,
    ".png": _diff_png,
}


def _listing(root: Path, lines: list[str], tag: str) -> tuple[dict[str, Any], dict[str, dict]]:
    """The manifest of ``root`` and its entries by path; problems appended to ``lines``."""
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        entries = {e["path"]: e for e in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        lines.append(f"no readable manifest.json in {tag}: {exc}")
        manifest = {}
        entries = {str(p.relative_to(root)): {} for p in root.rglob("*") if p.is_file()}
        entries.pop("manifest.json", None)
        return manifest, entries
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    unlisted = on_disk - set(entries) - {"manifest.json"}
    lines += [f"not in the manifest of {tag}: {p}" for p in sorted(unlisted)]
    lines += [f"missing from {tag}: {p}" for p in sorted(set(entries) - on_disk)]
    return manifest, entries


def _compare(a: Path, b: Path) -> tuple[list[str], int, int]:
    """(difference lines, files compared, byte-identical files), manifest.json included."""
    lines: list[str] = []
    man_a, ent_a = _listing(a, lines, "a")
    man_b, ent_b = _listing(b, lines, "b")
    lines += [f"only in a: {p}" for p in sorted(set(ent_a) - set(ent_b))]
    lines += [f"only in b: {p}" for p in sorted(set(ent_b) - set(ent_a))]
    identical: set[str] = set()
    masked: set[str] = set()
    for rel in sorted(set(ent_a) & set(ent_b)):
        fa, fb = a / rel, b / rel
        if not (fa.is_file() and fb.is_file()):
            continue  # reported as missing
        if os.path.samefile(fa, fb) or (where := _byte_diff(fa, fb)) is None:
            identical.add(rel)
            continue
        diff = _BY_SUFFIX.get(fa.suffix.lower())
        try:
            found = diff(fa, fb) if diff else where
        except Exception as exc:  # unreadable in one of them: the bytes' difference stands
            found = f"{where} ({type(exc).__name__} reading it)"
        if found is None:
            masked.add(rel)
        else:
            lines.append(f"differs: {rel} ({found})")
    if man_a and man_b:
        rest_a, rest_b = ({k: v for k, v in m.items() if k != "files"} for m in (man_a, man_b))
        if (where := _json_path(_scrub(rest_a), _scrub(rest_b))) is not None:
            lines.append(f"differs: manifest.json {where}")
        for rel in sorted(identical | masked):
            drop = {"mtime_ns"} | ({"bytes", "sha256"} if rel in masked else set())
            ea, eb = ({k: v for k, v in e[rel].items() if k not in drop} for e in (ent_a, ent_b))
            if (where := _json_path(_scrub(ea), _scrub(eb), f"files[{rel}]")) is not None:
                lines.append(f"differs: manifest.json {where}")
    if man_a and man_b and _byte_diff(a / "manifest.json", b / "manifest.json") is None:
        identical.add("manifest.json")
    return lines, len(set(ent_a) & set(ent_b)) + 1, len(identical)


def compare_generations(a: str | Path, b: str | Path) -> list[str]:
    """Differences between two published generation folders, ignoring run timestamps only.

    Returns human-readable lines ("only in a: maps/x.png", "differs: tables/y.csv (byte 1234,
    line 5)", "differs: manifest.json files[...].sha256"), empty when equal. Files are those
    the manifests list; a file is equal when its bytes are identical or, by format, when it is
    identical once its timestamps are masked (see the module docstring). Manifest entries are
    compared without ``mtime_ns``, and without ``bytes``/``sha256`` for files equal only once
    masked; the entry of a file that really differs is not reported again.
    """
    return _compare(Path(a), Path(b))[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m geodata.publishing.compare A B``: print the differences; exit 1 if any."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m geodata.publishing.compare GENERATION_A GENERATION_B", file=sys.stderr
        )
        return 2
    lines, n, same = _compare(Path(args[0]), Path(args[1]))
    for line in lines:
        print(line)
    if lines:
        print(
            f"{len(lines)} difference(s); {n} files compared ({same} byte-identical)",
            file=sys.stderr,
        )
        return 1
    print(f"equal apart from timestamps: {n} files ({same} byte-identical)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
