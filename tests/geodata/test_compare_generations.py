"""compare_generations: two generations equal apart from run timestamps compare equal; any
real difference (a CSV value, a GeoJSON property, a Parquet value or metadata, one pixel, a file,
a manifest entry) is reported."""

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image, PngImagePlugin

from geodata.publishing import compare, outputs
from geodata.publishing.compare import compare_generations
from geodata.writers import write_csv, write_geojson, write_parquet

T1, T2 = "2026-12-05T13:30:21Z", "2026-12-05T14:26:17Z"


def make_generation(
    root: Path,
    stamp: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    csv_value: int = 7,
    people: float = 12.5,
    speed: float = 3.25,
    period: str = "2026Q3",
    pixel: tuple[int, int, int, int] = (0, 0, 0, 255),
    software: str = "Matplotlib",
) -> Path:
    """A small generation as the refresh writes one: CSV, GeoJSON, Parquet and PNG through the
    project's writers (provenance carrying ``stamp``), then ``build_manifest``."""
    prov = {"generator": "digital-gap-monitor test", "generated_at": stamp, "period": period}
    write_csv(pd.DataFrame({"code": ["01", "02"], "n": [1, csv_value]}), root / "tables/t.csv")
    gdf = gpd.GeoDataFrame(
        {"name": ["Hà Nội", "Huế"], "people": [3.0, people]},
        geometry=[shapely.box(105.0, 21.0, 105.1, 21.1), shapely.box(107.5, 16.4, 107.6, 16.5)],
        crs="EPSG:4326",
    )
    (root / "geojson").mkdir(parents=True)
    write_geojson(gdf, root / "geojson/g.geojson", provenance=prov)
    (root / "cells").mkdir()
    cells = pd.DataFrame({"cell": [1, 2, 3], "speed": [1.5, np.nan, speed]})
    write_parquet(cells, root / "cells/c_2026Q3.parquet", provenance=prov)
    img = np.full((4, 5, 4), 255, np.uint8)
    img[2, 1] = pixel
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", software)
    info.add_text("Creation Time", stamp)
    (root / "maps").mkdir()
    Image.fromarray(img, "RGBA").save(root / "maps/m.png", pnginfo=info)
    monkeypatch.setattr(outputs, "utc_now_iso", lambda: stamp)
    outputs.build_manifest(root, extra={"sample": True})
    return root


@pytest.fixture
def gen(tmp_path, monkeypatch):
    """``gen(name, stamp, **changes)``: a generation folder under tmp_path."""
    return lambda name, stamp=T1, **kw: make_generation(tmp_path / name, stamp, monkeypatch, **kw)


def test_identical_generations_are_equal(gen, capsys):
    a, b = gen("a"), gen("b")
    assert compare_generations(a, b) == []
    assert compare.main([str(a), str(b)]) == 0
    # the manifests differ by mtime_ns only; the four files are byte-identical
    assert (
        capsys.readouterr().out.strip() == "equal apart from timestamps: 5 files (4 byte-identical)"
    )


def test_only_timestamps_differ(gen, capsys):
    a, b = gen("a", T1), gen("b", T2)
    for rel in ("manifest.json", "geojson/g.geojson", "cells/c_2026Q3.parquet", "maps/m.png"):
        assert (a / rel).read_bytes() != (b / rel).read_bytes(), rel
    assert compare_generations(a, b) == []
    assert compare.main([str(a), str(b)]) == 0
    assert (
        capsys.readouterr().out.strip() == "equal apart from timestamps: 5 files (1 byte-identical)"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"csv_value": 8}, ["differs: tables/t.csv (byte 18, line 3)"]),
        ({"people": 12.6}, ["differs: geojson/g.geojson (features[1].properties.people)"]),
        ({"speed": 3.5}, ["differs: cells/c_2026Q3.parquet (column speed row 2)"]),
        (
            {"period": "2026Q2"},  # in every provenance record
            [
                "differs: cells/c_2026Q3.parquet (metadata gap_monitor:provenance: period)",
                "differs: geojson/g.geojson (provenance.period)",
            ],
        ),
        ({"pixel": (0, 0, 1, 255)}, ["differs: maps/m.png (pixel x=1 y=2)"]),
        ({"software": "Matplotlib 3.12"}, ["differs: maps/m.png (png metadata Software)"]),
    ],
)
def test_real_difference_is_reported(gen, change, expected):
    a, b = gen("a", T1), gen("b", T2, **change)
    assert compare_generations(a, b) == expected
    assert compare.main([str(a), str(b)]) == 1


def test_missing_file_is_reported(gen, monkeypatch):
    a, b = gen("a"), gen("b")
    (b / "maps/m.png").unlink()
    assert compare_generations(a, b) == ["missing from b: maps/m.png"]
    outputs.build_manifest(b)  # b's manifest no longer lists it either
    assert "only in a: maps/m.png" in compare_generations(a, b)
    assert "only in b: maps/m.png" in compare_generations(b, a)


def test_manifest_members_and_entries_are_compared(gen):
    a, b = gen("a", T1), gen("b", T2)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["sample"] = False
    manifest["files"][-1]["sha256"] = "0" * 64  # tables/t.csv, byte-identical in a and b
    (b / "manifest.json").write_text(json.dumps(manifest))
    assert compare_generations(a, b) == [
        "differs: manifest.json sample",
        "differs: manifest.json files[tables/t.csv].sha256",
    ]


def test_unlisted_file_is_reported(gen):
    a, b = gen("a"), gen("b")
    shutil.copy(b / "tables/t.csv", b / "tables/extra.csv")
    assert compare_generations(a, b) == ["not in the manifest of b: tables/extra.csv"]
