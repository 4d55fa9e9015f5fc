"""A strict RFC 7946 GeoJSON checker for tests (a test helper module, not a test file).

:func:`rfc7946_problems` returns every violation found, each naming where it is
(``features[3].geometry.coordinates[0]: ...``); :func:`assert_rfc7946` raises with them.

What is checked:

* the text is UTF-8 without a byte-order mark and parses as JSON (RFC 7946 section 11, RFC 8259);
* the top level is a ``FeatureCollection`` with a ``features`` array and no ``crs`` member
  (section 4: the CRS is always WGS84 lon/lat; no ``crs`` anywhere);
* every feature is a ``Feature`` with ``geometry`` and ``properties`` members (object or null) and
  an ``id``, if any, that is a string or a number (section 3.2);
* every geometry has a known type and correctly nested ``coordinates``; every position has two or
  three finite numbers, longitude in [-180, 180] and latitude in [-90, 90] (sections 3.1, 4);
* every polygon ring has at least four positions and is closed; exterior rings are
  counter-clockwise and holes clockwise (section 3.1.6, checked with ``shapely.is_ccw``); every
  polygon is valid (``shapely.is_valid``);
* every coordinate number *as written in the raw text* has at most ``max_decimals`` decimals
  (6: about 0.1 m, the precision of the project's files); the raw text is scanned with a regular
  expression and the number of coordinate numbers found must equal the number parsed, so no
  coordinate escapes the scan.

>>> ok = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": null,'
...       ' "geometry": {"type": "Point", "coordinates": [105.8, 21.03]}}]}')
>>> rfc7946_problems(ok)
[]
>>> rfc7946_problems(ok.replace('21.03', '21.0312345'))
['coordinates: 21.0312345 has 7 decimals, more than 6']
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import shapely

__all__ = ["GEOMETRY_TYPES", "rfc7946_problems", "assert_rfc7946"]

GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
)

# A "coordinates" member's array holds only brackets, numbers, commas and white space.
_COORDINATES = re.compile(r'"coordinates"\s*:\s*(\[[\s\[\],0-9eE+.\-]*\])')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Depth of the position arrays inside "coordinates", per geometry type.
_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _decimals(token: str) -> int:
    exponent = Decimal(token).as_tuple().exponent
    return max(0, -int(exponent))


class _Checker:
    def __init__(self, max_decimals: int) -> None:
        self.max_decimals = max_decimals
        self.problems: list[str] = []
        self.n_numbers = 0

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def position(self, pos: Any, where: str) -> bool:
        if not isinstance(pos, list) or not 2 <= len(pos) <= 3:
            self.add(where, f"a position must be an array of 2 or 3 numbers, got {pos!r}")
            return False
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos):
            self.add(where, f"a position must hold numbers, got {pos!r}")
            return False
        self.n_numbers += len(pos)
        if not all(math.isfinite(v) for v in pos):
            self.add(where, f"non-finite coordinate in {pos!r}")
            return False
        lon, lat = pos[0], pos[1]
        if not -180 <= lon <= 180:
            self.add(where, f"longitude {lon} outside [-180, 180]")
        if not -90 <= lat <= 90:
            self.add(where, f"latitude {lat} outside [-90, 90]")
        return True

    def positions(self, arr: Any, depth: int, where: str) -> bool:
        """Check nesting; True when every position below is well formed."""
        if depth == 0:
            return self.position(arr, where)
        if not isinstance(arr, list):
            self.add(where, f"expected an array, got {type(arr).__name__}")
            return False
        ok = True
        for i, item in enumerate(arr):
            ok &= self.positions(item, depth - 1, f"{where}[{i}]")
        return ok

    def ring(self, ring: list, where: str, *, exterior: bool) -> shapely.LinearRing | None:
        if len(ring) < 4:
            self.add(where, f"a ring needs at least 4 positions, got {len(ring)}")
            return None
        if ring[0] != ring[-1]:
            self.add(where, "ring is not closed (first and last positions differ)")
            return None
        lr = shapely.linearrings([p[:2] for p in ring])
        ccw = bool(shapely.is_ccw(lr))
        if exterior and not ccw:
            self.add(where, "exterior ring is clockwise (RFC 7946 wants counter-clockwise)")
        if not exterior and ccw:
            self.add(where, "hole is counter-clockwise (RFC 7946 wants clockwise)")
        return lr

    def polygon(self, rings: list, where: str) -> None:
        if not rings:
            return
        parsed = [self.ring(r, f"{where}[{i}]", exterior=i == 0) for i, r in enumerate(rings)]
        if any(r is None for r in parsed):
            return
        poly = shapely.Polygon(parsed[0], parsed[1:])
        if not shapely.is_valid(poly):
            self.add(where, f"invalid polygon: {shapely.is_valid_reason(poly)}")

    def geometry(self, geom: Any, where: str) -> None:
        if geom is None:
            return
        if not isinstance(geom, dict):
            self.add(where, f"a geometry must be an object or null, got {type(geom).__name__}")
            return
        if "crs" in geom:
            self.add(where, "'crs' member is not allowed")
        kind = geom.get("type")
        if kind not in GEOMETRY_TYPES:
            self.add(where, f"unknown geometry type {kind!r}")
            return
        if kind == "GeometryCollection":
            members = geom.get("geometries")
            if not isinstance(members, list):
                self.add(where, "GeometryCollection without a 'geometries' array")
                return
            for i, member in enumerate(members):
                self.geometry(member, f"{where}.geometries[{i}]")
            return
        if "coordinates" not in geom:
            self.add(where, f"{kind} without 'coordinates'")
            return
        coords = geom["coordinates"]
        here = f"{where}.coordinates"
        if not self.positions(coords, _DEPTH[kind], here):
            return
        if kind == "LineString" and len(coords) < 2:
            self.add(here, "a LineString needs at least 2 positions")
        if kind == "MultiLineString":
            for i, line in enumerate(coords):
                if len(line) < 2:
                    self.add(f"{here}[{i}]", "a LineString needs at least 2 positions")
        if kind == "Polygon":
            self.polygon(coords, here)
        if kind == "MultiPolygon":
            for i, rings in enumerate(coords):
                self.polygon(rings, f"{here}[{i}]")

    def feature(self, feat: Any, where: str) -> None:
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            self.add(where, "not an object of type 'Feature'")
            return
        if "crs" in feat:
            self.add(where, "'crs' member is not allowed")
        for member in ("geometry", "properties"):
            if member not in feat:
                self.add(where, f"missing member {member!r}")
        props = feat.get("properties")
        if props is not None and not isinstance(props, dict):
            self.add(f"{where}.properties", "must be an object or null")
        if "id" in feat and (
            isinstance(feat["id"], bool) or not isinstance(feat["id"], str | int | float)
        ):
            self.add(f"{where}.id", "must be a string or a number")
        self.geometry(feat.get("geometry"), f"{where}.geometry")

    def raw_decimals(self, text: str) -> None:
        found = 0
        for block in _COORDINATES.finditer(text):
            for token in _NUMBER.findall(block.group(1)):
                found += 1
                d = _decimals(token)
                if d > self.max_decimals:
                    self.add(
                        "coordinates",
                        f"{token} has {d} decimals, more than {self.max_decimals}",
                    )
        if found != self.n_numbers:
            self.add(
                "coordinates",
                f"the raw-text scan found {found} coordinate numbers, the parser "
                f"{self.n_numbers}; cannot vouch for their decimals",
            )


def rfc7946_problems(
    source: str | bytes | Path, *, max_decimals: int = 6, limit: int = 50
) -> list[str]:
    """Every RFC 7946 violation of a GeoJSON text, bytes or file (at most ``limit``).

    An empty list means the document passed every check listed in the module docstring.
    """
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, bytes):
        if source.startswith(b"\xef\xbb\xbf"):
            return ["document: starts with a UTF-8 byte-order mark (RFC 8259 forbids it)"]
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [f"document: not UTF-8 ({exc})"]
    else:
        text = source
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"document: not JSON ({exc})"]
    chk = _Checker(max_decimals)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        got = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        return [f"document: top-level type must be 'FeatureCollection', got {got!r}"]
    if "crs" in doc:
        chk.add("document", "'crs' member is not allowed (RFC 7946 section 4)")
    features = doc.get("features")
    if not isinstance(features, list):
        chk.add("document", "'features' must be an array")
        features = []
    for i, feat in enumerate(features):
        chk.feature(feat, f"features[{i}]")
    chk.raw_decimals(text)
    return chk.problems[:limit]


def assert_rfc7946(source: str | bytes | Path, *, max_decimals: int = 6) -> None:
    """Raise ``AssertionError`` listing the violations when the document is not RFC 7946."""
    problems = rfc7946_problems(source, max_decimals=max_decimals)
    if problems:
        name = f"{source}: " if isinstance(source, Path) else ""
        raise AssertionError(f"{name}not RFC 7946:\n  " + "\n  ".join(problems))
