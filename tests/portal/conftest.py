"""A tiny output directory in the published layout, with real province polygons and H3 cells.

``downloads/{version}/{code}_{slug}/{quarter}_{summary,cells}.geojson`` for three provinces of
the 34 system and one of the 63 system, the 34 province-summary GeoJSON, a CSV, a PNG, a
Parquet file and ``manifest.json`` from :func:`geodata.publishing.outputs.build_manifest`.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from geodata.publishing.outputs import build_manifest, cells_geodataframe
from geodata.reference import load_provinces
from geodata.writers.geojson import write_geojson

PERIOD = "2026Q3"
#: Hà Nội, Hồ Chí Minh, Đà Nẵng (34-province codes)
CODES_34 = ("01", "48", "79")
CODES_63 = ("01",)
#: provinces whose cells file holds coarse (aggregated) cells, as for provinces over the size budget
COARSE = ("48",)
SHARES = {"01": 0.011, "48": 0.07, "79": 0.25}


def _tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _slug(name_ascii: str) -> str:
    return "_".join(name_ascii.lower().split())


def _summaries(version: str, codes: tuple[str, ...]):
    gdf = load_provinces(version, simplified=True).loc[
        list(codes), ["code", "name", "name_ascii", "geometry"]
    ]
    gdf = gdf.reset_index(drop=True)
    pop = np.array([8.2e6, 1.2e6, 9.5e6][: len(codes)])
    share = np.array([SHARES.get(c, 0.1) for c in codes])
    gdf.insert(3, "period", PERIOD)
    gdf.insert(4, "population", pop)
    gdf.insert(5, "people_unserved", pop * share)
    gdf.insert(6, "share_unserved", share)
    gdf.insert(7, "share_served", 1 - share)
    gdf.insert(8, "fixed_d_mbps", [150.5, 90.0, 120.0][: len(codes)])
    gdf.insert(9, "mobile_d_mbps", [80.0, 60.0, 95.0][: len(codes)])
    return gdf


def _cells(geometry, *, coarse: bool = False) -> pd.DataFrame:
    """H3 res-6 cells of a polygon with properties like the real files: a service class per
    base cell, or people and shares per class for coarse (aggregated) cells."""
    cells = sorted(h3.geo_to_cells(geometry.__geo_interface__, 6))
    ints = np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64)
    pop = np.linspace(100.0, 5000.0, len(ints))
    table = pd.DataFrame({"cell": ints, "population": pop})
    if coarse:
        share = np.linspace(0, 0.6, len(ints))
        table["people_unserved"] = pop * share
        table["share_unserved"] = share
    else:
        classes = np.array(["served", "underserved", "unserved", "no_data"])
        table["service_class"] = classes[np.arange(len(ints)) % 4]
        table["best_tech"] = np.array(["5G", "4G", "3G", "none"])[np.arange(len(ints)) % 4]
    table["fixed_d_mbps"] = np.linspace(5.0, 300.0, len(ints))
    return table


def build_output_dir(root: Path) -> Path:
    """Write the fixture output directory under ``root`` and return ``root``."""
    for version, codes in (("34", CODES_34), ("63", CODES_63)):
        prov = {"period": PERIOD, "boundary_version": version, "sample": True}
        summaries = _summaries(version, codes)
        if version == "34":
            write_geojson(
                summaries, root / "geojson" / f"provinces_34_{PERIOD}.geojson", provenance=prov
            )
            (root / "tables").mkdir(parents=True, exist_ok=True)
            table = summaries.drop(columns="geometry")
            table.to_csv(root / "tables" / f"summary_34_{PERIOD}.csv", index=False)
        for i, code in enumerate(codes):
            folder = (
                root / "downloads" / version / f"{code}_{_slug(summaries.loc[i, 'name_ascii'])}"
            )
            write_geojson(
                summaries.iloc[[i]], folder / f"{PERIOD}_summary.geojson", provenance=prov
            )
            if version == "34":
                table = _cells(summaries.geometry.iloc[i], coarse=code in COARSE)
                cells = cells_geodataframe(table).drop(columns="cell")
                write_geojson(cells, folder / f"{PERIOD}_cells.geojson", provenance=prov)
    (root / "maps").mkdir(parents=True, exist_ok=True)
    (root / "maps" / f"unserved_share_34_{PERIOD}.png").write_bytes(_tiny_png())
    (root / "cells").mkdir(parents=True, exist_ok=True)
    _cells(load_provinces("34", simplified=True).loc["01", "geometry"]).to_parquet(
        root / "cells" / f"gap_cells_{PERIOD}_res6.parquet"
    )
    build_manifest(root, extra={"sample": True})
    return root


@pytest.fixture(scope="session")
def built_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture output directory, built once per session (do not modify it)."""
    return build_output_dir(tmp_path_factory.mktemp("portal") / "out")


@pytest.fixture
def output_dir(built_output: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture output directory that a test may change."""
    return Path(shutil.copytree(built_output, tmp_path / "out", symlinks=True))
