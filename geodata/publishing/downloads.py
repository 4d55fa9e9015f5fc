"""Per-province GeoJSON downloads of one quarter, for both boundary versions, under a size budget.

For every province of the 63 and the 34 boundary versions that has cells, two RFC 7946 files
(the bytes :func:`geodata.writers.geojson.geojson_bytes` writes: GDAL ``RFC7946=YES``, 6
decimals), and per version one national file of coarser cells::

    downloads/{version}/{code}_{slug}/{quarter}_cells.geojson     hexagons with indicators
    downloads/{version}/{code}_{slug}/{quarter}_summary.geojson   province polygon + summary row
    downloads/{version}/vn_cells_res{coarse_res}_{quarter}.geojson

``slug`` is the ASCII name in lower case with hyphens (``79_ho-chi-minh``). The national province
summaries are the gap-maps asset's ``geojson/provinces_{version}_{quarter}.geojson``.

Every file carries a top-level ``provenance`` member: the caller's
:func:`geodata.publishing.outputs.provenance_record` plus ``boundary_version``, ``h3_resolution`` (of the
features in the file), ``h3_resolution_base`` (of the cell table) and, in province files,
``province_code``, ``province_name``, ``size_budget_bytes`` and, when the budget coarsened the
cells, ``resolution_note``. Properties use official codes, names with diacritics and ASCII names,
rounded values (people 0.1, speeds and latency 0.1, shares and Gini 4 decimals, counts as
integers); internal columns (``cell``, ``province_nearest``, ``mobile_basis``, ``*_devices``,
``region_id``) are dropped, and so are the ``adoption_*`` columns: they are province statistics
spread on cells, published once in the summary file. Summary polygons are the full-resolution
boundaries (the ones cells were assigned with; at most ~0.3 MB per province).

Size budget
-----------
No province file exceeds ``max_bytes``: a province's cells are written at the table's resolution;
when that file is too large they are aggregated to the next coarser resolution *within the
province* (:func:`geodata.cell_table.rollup_cell_table` on the province's cells: a hexagon on the
border holds only this province's part, so the file's population equals the province's) and so
on down to ``coarse_res``. The resolution used is in the file's provenance and in the listing.
A resolution whose size, extrapolated from 512 evenly spread features, is clearly over the budget
is skipped without being encoded whole; the file kept is always measured exactly.
Coarse cells carry people per service class instead of a class (see :data:`COARSE_PROPERTIES`).

Speed
-----
Every cell's feature text is rendered once per quarter, vectorised
(:func:`geodata.writers.geojson.feature_texts`, byte-identical to GDAL's): the geometry and the
values are shared by both versions (and the geometry of the previous call's cells is reused), a
province's file is a header, its features and a footer, and its size is known before it is
assembled. Summary polygons go through GDAL once per version and are split per province. Files
are written and hashed (for the manifest, see ``manifest_hints``) by a background thread.

The national coarse file is the rollup of all cells; each coarse hexagon is labelled with the
province holding its centre (nearest province off-shore), the rule used for base cells.

Examples
--------
>>> province_slug("Bà Rịa - Vũng Tàu")
'ba-ria-vung-tau'
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from geodata.cell_table import assign_provinces, rollup_cell_table
from geodata.errors import InputError, SchemaError
from geodata.kernels.cells import cells_resolution, cells_to_strings
from geodata.provenance import atomic_write_bytes
from geodata.publishing.outputs import cells_rings, manifest_hint
from geodata.reference import (
    BOUNDARY_VERSIONS,
    load_provinces,
    province_names,
    provinces_within,
)
from geodata.technology import TECH_RANK
from geodata.writers.geojson import (
    collection_bytes,
    collection_header,
    collection_size,
    feature_texts,
    geojson_bytes,
    properties_texts,
    property_texts,
    ring_geometry_texts,
)

__all__ = [
    "CELL_PROPERTIES",
    "COARSE_PROPERTIES",
    "DOWNLOADS_DIR",
    "LISTING_COLUMNS",
    "PROVENANCE_KEYS",
    "DownloadKind",
    "province_slug",
    "province_summary_geodataframe",
    "write_province_downloads",
]

DownloadKind = Literal["cells", "summary", "national"]

#: Folder below the output directory holding every download.
DOWNLOADS_DIR = "downloads"

#: Tests-weighted speed properties shared by fine and coarse cells.
_SPEED_PROPERTIES: tuple[str, ...] = (
    "fixed_d_mbps",
    "fixed_u_mbps",
    "fixed_lat_ms",
    "fixed_tests",
    "mobile_d_mbps",
    "mobile_u_mbps",
    "mobile_lat_ms",
    "mobile_tests",
)

#: Properties of a base-resolution cell, in file order. ``code, name, name_ascii`` are the
#: province of the file's boundary version; ``best_tech`` is the best mobile technology label
#: (``none`` .. ``5G``, null without coverage information).
CELL_PROPERTIES: tuple[str, ...] = (
    "h3",
    "code",
    "name",
    "name_ascii",
    "population",
    "service_class",
    "fixed_class",
    "mobile_class",
    "best_tech",
    *_SPEED_PROPERTIES,
)

_CLASSES = ("served", "underserved", "unserved", "no_data")

#: Properties of a coarse cell (aggregated children): people and share of people per service
#: class instead of one class; speeds tests-weighted; no technology.
COARSE_PROPERTIES: tuple[str, ...] = (
    "h3",
    "code",
    "name",
    "name_ascii",
    "population",
    *(f"people_{c}" for c in _CLASSES),
    *(f"share_{c}" for c in _CLASSES),
    *_SPEED_PROPERTIES,
)

#: Columns of the listing returned by :func:`write_province_downloads`.
LISTING_COLUMNS: tuple[str, ...] = (
    "path",
    "version",
    "code",
    "name",
    "kind",
    "resolution",
    "bytes",
    "features",
)

#: Keys the caller's provenance record must hold (as :func:`geodata.publishing.outputs.provenance_record`
#: writes them, called with ``thresholds=``).
PROVENANCE_KEYS: tuple[str, ...] = (
    "generated_at",
    "sample",
    "period",
    "inputs_sha256",
    "thresholds",
    "licence",
    "attribution",
)

_TABLE = "cell table"
_REQUIRED = (
    "cell",
    "population",
    "code_63",
    "code_34",
    "service_class",
    "fixed_class",
    "mobile_class",
    "best_tech_rank",
    *(f"{k}_{c}" for k in ("fixed", "mobile") for c in ("d_mbps", "u_mbps", "lat_ms", "tests")),
)
_QUARTER = re.compile(r"^\d{4}Q[1-4]$")
_SAMPLE = 512  # features encoded to estimate a file's size
_MARGIN = 1.05  # encode in full when the estimate is within 5 % of the budget


def province_slug(name_ascii: str) -> str:
    """Lower-case ASCII slug with hyphens of a province name (diacritics folded, đ -> d).

    >>> province_slug("Ho Chi Minh"), province_slug("Huế")
    ('ho-chi-minh', 'hue')
    """
    s = unicodedata.normalize("NFKD", str(name_ascii).replace("đ", "d").replace("Đ", "D"))
    s = s.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


def _decimals(column: str) -> int | None:
    """Rounding of a published column: None = leave as is, 0 = integer count."""
    if column in ("n_cells", "rank") or column.endswith(("_tests", "_devices")):
        return 0
    if column == "population" or column.startswith(("people_", "pop_")):
        return 1
    if column.startswith(("share_", "gini_")):
        return 4
    if column.endswith(("_mbps", "_ms")):
        return 1
    return None


def _round_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Round every numeric column by :func:`_decimals`; counts become nullable integers."""
    out = df.copy()
    for col in out.columns:
        dec = _decimals(str(col))
        if dec is None or col == "geometry" or not pd.api.types.is_numeric_dtype(out[col]):
            continue
        values = out[col].to_numpy(dtype=np.float64, na_value=np.nan).round(dec)
        out[col] = pd.array(values, dtype="Int64") if dec == 0 else values
    return out


def _labels(codes: pd.Series, version: str, column: str) -> pd.DataFrame:
    """``code, name, name_ascii`` of each row's province; unknown or missing codes raise."""
    names = province_names(version)
    values = codes.astype(object).to_numpy()
    pos = pd.Index(names["code"]).get_indexer(values)
    bad = np.flatnonzero(pos < 0)
    if bad.size:
        raise InputError(
            _TABLE,
            f"{values[bad[0]]!r} is not a province code of boundary version {version} "
            f"({bad.size} rows)",
            row=int(bad[0]) + 1,
            column=column,
        )
    return pd.DataFrame(
        {
            "code": names["code"].to_numpy()[pos],
            "name": names["name"].to_numpy()[pos],
            "name_ascii": names["name_ascii"].to_numpy()[pos],
        },
        index=codes.index,
    )


def _tech_labels(rank: pd.Series) -> pd.Series:
    r = rank.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(r) & (r >= 0) & (r < len(TECH_RANK))
    labels = np.asarray(TECH_RANK, dtype=object)[np.where(ok, r, 0).astype(np.int64)]
    labels[~ok] = None
    return pd.Series(pd.array(labels, dtype="string"), index=rank.index)


_LABELS = ("code", "name", "name_ascii")


def _cell_value_texts(table: pd.DataFrame) -> tuple[pa.Array, pa.Array]:
    """Rendered properties text of the base-cell properties that do not depend on the boundary
    version: (``h3``, the ones after the province labels), rounded for publication."""
    props = pd.DataFrame(index=table.index)
    for col in CELL_PROPERTIES:
        if col in _LABELS:
            continue
        if col == "best_tech":
            props[col] = _tech_labels(table["best_tech_rank"])
        else:
            props[col] = table[col].astype("string") if col.endswith("_class") else table[col]
    props = _round_columns(props)
    texts = {col: property_texts(props[col]) for col in props.columns}
    head = properties_texts({"h3": texts.pop("h3")})
    return head, properties_texts(texts)


#: Per resolution, the last call's cells (sorted), their positions and their geometry texts.
_GEOMETRY_CACHE: dict[int, tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], pa.Array]] = {}


def _cell_geometry_texts(cells: npt.NDArray[np.uint64], res: int) -> pa.Array:
    """:func:`ring_geometry_texts` of the cells. The last call's texts are kept per resolution:
    the cells of the next quarter are mostly the same, so only new cells are rendered."""
    known, where, texts = _GEOMETRY_CACHE.pop(res, (np.zeros(0, np.uint64), None, None))
    hit = np.zeros(len(cells), bool)
    pos = np.zeros(len(cells), np.int64)
    if len(known):
        pos = np.searchsorted(known, cells).clip(0, len(known) - 1)
        hit = known[pos] == cells
    new = np.flatnonzero(~hit)
    fresh = ring_geometry_texts(*cells_rings(cells[new]))
    if texts is None or not hit.any():
        out = fresh
    else:
        # rows of the result: cached texts where known, then the fresh ones
        take = np.where(hit, where[pos], 0).astype(np.int64)
        take[new] = len(texts) + np.arange(len(new))
        out = pa.concat_arrays([texts, fresh]).take(pa.array(take))
    order = np.argsort(cells, kind="stable")
    _GEOMETRY_CACHE[res] = (cells[order], order.astype(np.int64), out)
    return out


def _coarse_frame(cells: pd.DataFrame, res: int) -> pd.DataFrame:
    """Rollup to ``res`` with shares of people per class (no province labels yet)."""
    coarse = rollup_cell_table(cells, res)
    pop = coarse["population"].to_numpy(np.float64)
    for cls in _CLASSES:
        people = coarse[f"people_{cls}"].to_numpy(np.float64)
        coarse[f"share_{cls}"] = np.divide(
            people, pop, out=np.full(len(pop), np.nan), where=pop > 0
        )
    return coarse


def _coarse_features(coarse: pd.DataFrame, labels: pd.DataFrame) -> _Rendered:
    """The published coarse cells (:data:`COARSE_PROPERTIES`), rendered."""
    coarse = coarse.reset_index(drop=True)
    cells = coarse["cell"].to_numpy(np.uint64)
    props = labels.reset_index(drop=True).copy()
    props["h3"] = cells_to_strings(cells)
    for col in COARSE_PROPERTIES:
        if col not in props:
            props[col] = coarse[col].to_numpy()
    props = _round_columns(props[list(COARSE_PROPERTIES)])
    return _Rendered(feature_texts(props, ring_geometry_texts(*cells_rings(cells))))


class _Rendered:
    """Features rendered once (:func:`geodata.writers.geojson.feature_texts`), in file order:
    the bytes of rows ``a..b`` are one contiguous slice, their size known without encoding."""

    def __init__(self, texts: pa.Array):
        texts = texts.cast(pa.large_string())
        if texts.offset or texts.null_count:
            texts = pa.concat_arrays([texts.fill_null("")])
        self.n = len(texts)
        offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64, count=self.n + 1)
        self.offsets = offsets
        self.data = texts.buffers()[2]

    def nbytes(self, a: int, b: int) -> int:
        return int(self.offsets[b] - self.offsets[a])

    def sample_nbytes(self, a: int, b: int, k: int) -> int:
        """Bytes of ``k`` evenly spread features of rows ``a..b``."""
        pick = a + np.linspace(0, b - a - 1, k).astype(np.int64)
        return int((self.offsets[pick + 1] - self.offsets[pick]).sum())

    def body(self, a: int, b: int) -> bytes:
        if a == b:
            return b""
        return self.data[int(self.offsets[a]) : int(self.offsets[b])].to_pybytes()


def province_summary_geodataframe(
    summary: pd.DataFrame, version: str, *, simplified: bool = False
) -> gpd.GeoDataFrame:
    """Province polygons of ``version`` joined with the summary rows, rounded for publication.

    One feature per summary row, in the summary's order; properties are the summary's columns
    (``code, name, name_ascii`` from the boundary set, never from the summary) rounded like the
    cells. Full-resolution polygons by default: the ones cells were assigned with.

    Raises
    ------
    SchemaError : the summary has no ``code`` column
    InputError : a summary code is not a province of ``version``
    """
    if "code" not in summary.columns:
        raise SchemaError(f"summary {version}", "missing column 'code'", column="code")
    labels = _labels(summary["code"].reset_index(drop=True), version, "code")
    polys = load_provinces(version, simplified=simplified)
    props = summary.reset_index(drop=True).drop(
        columns=["code", "name", "name_ascii", "geometry"], errors="ignore"
    )
    props = pd.concat([labels, props], axis=1)
    if "period" in props.columns:
        props.insert(0, "period", props.pop("period"))
    geometry = polys.geometry.loc[labels["code"].to_numpy()].to_numpy()
    return gpd.GeoDataFrame(_round_columns(props), geometry=geometry, crs="EPSG:4326")


def _check_inputs(
    cells: pd.DataFrame, summaries: Mapping[str, pd.DataFrame], quarter: str, prov: Mapping
) -> int:
    """Validate the inputs; returns the cells' H3 resolution."""
    if not _QUARTER.match(str(quarter)):
        raise ValueError(f"quarter must look like 2026Q3, got {quarter!r}")
    missing = [c for c in _REQUIRED if c not in cells.columns]
    if missing:
        raise SchemaError(
            _TABLE, f"missing column {missing[0]!r} (all missing: {missing})", column=missing[0]
        )
    for version in BOUNDARY_VERSIONS:
        if version not in summaries:
            raise ValueError(f"summaries has no boundary version {version!r}")
    lost = [k for k in PROVENANCE_KEYS if k not in prov]
    if lost:
        raise ValueError(
            f"provenance lacks {lost}; pass geodata.publishing.outputs.provenance_record(..., thresholds=...)"
        )
    if prov.get("period") not in (None, quarter):
        raise ValueError(f"provenance is for period {prov['period']!r}, not {quarter!r}")
    if len(cells) == 0:
        raise InputError(_TABLE, "no cells to publish")
    res = np.unique(cells_resolution(cells["cell"].to_numpy(np.uint64)))
    if len(res) > 1:
        raise InputError(_TABLE, f"cells mix H3 resolutions {res.tolist()}", column="cell")
    return int(res[0])


class _Writer:
    """Writes files under ``out_dir`` and keeps the listing.

    Files are written (atomically, then hashed for the manifest) by one background thread, in
    order, while the next file is rendered; at most ``_PENDING`` files wait in memory.
    :meth:`close` waits for every write and raises the first write error.
    """

    def __init__(self, out_dir: Path, quarter: str, provenance: Mapping[str, Any], base: int):
        self.out_dir = out_dir
        self.quarter = quarter
        self.base = base
        self.provenance = {**provenance, "period": quarter, "h3_resolution_base": base}
        self.rows: list[dict[str, Any]] = []
        self.hints: list[dict[str, Any]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="downloads-writer")
        self._pending: deque[Future[dict[str, Any]]] = deque()

    def header(self, **extra: Any) -> bytes:
        return collection_header({**self.provenance, **extra})

    def write(self, rel: str, data: bytes, **row: Any) -> None:
        self.rows.append({"path": rel, **row, "bytes": len(data)})
        self._pending.append(self._pool.submit(self._write, rel, data, row["features"]))
        while len(self._pending) > _PENDING:
            self.hints.append(self._pending.popleft().result())

    def _write(self, rel: str, data: bytes, features: int) -> dict[str, Any]:
        dest = atomic_write_bytes(self.out_dir / rel, data)
        return manifest_hint(dest, self.out_dir, data, features=features, period=self.quarter)

    def close(self) -> None:
        try:
            while self._pending:
                self.hints.append(self._pending.popleft().result())
        finally:
            for future in self._pending:  # after a failed write: let the others finish
                future.exception()
            self._pool.shutdown(wait=True)


_PENDING = 8  # files rendered ahead of the writer thread (each at most max_bytes)


def _province_cells_bytes(
    w: _Writer,
    rendered: _Rendered,
    table: pd.DataFrame,
    idx: npt.NDArray[np.int64],
    labels: pd.DataFrame,
    extra: dict[str, Any],
    max_bytes: int,
    coarse_res: int,
) -> tuple[bytes, int, int]:
    """The finest file of one province's cells within ``max_bytes``: (bytes, resolution, n).

    Sizes come from the rendered features. A resolution with more than ``2 * _SAMPLE`` features
    is first estimated from ``_SAMPLE`` evenly spread ones and skipped when clearly over the
    budget (the resolution note reports that estimate); the file kept is always measured exactly.
    Coarser resolutions aggregate the province's rows ``idx`` of ``table``.
    """
    res, first, province = w.base, None, None
    a, b = 0, rendered.n
    note: dict[str, str] = {}
    while True:
        header = w.header(**extra, h3_resolution=res, **note)
        n = b - a
        exact = n <= 2 * _SAMPLE
        if exact:
            size: float = collection_size(header, rendered.nbytes(a, b))
        else:
            empty = collection_size(header, 0)
            sample = collection_size(header, rendered.sample_nbytes(a, b, _SAMPLE))
            size = empty + (sample - empty) * n / _SAMPLE
            if size <= _MARGIN * max_bytes:
                size, exact = collection_size(header, rendered.nbytes(a, b)), True
        if exact and size <= max_bytes:
            return collection_bytes(header, rendered.body(a, b)), res, n
        first = first or size
        if res <= coarse_res:
            raise ValueError(
                f"province {extra['province_code']} ({extra['boundary_version']}): cells file "
                f"is about {size:,.0f} bytes at the coarsest allowed res {coarse_res}, over "
                f"max_bytes={max_bytes:,}"
            )
        res -= 1
        province = table.iloc[idx] if province is None else province
        coarse = _coarse_frame(province, res)
        rendered = _coarse_features(coarse, labels.iloc[np.zeros(len(coarse), np.int64)])
        a, b = 0, rendered.n
        note = {
            "resolution_note": (
                f"cells aggregated from res {w.base} to res {res} within the province, the res "
                f"{w.base} file being about {first:,.0f} bytes, over the {max_bytes:,}-byte "
                "budget; a border hexagon holds only this province's part"
            )
        }


def write_province_downloads(
    cells: pd.DataFrame,
    summaries: Mapping[str, pd.DataFrame],
    quarter: str,
    out_dir: str | Path,
    provenance: Mapping[str, Any],
    *,
    max_bytes: int = 10_000_000,
    coarse_res: int = 6,
    manifest_hints: list[dict[str, Any]] | None = None,
    provinces_34: Collection[str] | None = None,
    national: bool = True,
) -> pd.DataFrame:
    """Write the per-province and national GeoJSON downloads of one quarter (both versions).

    Parameters
    ----------
    cells : the gap cell table of one quarter (``geodata.cell_table`` contract, classified by
        ``geodata.indicators.service.classify_cells``), one H3 resolution; other columns
        (``adoption_*``, ``region_id``, ``*_devices``, ...) are not published per cell
    summaries : ``{"63": ..., "34": ...}`` province summaries of the same quarter
        (``geodata.indicators.summaries.summarise``, optionally with ``period`` and adoption
        columns); all their columns go into the summary files
    quarter : ``YYYYQn``, used in file names and as the provenance ``period``
    out_dir : output root; files go below ``out_dir/downloads/``
    provenance : :func:`geodata.publishing.outputs.provenance_record` output, with ``thresholds``
    max_bytes : size budget of each per-province file
    coarse_res : resolution of the national cells files, and the coarsest a province's cells
        may be aggregated to under the budget
    manifest_hints : when given, the manifest entry of every file written (size, mtime, sha256
        of the bytes written, features, period; :func:`geodata.publishing.outputs.manifest_hint`) is
        appended, for :func:`geodata.publishing.outputs.write_manifest_hints`
    provinces_34 : write the files of these 34-version provinces and of the old (63)
        provinces lying in them only (:func:`geodata.reference.provinces_within`); ``()``: no
        province file. A province's files depend on its own cells and summary row only, so
        ``cells`` may be any rows holding those provinces' cells of both versions, and the
        files are the same bytes as from the full table: this is how the work is split over
        steps (``dagster_project.provinces``). None (the default): every province.
    national : write the national coarse files (they need the full table)

    Returns
    -------
    DataFrame with :data:`LISTING_COLUMNS`, one row per file written, in writing order;
    ``path`` relative to ``out_dir`` (POSIX), ``kind`` one of ``cells``, ``summary``,
    ``national``; ``code`` and ``name`` are None for national files.

    Raises
    ------
    SchemaError : a required cell or summary column is missing
    InputError : a cell has a code that is not a province of its version, or resolutions mix
    ValueError : bad quarter, missing summary version, summary row or provenance key,
        ``coarse_res`` not coarser than the cells, or a province that does not fit
        ``max_bytes`` at ``coarse_res``

    Examples
    --------
    >>> listing = write_province_downloads(  # doctest: +SKIP
    ...     gap_cells, province_summaries, "2026Q3", Path("assets"),
    ...     provenance_record(inv, quarter="2026Q3", h3_resolution=8,
    ...                       thresholds=DEFAULT_THRESHOLDS))
    >>> listing.loc[listing["kind"] == "cells", "bytes"].max() <= 10_000_000  # doctest: +SKIP
    True
    """
    base_res = _check_inputs(cells, summaries, quarter, provenance)
    if not 0 <= coarse_res < base_res:
        raise ValueError(f"coarse_res must be in 0..{base_res - 1}, got {coarse_res}")
    table = cells.reset_index(drop=True)
    cell_ids = table["cell"].to_numpy(np.uint64)
    base = table[list(_REQUIRED)]
    base.insert(1, "h3", cells_to_strings(cell_ids))
    # every check on the inputs runs before the first file is written
    views = {v: _version_view(base, summaries[v], v) for v in BOUNDARY_VERSIONS}
    within = None if provinces_34 is None else provinces_within(provinces_34)
    if within is None or within["34"]:  # texts of the geometry and values, shared by versions
        geometry = _cell_geometry_texts(cell_ids, base_res)
        head, tail = _cell_value_texts(base)
    w = _Writer(Path(out_dir), quarter, provenance, base_res)
    try:
        for version, (published, groups, polys) in views.items():
            codes = sorted(groups if within is None else set(groups) & set(within[version]))
            if not codes:
                continue
            lines = _feature_lines(polys.loc[codes])
            for code in codes:
                # one province's features at a time: memory stays at the shared texts + a file
                idx = np.asarray(groups[code], dtype=np.int64)
                rows = pa.array(idx)
                labels = properties_texts(
                    {c: property_texts(published[c].iloc[idx[:1]]) for c in _LABELS}
                )
                rendered = _Rendered(
                    feature_texts(
                        [head.take(rows), labels[0], tail.take(rows)], geometry.take(rows)
                    )
                )
                _write_province(
                    w, version, published, rendered, table, idx, lines, max_bytes, coarse_res
                )
        if national:
            _write_national(w, table, coarse_res)
    finally:
        w.close()
    if manifest_hints is not None:
        manifest_hints.extend(w.hints)
    return pd.DataFrame(w.rows, columns=list(LISTING_COLUMNS))


def _version_view(
    base: pd.DataFrame, summary: pd.DataFrame, version: str
) -> tuple[pd.DataFrame, dict[str, npt.NDArray[np.intp]], gpd.GeoDataFrame]:
    """Province labels of the cells in one version, row positions per province, summary
    features by code."""
    published = _labels(base[f"code_{version}"], version, f"code_{version}")
    codes = published["code"].to_numpy(object)
    groups = pd.Series(codes).groupby(codes).indices
    polys = _summary_features(summary, version)
    lost = sorted(set(groups) - set(polys.index))
    if lost:
        raise ValueError(f"summary {version} has no row for province {lost[0]} (all: {lost})")
    return published, groups, polys


def _feature_lines(gdf: gpd.GeoDataFrame) -> dict[Any, bytes]:
    """Each row's feature text as GDAL writes it (followed by ``,\n``), by index label.

    One GDAL encoding of all rows: GDAL writes each feature on its own line, independent of the
    others, so a one-feature file is the header, that line and the footer.
    """
    data = geojson_bytes(gdf)
    body = data[len(collection_header(None)) : len(data) - len(b"\n]\n}\n")]
    lines = body.split(b",\n") if body else []
    if len(lines) != len(gdf) or any(b"\n" in line for line in lines):
        raise RuntimeError("unexpected GDAL GeoJSON layout: one feature per line expected")
    return {label: line + b",\n" for label, line in zip(gdf.index, lines, strict=True)}


def _write_province(
    w: _Writer,
    version: str,
    published: pd.DataFrame,
    rendered: _Rendered,
    table: pd.DataFrame,
    idx: npt.NDArray[np.int64],
    summary_lines: Mapping[Any, bytes],
    max_bytes: int,
    coarse_res: int,
) -> None:
    """The cells and summary files of one province of one version."""
    labels = published.iloc[idx[:1]][["code", "name", "name_ascii"]]
    code, name, name_ascii = labels.iloc[0]
    folder = f"{DOWNLOADS_DIR}/{version}/{code}_{province_slug(name_ascii)}"
    extra = {
        "boundary_version": version,
        "province_code": code,
        "province_name": name,
        "size_budget_bytes": max_bytes,
    }
    data, res, n = _province_cells_bytes(
        w, rendered, table, idx, labels, extra, max_bytes, coarse_res
    )
    row = {"version": version, "code": code, "name": name}
    w.write(
        f"{folder}/{w.quarter}_cells.geojson", data, **row, kind="cells", resolution=res, features=n
    )
    data = collection_bytes(w.header(**extra, h3_resolution=w.base), summary_lines[code])
    if len(data) > max_bytes:
        raise ValueError(f"summary of province {code} ({version}) is {len(data):,} bytes")
    w.write(
        f"{folder}/{w.quarter}_summary.geojson",
        data,
        **row,
        kind="summary",
        resolution=w.base,
        features=1,
    )


def _summary_features(summary: pd.DataFrame, version: str) -> gpd.GeoDataFrame:
    """:func:`province_summary_geodataframe` indexed by code; duplicate codes raise."""
    gdf = province_summary_geodataframe(summary, version)
    dup = gdf["code"].duplicated()
    if dup.any():
        raise ValueError(
            f"summary {version} has several rows for province {gdf['code'][dup].iloc[0]}"
        )
    return gdf.set_index(gdf["code"].to_numpy(), drop=False)


#: Per resolution, the last call's cells (sorted) and their provinces of both versions.
_PROVINCE_CACHE: dict[int, tuple[npt.NDArray[np.uint64], pd.DataFrame]] = {}


def _centre_provinces(cells: npt.NDArray[np.uint64], res: int) -> pd.DataFrame:
    """:func:`geodata.cell_table.assign_provinces` of the cells (``code_63``, ``code_34``), in
    their order. The last call's answers are kept per resolution: the next quarter's coarse
    cells are mostly the same, so only new cells are assigned."""
    known, codes = _PROVINCE_CACHE.pop(res, (np.zeros(0, np.uint64), None))
    pos = np.zeros(len(cells), np.int64)
    hit = np.zeros(len(cells), bool)
    if len(known):
        pos = np.searchsorted(known, cells).clip(0, len(known) - 1)
        hit = known[pos] == cells
    out = pd.DataFrame({f"code_{v}": np.full(len(cells), None, object) for v in BOUNDARY_VERSIONS})
    new = np.flatnonzero(~hit)
    if len(new):
        fresh = assign_provinces(
            cells[new], {v: load_provinces(v) for v in BOUNDARY_VERSIONS}, study_area=False
        )
        for col in out.columns:
            out.loc[new, col] = fresh[col].astype(object).to_numpy()
    if codes is not None and hit.any():
        for col in out.columns:
            out.loc[np.flatnonzero(hit), col] = codes[col].to_numpy(object)[pos[hit]]
    out = out.astype("string")
    order = np.argsort(cells, kind="stable")
    _PROVINCE_CACHE[res] = (cells[order], out.iloc[order].reset_index(drop=True))
    return out


def _write_national(w: _Writer, table: pd.DataFrame, res: int) -> None:
    """One file of coarse cells per version, each hexagon labelled by its centre's province."""
    coarse = _coarse_frame(table, res)
    codes = _centre_provinces(coarse["cell"].to_numpy(np.uint64), res)
    for version in BOUNDARY_VERSIONS:
        labels = _labels(codes[f"code_{version}"], version, f"code_{version}")
        rendered = _coarse_features(coarse, labels)
        header = w.header(
            boundary_version=version,
            h3_resolution=res,
            province_assignment="province holding the hexagon's centre (nearest off-shore)",
        )
        w.write(
            f"{DOWNLOADS_DIR}/{version}/vn_cells_res{res}_{w.quarter}.geojson",
            collection_bytes(header, rendered.body(0, rendered.n)),
            version=version,
            code=None,
            name=None,
            kind="national",
            resolution=res,
            features=rendered.n,
        )
