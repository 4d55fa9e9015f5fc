"""GeoPackage, zipped Shapefile and cells CSV written from the published GeoJSON files, and the
bilingual field dictionary that names every published column."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import zipfile
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geodata.publishing.downloads import CELL_PROPERTIES, COARSE_PROPERTIES
from geodata.publishing.field_dictionary import (
    LAYERS,
    SHORT_MAX,
    layer_fields,
    load_field_dictionary,
    short_names,
)
from geodata.publishing.gis_formats import (
    GIS_LAYERS,
    LayerSource,
    read_provenance,
    read_province_layers,
    write_cells_csv,
    write_geopackage,
    write_shapefile_zip,
)
from geodata.publishing.outputs import LICENCE
from geodata.publishing.plans import ROUTE_COLUMNS, SITE_COLUMNS
from geodata.sample.adoption import ADOPTION_INDICATORS
from geodata.writers.geojson import write_geojson
from tests.portal.conftest import PERIOD, build_output_dir

#: A full run of the sample, when there is one on this machine (read only).
REAL_OUTPUT = Path("/tmp/c2/assets")

_PROV = {
    "sample": True,
    "sample_note": "SYNTHETIC sample inputs (geodata.sample), not measurements",
    "period": PERIOD,
    "boundary_version": "34",
    "licence": LICENCE,
    "attribution": "Boundaries: Open Development Vietnam",
    "thresholds": {"name": "NTIA BEAD 2022", "fixed_served_down_mbps": 100.0},
    "inputs_sha256": {"speed_tiles/a.parquet": "ab" * 32},
}


def _plan_files(folder: Path) -> dict[str, Path]:
    """Two sites and two routes in Cao Bằng, as the plan writers publish them."""
    base = {
        "province_34": ["04", "04"],
        "province_34_name": ["Cao Bằng", "Cao Bằng"],
        "province_63": ["04", "04"],
        "province_63_name": ["Cao Bằng", "Cao Bằng"],
        "region": ["Northern Midlands and Mountains"] * 2,
        "place": ["Thị Trấn Hùng Quốc", "Thị Trấn Nước Hai"],
        "place_km": [0.81, 7.69],
        "rank": [671, 848],
        "lat": [22.83414, 22.668771],
        "lng": [106.317756, 106.161542],
        "cost": [100000.0, 100000.0],
        "cost_cumulative": [67100000.0, 84800000.0],
        "people_cumulative": [13128440.4, 14841315.9],
    }
    sites = pd.DataFrame(
        {
            **base,
            "h3": ["88415e75c5fffff", "88415e2167fffff"],
            "people_new": [10520.1, 8962.6],
            "share_of_need_cumulative": [0.419382, 0.474099],
            "cells_new": [61, 59],
        }
    )[list(SITE_COLUMNS)]
    routes = pd.DataFrame(
        {
            **base,
            "h3_res6": ["86415e737ffffff", "86415e0c7ffffff"],
            "people": [260.9, 70.8],
            "cells": [1, 1],
            "km": [2.122, 2.125],
            "people_per_km": [123.0, 33.3],
            "route": ["straight", "road"],
            "fed_from": [0, 159],
            "km_cumulative": [223.854, 542.379],
        }
    )[list(ROUTE_COLUMNS)]
    points = gpd.points_from_xy(sites["lng"], sites["lat"])
    lines = [
        shapely.LineString([(x, y), (x + 0.01, y + 0.01)])
        for x, y in zip(routes["lng"], routes["lat"], strict=True)
    ]
    out = {
        "mobile_sites": folder / f"{PERIOD}_mobile_sites.geojson",
        "fixed_routes": folder / f"{PERIOD}_fixed_routes.geojson",
    }
    plan_prov = {**_PROV, "site_plan": {"unit_cost_usd": 100000.0}}
    write_geojson(
        gpd.GeoDataFrame(sites, geometry=points, crs="EPSG:4326"),
        out["mobile_sites"],
        provenance=plan_prov,
    )
    write_geojson(
        gpd.GeoDataFrame(routes, geometry=lines, crs="EPSG:4326"),
        out["fixed_routes"],
        provenance=_PROV,
    )
    return out


@pytest.fixture(scope="module")
def province_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hà Nội (34) cells and summary of the portal fixture, with plan files beside."""
    root = build_output_dir(tmp_path_factory.mktemp("gis") / "out")
    folder = root / "downloads" / "34" / "01_ha_noi"
    files = {
        "cells": folder / f"{PERIOD}_cells.geojson",
        "summary": folder / f"{PERIOD}_summary.geojson",
        **_plan_files(folder),
    }
    files["coarse_cells"] = root / "downloads" / "34" / "48_da_nang" / f"{PERIOD}_cells.geojson"
    return files


@pytest.fixture(scope="module")
def layers(province_files):
    return read_province_layers({k: LayerSource.from_path(province_files[k]) for k in GIS_LAYERS})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- provenance ---------------------------------------------------------------------------


def test_read_provenance_from_the_header(province_files):
    prov = read_provenance(province_files["cells"].read_bytes())
    assert prov["period"] == PERIOD and prov["boundary_version"] == "34" and prov["sample"] is True
    assert read_provenance(b'{"type": "FeatureCollection", "features": []}') == {}


def test_cells_required(province_files):
    with pytest.raises(ValueError, match="cells"):
        read_province_layers({"summary": LayerSource.from_path(province_files["summary"])})


# --- GeoPackage ---------------------------------------------------------------------------


def test_geopackage_layers_names_and_metadata(layers, province_files, tmp_path):
    dest = write_geopackage(layers, tmp_path / "hn.gpkg")
    assert _mode(dest) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name != "hn.gpkg"]  # no temporary left
    listed = dict(pyogrio.list_layers(dest))
    assert set(listed) == {*GIS_LAYERS, "metadata", "fields"}
    assert listed["metadata"] is None and listed["mobile_sites"] == "Point"
    assert pyogrio.read_dataframe(dest, layer="summary")["name"].tolist() == ["Hà Nội"]
    cells = pyogrio.read_dataframe(dest, layer="cells")
    assert len(cells) == len(gpd.read_file(province_files["cells"]))
    sites = pyogrio.read_dataframe(dest, layer="mobile_sites")
    assert sites["province_34_name"].tolist() == ["Cao Bằng", "Cao Bằng"]
    assert sites["place"].iloc[0] == "Thị Trấn Hùng Quốc"
    assert list(sites.columns[:-1]) == list(SITE_COLUMNS)  # full names kept
    meta = pyogrio.read_dataframe(dest, layer="metadata").set_index("key")["value"]
    assert meta["sample"] == "true"
    assert "SYNTHETIC" in meta["SYNTHETIC"]
    assert meta["period"] == PERIOD and meta["boundary_version"] == "34"
    assert meta["licence"].startswith("CC BY-SA 4.0")
    assert meta["attribution"]
    # the fixture's cells carry a short provenance; the plan files' longer one is kept too
    assert meta["fixed_routes.thresholds.fixed_served_down_mbps"] == "100.0"
    assert meta["fixed_routes.inputs_sha256.speed_tiles/a.parquet"] == "ab" * 32
    assert meta["mobile_sites.site_plan.unit_cost_usd"] == "100000.0"  # what a layer adds
    assert meta["source.cells.file"] == f"{PERIOD}_cells.geojson"
    assert meta["source.cells.sha256"] == layers.sources["cells"].sha256
    info = pyogrio.read_info(dest, layer="cells")
    assert "SYNTHETIC" in info["layer_metadata"]["DESCRIPTION"]
    assert info["layer_metadata"]["sample"] == "true"


def test_geopackage_without_plans(province_files, tmp_path):
    only = read_province_layers({"cells": LayerSource.from_path(province_files["coarse_cells"])})
    dest = write_geopackage(only, tmp_path / "dn.gpkg")
    assert set(dict(pyogrio.list_layers(dest))) == {"cells", "metadata", "fields"}
    cells = pyogrio.read_dataframe(dest, layer="cells")
    assert "share_unserved" in cells.columns and cells["h3"].map(h3.is_valid_cell).all()


# --- Shapefile ----------------------------------------------------------------------------


def test_shapefile_zip(layers, tmp_path):
    dest = write_shapefile_zip(layers, tmp_path / "hn.shp.zip", stem="34_01_ha_noi_2026Q3")
    assert _mode(dest) == 0o644
    with zipfile.ZipFile(dest) as zf:
        names = set(zf.namelist())
        assert {"field_names.csv", "provenance.json", "README.txt"} <= names
        readme = zf.read("README.txt").decode("utf-8")
        provenance = json.loads(zf.read("provenance.json"))
        mapping = pd.read_csv(
            io.BytesIO(zf.read("field_names.csv")),
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
        )
        zf.extractall(tmp_path / "x")
    assert "SYNTHETIC" in readme and "MẪU TỔNG HỢP" in readme and "CC BY-SA 4.0" in readme
    assert provenance["layers"]["cells"]["sample"] is True
    assert provenance["sources"]["cells"]["sha256"] == layers.sources["cells"].sha256
    assert list(mapping.columns) == ["layer", "short", "full", "meaning_en", "meaning_vi", "unit"]
    for layer in GIS_LAYERS:
        stem = tmp_path / "x" / f"34_01_ha_noi_2026Q3_{layer}"
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            assert stem.with_suffix(f".{ext}").is_file(), (layer, ext)
        assert stem.with_suffix(".cpg").read_text().strip() == "UTF-8"
        shp = pyogrio.read_dataframe(stem.with_suffix(".shp"))
        assert shp.crs.to_epsg() == 4326
        columns = [c for c in shp.columns if c != "geometry"]
        assert all(len(c) <= SHORT_MAX for c in columns)
        assert len({c.lower() for c in columns}) == len(columns)
        rows = mapping[mapping["layer"] == layer]
        full = dict(zip(rows["short"], rows["full"], strict=True))
        assert [full[c] for c in columns] == [
            c for c in layers.frames[layer].columns if c != "geometry"
        ]
        assert rows["meaning_en"].ne("").all() and rows["meaning_vi"].ne("").all()
    cells = pyogrio.read_dataframe(tmp_path / "x" / "34_01_ha_noi_2026Q3_cells.shp")
    assert {"svc_class", "fix_d_mbps", "population"} <= set(cells.columns)
    sites = pyogrio.read_dataframe(tmp_path / "x" / "34_01_ha_noi_2026Q3_mobile_sites.shp")
    assert sites["prov_34_nm"].tolist() == ["Cao Bằng", "Cao Bằng"]
    assert "shr_need_c" in sites.columns
    summary = pyogrio.read_dataframe(tmp_path / "x" / "34_01_ha_noi_2026Q3_summary.shp")
    assert "share_uns" in summary.columns and summary["name"].iloc[0] == "Hà Nội"


# --- CSV ----------------------------------------------------------------------------------


def test_cells_csv(layers, tmp_path):
    dest = write_cells_csv(layers, tmp_path / "cells.csv")
    assert _mode(dest) == 0o644
    raw = dest.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfh3,lat,lon,")
    table = pd.read_csv(dest, dtype={"h3": str, "code": str}, encoding="utf-8-sig")
    cells = layers.frames["cells"]
    assert len(table) == len(cells)
    assert list(table.columns[:3]) == ["h3", "lat", "lon"]
    assert list(table.columns[-3:]) == ["period", "boundary_version", "sample"]
    assert set(cells.columns) - {"geometry"} <= set(table.columns)
    assert all(h3.is_valid_cell(c) for c in table["h3"])
    expected = np.array([h3.cell_to_latlng(c) for c in table["h3"]])
    np.testing.assert_allclose(table["lat"], expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(table["lon"], expected[:, 1], atol=1e-6)
    assert (table["period"] == PERIOD).all() and (table["boundary_version"] == 34).all()
    assert table["sample"].astype(str).str.lower().eq("true").all()
    with open(dest, encoding="utf-8-sig", newline="") as fh:  # a plain CSV, one header line
        rows = list(csv.reader(fh))
    assert len(rows) == len(cells) + 1 and all(len(r) == len(rows[0]) for r in rows)


# --- field dictionary ---------------------------------------------------------------------


def test_dictionary_is_well_formed():
    table = load_field_dictionary()
    assert (
        not table[["name", "layers", "short", "meaning_vi", "meaning_en", "source"]]
        .eq("")
        .any()
        .any()
    )
    for layer in LAYERS:
        rows = layer_fields(layer)
        assert rows.index.is_unique, layer
        assert rows["short"].str.len().max() <= SHORT_MAX
        assert rows["short"].str.lower().is_unique, layer
    assert set(table["layers"].str.split(";").explode()) <= set(LAYERS)


def test_short_names_unique_for_unknown_fields():
    names = short_names(
        ["share_unserved", "share_unserved_x", "abcdefghijklmno", "abcdefghijklmnp"], "cells"
    )
    assert names[0] == "share_uns"
    assert all(len(n) <= SHORT_MAX for n in names)
    assert len({n.lower() for n in names}) == len(names)


def _summary_columns() -> set[str]:
    from geodata.indicators.summaries import summarise  # noqa: F401 (documents the source)

    base = {"code", "name", "name_ascii", "period", "population", "n_cells", "rank", "thresholds"}
    base |= {
        f"{p}_{c}"
        for p in ("people", "share")
        for c in ("no_data", "unserved", "underserved", "served")
    }
    base |= {f"{k}_{s}" for k in ("fixed", "mobile") for s in ("d_mbps", "u_mbps", "lat_ms")}
    base |= {f"{p}_measured_{k}" for p in ("pop", "share") for k in ("fixed", "mobile")}
    base |= {f"{p}_coverage_{t}" for p in ("pop", "share") for t in ("4g_plus", "5g")}
    base |= {"mobile_d_mbps_4g", "mobile_d_mbps_5g", "gini_fixed_down"}
    adoption = {*ADOPTION_INDICATORS, "dti_rank", "pdti_score"}
    return base | adoption | {f"{a}__period" for a in adoption}


@pytest.mark.parametrize(
    ("layer", "columns"),
    [
        ("cells", set(CELL_PROPERTIES) | set(COARSE_PROPERTIES)),
        ("summary", _summary_columns()),
        ("mobile_sites", set(SITE_COLUMNS)),
        ("fixed_routes", set(ROUTE_COLUMNS)),
        ("cells_csv", {"lat", "lon", "period", "boundary_version", "sample"}),
    ],
)
def test_dictionary_covers_the_published_columns(layer, columns):
    missing = sorted(columns - set(layer_fields(layer).index))
    assert not missing, f"{layer}: {missing}"


def _first_feature_properties(path: Path) -> set[str]:
    """Property names of the first feature (files are written one feature per line)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    start = head.find(b"\n", head.find(b'"features"'))
    line = head[start + 1 : head.find(b"\n", start + 1)].rstrip(b",")
    if not line.strip().startswith(b"{"):
        return set()
    return set(json.loads(line)["properties"])


@pytest.mark.skipif(not (REAL_OUTPUT / "downloads").is_dir(), reason="no full sample run here")
def test_dictionary_covers_a_real_output():
    missing: dict[str, set[str]] = {}
    seen = {layer: 0 for layer in GIS_LAYERS}
    for path in sorted((REAL_OUTPUT / "downloads").glob("*/*/*")):
        m = re.match(
            r"\d{4}Q[1-4]_(cells|summary|mobile_sites|fixed_routes)\.(geojson|csv)$", path.name
        )
        if not m:
            continue
        layer = m.group(1)
        if m.group(2) == "csv":
            with open(path, encoding="utf-8-sig", newline="") as fh:
                columns = set(next(csv.reader(fh)))
        else:
            columns = _first_feature_properties(path)
        seen[layer] += 1
        lost = columns - set(layer_fields(layer).index)
        if lost:
            missing.setdefault(layer, set()).update(lost)
    assert all(seen.values()), seen
    assert not missing, missing
