"""GIS formats of one province and quarter: GeoPackage, zipped Shapefile and a CSV of the cells,
written from the published GeoJSON files (cells, summary, mobile sites, fibre routes).

The GeoJSON downloads carry their provenance in a top-level ``provenance`` member that GDAL does
not read, and their field names are longer than a Shapefile holds. These writers keep both:

* **GeoPackage**: layers ``cells``, ``summary``, ``mobile_sites``, ``fixed_routes`` (those given),
  each with a GPKG description and layer metadata (period, boundary version, sample flag,
  licence), a non-spatial ``metadata`` table (``key, value``: every provenance item flattened
  with dotted keys, licence, attribution, sample flag and SYNTHETIC warning, the source files and
  their sha256) and a non-spatial ``fields`` table (the field dictionary of the layers).
* **Shapefile (zip)**: one shapefile per layer (``.shp .shx .dbf .prj .cpg``; ``.cpg`` says
  ``UTF-8`` so names keep their diacritics), field names shortened to 10 characters by the field
  dictionary (``share_unserved`` -> ``share_uns``), ``field_names.csv`` (``layer, short, full,
  meaning_en, meaning_vi, unit``), ``provenance.json`` and a bilingual ``README.txt``.
* **CSV of the cells** (UTF-8 with BOM, for Excel): ``h3, lat, lon`` (cell centre, WGS 84), every
  property of the cells file, then ``period, boundary_version, sample`` on every row, since a
  single CSV has no room for provenance.

Sources are the bytes of the published files (:class:`LayerSource`), so a caller that checked
them against the manifest writes from exactly the bytes it checked. Every file is written to a
temporary name and moved into place (:func:`geodata.provenance.atomic_path`, mode 0644).

Examples
--------
>>> layers = read_province_layers(  # doctest: +SKIP
...     {"cells": LayerSource.from_path("downloads/34/04_cao-bang/2026Q3_cells.geojson")})
>>> write_geopackage(layers, "04_2026Q3.gpkg")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geodata.kernels.cells import cells_to_latlng
from geodata.provenance import atomic_path, sha256_bytes, temp_name_prefix
from geodata.publishing.field_dictionary import field_info, short_names
from geodata.publishing.outputs import LICENCE
from geodata.reference import ATTRIBUTION

__all__ = [
    "FORMAT_VERSION",
    "GIS_LAYERS",
    "LAYER_LABELS",
    "LayerSource",
    "ProvinceLayers",
    "read_provenance",
    "read_province_layers",
    "flatten_provenance",
    "metadata_items",
    "write_geopackage",
    "write_shapefile_zip",
    "write_cells_csv",
    "WRITERS",
]

#: Bumped whenever a writer's output changes, so caches keyed on the sources are rebuilt.
FORMAT_VERSION = "1"
#: Layers in file order; ``cells`` is required.
GIS_LAYERS = ("cells", "summary", "mobile_sites", "fixed_routes")
#: ``(Vietnamese, English)`` description of each layer.
LAYER_LABELS: dict[str, tuple[str, str]] = {
    "cells": ("ô lục giác H3 với các chỉ số", "H3 hexagons with indicators"),
    "summary": ("ranh giới tỉnh và số liệu tóm tắt", "province polygon and summary"),
    "mobile_sites": ("trạm di động đề xuất", "planned mobile sites"),
    "fixed_routes": ("tuyến cáp quang đề xuất", "planned fibre routes"),
}
SYNTHETIC_VI = "DỮ LIỆU MẪU TỔNG HỢP, KHÔNG PHẢI SỐ ĐO THỰC."
SYNTHETIC_EN = "SYNTHETIC sample data, not measurements."
_CRS = "EPSG:4326"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LayerSource:
    """The bytes of one published file, its name and sha256."""

    data: bytes
    name: str
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", sha256_bytes(self.data))

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], name: str | None = None) -> LayerSource:
        p = Path(path)
        return cls(p.read_bytes(), name or p.name)


@dataclass
class ProvinceLayers:
    """The layers of one province and quarter, read: frames (EPSG:4326), provenance and
    sources by layer, in :data:`GIS_LAYERS` order."""

    frames: dict[str, gpd.GeoDataFrame]
    provenance: dict[str, dict[str, Any]]
    sources: dict[str, LayerSource]
    main: dict[str, Any] = field(default_factory=dict)

    @property
    def sample(self) -> bool:
        return bool(self.main.get("sample"))

    @property
    def period(self) -> str:
        return str(self.main.get("period") or "")

    @property
    def boundary_version(self) -> str:
        return str(self.main.get("boundary_version") or "")

    @property
    def province_code(self) -> str:
        return str(self.main.get("province_code") or self._first("code"))

    @property
    def province_name(self) -> str:
        return str(self.main.get("province_name") or self._first("name"))

    def _first(self, column: str) -> str:
        """``column`` of the first cell, else of the summary; empty when neither has it."""
        for layer in ("cells", "summary"):
            frame = self.frames.get(layer)
            if frame is not None and column in frame and len(frame):
                return str(frame[column].iloc[0])
        return ""

    def default_stem(self) -> str:
        parts = [self.boundary_version, self.province_code, self.period]
        return "_".join(p for p in parts if p) or "province"


def read_provenance(data: bytes) -> dict[str, Any]:
    """The top-level ``provenance`` member of a GeoJSON document (``{}`` without one), read from
    the header when it comes before the features, as the project writes it."""
    key = data.find(b'"provenance"')
    features = data.find(b'"features"')
    if key < 0:
        return {}
    if features < 0 or key < features:
        start = data.find(b"{", key)
        text = data[start : start + (4 << 20)].decode("utf-8", errors="ignore")
        try:
            value, _ = json.JSONDecoder().raw_decode(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    prov = doc.get("provenance") if isinstance(doc, dict) else None
    return prov if isinstance(prov, dict) else {}


def _read_frame(source: LayerSource) -> gpd.GeoDataFrame:
    frame = pyogrio.read_dataframe(source.data, use_arrow=True)
    if frame.crs is None:
        frame = frame.set_crs(_CRS)
    for col in frame.columns:  # arrow-backed strings become plain object columns for writers
        if col != frame.geometry.name and pd.api.types.is_string_dtype(frame[col].dtype):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def read_province_layers(sources: Mapping[str, LayerSource | None]) -> ProvinceLayers:
    """Read the GeoJSON sources (``cells`` required; ``summary``, ``mobile_sites``,
    ``fixed_routes`` optional, ``None`` or absent when missing)."""
    if sources.get("cells") is None:
        raise ValueError("the cells file is required")
    unknown = set(sources) - set(GIS_LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; expected {GIS_LAYERS}")
    frames, provenance, kept = {}, {}, {}
    for layer in GIS_LAYERS:
        src = sources.get(layer)
        if src is None:
            continue
        frames[layer] = _read_frame(src)
        provenance[layer] = read_provenance(src.data)
        kept[layer] = src
    return ProvinceLayers(frames, provenance, kept, main=provenance["cells"])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


def flatten_provenance(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, text)`` of every leaf of a provenance record, in order.

    >>> flatten_provenance({"a": 1, "b": {"c": True, "d": None}})
    [('a', '1'), ('b.c', 'true'), ('b.d', '')]
    """
    out: list[tuple[str, str]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(flatten_provenance(value, name + "."))
        else:
            out.append((name, _text(value)))
    return out


def metadata_items(layers: ProvinceLayers) -> list[tuple[str, str]]:
    """Rows of the ``metadata`` table: headline facts, the cells' provenance flattened, what
    the other layers' provenance adds or changes (prefixed ``{layer}.``), and the sources."""
    main = layers.main
    rows: list[tuple[str, str]] = [
        ("province_code", layers.province_code),
        ("province_name", layers.province_name),
        ("boundary_version", layers.boundary_version),
        ("period", layers.period),
        ("sample", _text(layers.sample)),
    ]
    if layers.sample:
        rows.append(("SYNTHETIC", f"{SYNTHETIC_VI} / {SYNTHETIC_EN}"))
    rows += [
        ("licence", str(main.get("licence") or LICENCE)),
        ("attribution", str(main.get("attribution") or ATTRIBUTION)),
    ]
    seen = {k for k, _ in rows}
    main_items = flatten_provenance(main)
    known = dict(main_items)
    for key, value in main_items:
        if key not in seen:
            rows.append((key, value))
            seen.add(key)
    for layer, record in layers.provenance.items():
        if layer == "cells":
            continue
        for key, value in flatten_provenance(record):
            if known.get(key) != value and key != "generated_at":
                rows.append((f"{layer}.{key}", value))
    for layer, src in layers.sources.items():
        rows.append((f"source.{layer}.file", src.name))
        rows.append((f"source.{layer}.sha256", src.sha256))
    return rows


def _field_rows(layers: ProvinceLayers) -> pd.DataFrame:
    """``layer, short, full, meaning_en, meaning_vi, unit`` of every attribute of every layer."""
    records = []
    for layer, frame in layers.frames.items():
        names = [c for c in frame.columns if c != frame.geometry.name]
        for full, short in zip(names, short_names(names, layer), strict=True):
            info = field_info(full, layer) or {}
            records.append(
                {
                    "layer": layer,
                    "short": short,
                    "full": full,
                    "meaning_en": info.get("meaning_en", ""),
                    "meaning_vi": info.get("meaning_vi", ""),
                    "unit": info.get("unit", ""),
                }
            )
    return pd.DataFrame(
        records, columns=["layer", "short", "full", "meaning_en", "meaning_vi", "unit"]
    )


def _layer_description(layers: ProvinceLayers, layer: str) -> str:
    vi, en = LAYER_LABELS[layer]
    text = (
        f"{layers.province_name} ({layers.province_code}), {layers.period}, "
        f"{layers.boundary_version}: {vi} / {en}"
    )
    return f"{text}. {SYNTHETIC_EN}" if layers.sample else text


def _write_tmp_then_move(dest: Path, write: Callable[[Path], None], name: str) -> Path:
    """Write with ``write(path)`` under a private temporary folder beside ``dest`` (GDAL wants
    the real extension), then move the file over ``dest`` atomically, mode 0644."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=temp_name_prefix(dest), dir=dest.parent) as work:
        built = Path(work) / name
        write(built)
        with atomic_path(dest) as tmp:
            os.replace(built, tmp)
    return dest


def write_geopackage(layers: ProvinceLayers, dest: str | os.PathLike[str]) -> Path:
    """The GeoPackage (see the module docstring) at ``dest``, written atomically."""
    meta = pd.DataFrame(metadata_items(layers), columns=["key", "value"])
    fields = _field_rows(layers)
    common = {
        "period": layers.period,
        "boundary_version": layers.boundary_version,
        "sample": _text(layers.sample),
        "licence": str(layers.main.get("licence") or LICENCE),
    }

    def write(path: Path) -> None:
        for layer, frame in layers.frames.items():
            pyogrio.write_dataframe(
                frame,
                path,
                layer=layer,
                driver="GPKG",
                promote_to_multi=layer == "summary",
                layer_options={
                    "DESCRIPTION": _layer_description(layers, layer),
                    "IDENTIFIER": layer,
                },
                layer_metadata=common,
            )
        pyogrio.write_dataframe(
            meta,
            path,
            layer="metadata",
            driver="GPKG",
            layer_options={"DESCRIPTION": "provenance, licence, sources / nguồn gốc, giấy phép"},
        )
        pyogrio.write_dataframe(
            fields,
            path,
            layer="fields",
            driver="GPKG",
            layer_options={"DESCRIPTION": "field dictionary / từ điển trường"},
        )

    return _write_tmp_then_move(Path(dest), write, "out.gpkg")


def _readme(layers: ProvinceLayers, members: list[tuple[str, str]]) -> str:
    lines = [
        f"{layers.province_name} ({layers.province_code}) - hệ {layers.boundary_version} tỉnh / "
        f"{layers.boundary_version}-province system - quý / quarter {layers.period}",
        "",
    ]
    if layers.sample:
        lines += [f"*** {SYNTHETIC_VI} ***", f"*** {SYNTHETIC_EN} ***", ""]
    lines += ["Tệp / Files:"]
    lines += [f"  {name}: {label}" for name, label in members]
    lines += [
        "  field_names.csv: tên trường ngắn -> tên đầy đủ, ý nghĩa, đơn vị / "
        "short field name -> full name, meaning, unit",
        "  provenance.json: nguồn gốc dữ liệu (sha256 đầu vào, ngưỡng, giấy phép) / "
        "provenance (inputs' sha256, thresholds, licence)",
        "",
        "Mã hoá ký tự / Encoding: UTF-8 (tệp .cpg). Hệ toạ độ / CRS: WGS 84, EPSG:4326 (tệp .prj).",
        "Tên trường Shapefile tối đa 10 ký tự; tên đầy đủ trong field_names.csv và trang /fields.",
        "Shapefile field names hold at most 10 characters; full names in field_names.csv and on "
        "the portal's /fields page.",
        "",
        f"Giấy phép / Licence: {layers.main.get('licence') or LICENCE}",
        f"Ghi công / Attribution: {layers.main.get('attribution') or ATTRIBUTION}",
        "Sản phẩm phái sinh phải giữ ghi công và chia sẻ cùng giấy phép (CC BY-SA 4.0). / "
        "Derived works must keep the attribution and share alike (CC BY-SA 4.0).",
        "",
    ]
    return "\n".join(lines)


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_shapefile_zip(
    layers: ProvinceLayers, dest: str | os.PathLike[str], *, stem: str | None = None
) -> Path:
    """The zipped Shapefile set (see the module docstring) at ``dest``, written atomically.
    Member names are ``{stem}_{layer}.{shp,shx,dbf,prj,cpg}``; ``stem`` defaults to the name of
    ``dest`` without ``.shp.zip``, else ``{version}_{code}_{period}``."""
    if stem is None:
        name = Path(dest).name
        stem = name.removesuffix(".shp.zip") if name.endswith(".shp.zip") else None
    stem = stem or layers.default_stem()
    fields = _field_rows(layers)

    def write(path: Path) -> None:
        work = path.parent / "shp"
        work.mkdir()
        members: list[tuple[str, str]] = []
        for layer, frame in layers.frames.items():
            names = [c for c in frame.columns if c != frame.geometry.name]
            short = dict(zip(names, short_names(names, layer), strict=True))
            out = frame.rename(columns=short)
            pyogrio.write_dataframe(
                out,
                work / f"{stem}_{layer}.shp",
                driver="ESRI Shapefile",
                encoding="UTF-8",
                promote_to_multi=layer == "summary",
            )
            vi, en = LAYER_LABELS[layer]
            members.append((f"{stem}_{layer}.shp", f"{vi} / {en}"))
        with zipfile.ZipFile(path, "w") as zf:
            for f in sorted(work.iterdir()):
                _zip_write(zf, f.name, f.read_bytes())
            buf = io.StringIO()
            fields.to_csv(buf, index=False, lineterminator="\n")
            _zip_write(zf, "field_names.csv", ("\ufeff" + buf.getvalue()).encode("utf-8"))
            record = {
                "province_code": layers.province_code,
                "province_name": layers.province_name,
                "layers": layers.provenance,
                "sources": {
                    layer: {"file": s.name, "sha256": s.sha256}
                    for layer, s in layers.sources.items()
                },
            }
            text = json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n"
            _zip_write(zf, "provenance.json", text.encode("utf-8"))
            _zip_write(zf, "README.txt", _readme(layers, members).encode("utf-8"))

    return _write_tmp_then_move(Path(dest), write, "out.zip")


def _cell_ids(h3_strings: pd.Series) -> np.ndarray:
    return np.fromiter((int(s, 16) for s in h3_strings), dtype=np.uint64, count=len(h3_strings))


def write_cells_csv(layers: ProvinceLayers, dest: str | os.PathLike[str]) -> Path:
    """The cells as CSV (UTF-8 with BOM): ``h3, lat, lon`` (cell centre, 7 decimals), every
    property of the cells file, then ``period, boundary_version, sample`` on every row."""
    cells = layers.frames["cells"]
    table = pd.DataFrame(cells.drop(columns=cells.geometry.name))
    if "h3" not in table:
        raise ValueError("the cells file has no 'h3' property")
    lat, lon = cells_to_latlng(_cell_ids(table["h3"]))
    rest = table.drop(
        columns=["h3", "lat", "lon", "period", "boundary_version", "sample"], errors="ignore"
    )
    out = pd.concat(
        [
            pd.DataFrame({"h3": table["h3"], "lat": np.round(lat, 7), "lon": np.round(lon, 7)}),
            rest,
        ],
        axis=1,
    )
    out["period"] = layers.period
    out["boundary_version"] = layers.boundary_version
    out["sample"] = _text(layers.sample)
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            out.to_csv(fh, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return dest


#: Writers by format name, as the portal serves them.
WRITERS: dict[str, Callable[[ProvinceLayers, str | os.PathLike[str]], Path]] = {
    "gpkg": write_geopackage,
    "shp.zip": write_shapefile_zip,
    "cells.csv": write_cells_csv,
}
