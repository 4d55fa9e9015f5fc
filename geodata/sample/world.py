"""SYNTHETIC world-size input files in the publishers' exact layouts, with Vietnam inside.

Users download Ookla Open Data as **one global file per type and quarter** (~6.5 M fixed and
~3.5 M mobile zoom-16 tiles) and OpenCelliD as **one world dump** (``cell_towers.csv.gz``, every
country's networks, tens of millions of rows). The readers must cut Vietnam out of such files
quickly and in bounded memory, so the tests and ``make bench`` need files of that shape and size.
This module makes them: the Vietnamese rows of a sample input (:mod:`geodata.sample.generate`)
surrounded by foreign rows.

- **Speed tiles** (:func:`world_speed_tiles`): Ookla's published columns in their order
  (``quadkey, tile, tile_x, tile_y, avg_d_kbps, avg_u_kbps, avg_lat_ms, avg_lat_down_ms,
  avg_lat_up_ms, tests, devices``; WKT ``tile`` at 15 significant digits, ``tile_x``/``tile_y``
  the tile centroid). Foreign tiles are spread over the populated parts of the world
  (:data:`WORLD_REGIONS`) and, a stated share (:data:`NEAR_SHARE`), over Vietnam's bounding box
  outside the study area: Laos, Cambodia, Guangxi, Guangdong, Hainan and the sea, the rows a box
  filter wrongly keeps. Rows run in quadkey order (``order="quadkey"``) or shuffled
  (``order="shuffled"``: no row group can be skipped by its statistics, the reader's worst case).
- **Cell sites** (:func:`world_cell_towers`): OpenCelliD's 14 columns with the header line,
  foreign networks by MCC in their countries, a few Vietnamese (MCC 452) sites outside the study
  area (roamers located abroad), every row interleaved at random.

Everything written is marked SYNTHETIC: the Parquet key ``gap_monitor:sample``, a leading
``# gap_monitor_sample=true`` comment in the CSV, and ``SYNTHETIC`` in the file names. The
ground truth (how many rows lie in the study area) is returned, so a test can demand that a
reader accepts exactly those.

Examples
--------
>>> truth = write_world_speed_tiles(vn_table, "w/2026-07-01_performance_fixed_tiles.parquet",
...                                 n_rows=6_500_000)  # doctest: +SKIP
>>> truth.inside, truth.outside  # doctest: +SKIP
(583121, 5916879)
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from geodata.provenance import atomic_path
from geodata.quadkeys import (
    OOKLA_ZOOM,
    lnglat_to_tile,
    ookla_tile_wkt,
    quadkey_to_tile,
    tile_centroids,
    tile_to_quadkey,
)
from geodata.study_area import in_study_area

__all__ = [
    "NEAR_SHARE",
    "OOKLA_PUBLISHED_SCHEMA",
    "OPENCELLID_HEADER",
    "WORLD_MCC_BOXES",
    "WORLD_REGIONS",
    "WorldTruth",
    "world_cell_towers",
    "world_speed_tiles",
    "write_world_cell_towers",
    "write_world_speed_tiles",
]

#: Ookla Open Data Parquet columns in the published order (2023Q3 onwards).
OOKLA_PUBLISHED_SCHEMA = pa.schema(
    [
        pa.field("quadkey", pa.string()),
        pa.field("tile", pa.string()),
        pa.field("tile_x", pa.float64()),
        pa.field("tile_y", pa.float64()),
        pa.field("avg_d_kbps", pa.int64()),
        pa.field("avg_u_kbps", pa.int64()),
        pa.field("avg_lat_ms", pa.int64()),
        pa.field("avg_lat_down_ms", pa.int64()),
        pa.field("avg_lat_up_ms", pa.int64()),
        pa.field("tests", pa.int64()),
        pa.field("devices", pa.int64()),
    ]
)
#: OpenCelliD's export header.
OPENCELLID_HEADER = (
    "radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range",
    "samples", "changeable", "created", "updated", "averageSignal",
)  # fmt: skip
#: Populated boxes of the world ``(west, south, east, north, weight)`` foreign tiles fall in
#: (weights roughly follow where Ookla has tests; the exact share does not matter to a reader).
WORLD_REGIONS: tuple[tuple[float, float, float, float, float], ...] = (
    (-124.0, 30.0, -70.0, 48.0, 0.20),  # United States
    (-10.0, 36.0, 30.0, 58.0, 0.20),  # Europe
    (68.0, 8.0, 89.0, 30.0, 0.12),  # India
    (98.0, 24.0, 122.0, 41.0, 0.10),  # China north of Vietnam's box
    (-74.0, -34.0, -35.0, -3.0, 0.08),  # Brazil
    (129.0, 31.0, 142.0, 43.0, 0.05),  # Japan
    (95.0, -8.0, 125.0, 6.0, 0.08),  # Indonesia, Malaysia, Philippines south of the box
    (-10.0, -35.0, 40.0, 15.0, 0.07),  # Africa
    (30.0, 40.0, 60.0, 60.0, 0.05),  # Russia west, Turkey, Caucasus
    (112.0, -38.0, 154.0, -12.0, 0.05),  # Australia
)
#: Share of the foreign tiles placed in Vietnam's bounding box but outside the study area.
NEAR_SHARE = 0.08
#: Vietnam's bounding box ``(west, south, east, north)``, islands included.
_VN_BOX = (102.0, 6.5, 117.5, 23.6)
#: Foreign networks: MCC and the box their sites lie in.
WORLD_MCC_BOXES: tuple[tuple[int, tuple[float, float, float, float], float], ...] = (
    (310, (-124.0, 30.0, -70.0, 48.0), 0.18),  # United States
    (262, (6.0, 47.5, 15.0, 55.0), 0.08),  # Germany
    (208, (-4.5, 43.0, 7.5, 50.5), 0.06),  # France
    (234, (-5.5, 50.0, 1.5, 56.0), 0.05),  # United Kingdom
    (250, (30.0, 45.0, 60.0, 60.0), 0.10),  # Russia
    (460, (98.0, 22.0, 122.0, 41.0), 0.12),  # China (Guangxi, Yunnan, Guangdong included)
    (404, (68.0, 8.0, 89.0, 30.0), 0.12),  # India
    (724, (-74.0, -34.0, -35.0, -3.0), 0.07),  # Brazil
    (440, (129.0, 31.0, 142.0, 43.0), 0.05),  # Japan
    (520, (97.5, 6.0, 105.5, 20.0), 0.05),  # Thailand
    (456, (102.5, 10.5, 107.5, 14.5), 0.04),  # Cambodia
    (457, (100.5, 14.0, 107.5, 22.5), 0.04),  # Laos
    (510, (95.0, -8.0, 125.0, 6.0), 0.04),  # Indonesia
)
_RADIOS = np.array(["GSM", "UMTS", "LTE", "NR", "CDMA"])
_RADIO_P = np.array([0.30, 0.25, 0.38, 0.05, 0.02])
_RANGE_M = {"GSM": 6000, "UMTS": 3000, "LTE": 2000, "NR": 600, "CDMA": 5000}
_SNAPSHOT_END = 1774915200  # 2026-03-31, unix seconds
#: Foreign tiles are drawn with this much surplus before duplicates and rejections are removed.
_OVERDRAW = 1.25

Order = Literal["quadkey", "shuffled"]


@dataclass(frozen=True)
class WorldTruth:
    """What a world file holds: rows in all, of them in the study area, and outside it."""

    path: Path
    rows: int
    inside: int
    outside: int


def _points_in_boxes(
    rng: np.random.Generator,
    n: int,
    boxes: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    which = rng.choice(len(boxes), size=n, p=weights / weights.sum())
    b = boxes[which]
    lng = rng.uniform(b[:, 0], b[:, 2])
    lat = rng.uniform(b[:, 1], b[:, 3])
    return lng, lat, which


def _outside_area(
    lng: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    return ~in_study_area(lng, lat)


def _foreign_tiles(
    rng: np.random.Generator, n: int, taken: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``n`` distinct zoom-16 tiles whose centroid lies outside the study area, none in ``taken``
    (packed ``x << 16 | y``)."""
    regions = np.array([r[:4] for r in WORLD_REGIONS])
    weights = np.array([r[4] for r in WORLD_REGIONS])
    keys = np.zeros(0, dtype=np.int64)
    want_near = int(round(n * NEAR_SHARE))
    while keys.size < n:
        m = int((n - keys.size) * _OVERDRAW) + 1000
        n_near = min(m, int(want_near * _OVERDRAW) + 100) if keys.size == 0 else 0
        lng_w, lat_w, _ = _points_in_boxes(rng, m - n_near, regions, weights)
        lng_n = rng.uniform(_VN_BOX[0], _VN_BOX[2], n_near)
        lat_n = rng.uniform(_VN_BOX[1], _VN_BOX[3], n_near)
        lng = np.concatenate([lng_n, lng_w])
        lat = np.concatenate([lat_n, lat_w])
        tx, ty = lnglat_to_tile(lng, lat, OOKLA_ZOOM)
        clat, clng = tile_centroids(tx, ty, OOKLA_ZOOM)
        ok = _outside_area(clng, clat)
        new = (tx[ok].astype(np.int64) << 16) | ty[ok].astype(np.int64)
        new = new[~np.isin(new, taken)]
        keys = np.unique(np.concatenate([keys, new]))
    # keep n, chosen at random (np.unique sorted them)
    keys = rng.permutation(keys)[:n]
    return keys >> 16, keys & 0xFFFF


def _measurements(rng: np.random.Generator, n: int, kind: str) -> dict[str, npt.NDArray[np.int64]]:
    median = 60_000.0 if kind == "fixed" else 35_000.0
    down = np.maximum(rng.lognormal(np.log(median), 0.9, n), 50).astype(np.int64)
    up = np.maximum(down * rng.uniform(0.1, 0.9, n), 20).astype(np.int64)
    lat = np.maximum(rng.lognormal(np.log(25.0), 0.6, n), 1).astype(np.int64)
    devices = np.maximum(rng.geometric(0.45, n), 1).astype(np.int64)
    tests = devices + rng.geometric(0.35, n).astype(np.int64) - 1
    return {
        "avg_d_kbps": down,
        "avg_u_kbps": up,
        "avg_lat_ms": lat,
        "avg_lat_down_ms": (lat * rng.uniform(1.5, 8.0, n)).astype(np.int64),
        "avg_lat_up_ms": (lat * rng.uniform(1.5, 12.0, n)).astype(np.int64),
        "tests": tests,
        "devices": devices,
    }


def _published(table: pa.Table) -> pa.Table:
    """``table`` in Ookla's published columns, order and types (missing optional columns null)."""
    cols = []
    for f in OOKLA_PUBLISHED_SCHEMA:
        if f.name in table.column_names:
            cols.append(pc.cast(table.column(f.name), f.type))
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=OOKLA_PUBLISHED_SCHEMA)


def world_speed_tiles(
    vietnam: pa.Table,
    n_rows: int,
    *,
    kind: str = "fixed",
    seed: int = 0,
    order: Order = "quadkey",
) -> tuple[pa.Table, int]:
    """A global Ookla tile table of ``n_rows`` rows holding ``vietnam``'s tiles.

    Parameters
    ----------
    vietnam : Ookla tiles of Vietnam (e.g. a sample quarter), any column order
    n_rows : rows of the whole file (at least ``vietnam.num_rows``)
    kind : ``fixed`` or ``mobile`` (speeds differ a little)
    seed : the foreign rows are a function of the seed
    order : ``"quadkey"`` (sorted, as tiles are usually laid out) or ``"shuffled"``

    Returns
    -------
    (table, inside) : the table in :data:`OOKLA_PUBLISHED_SCHEMA`, and how many of its rows
        have their tile centroid in the study area (``vietnam``'s rows that do)
    """
    vn = _published(vietnam)
    qk = vn.column("quadkey").to_numpy(zero_copy_only=False).astype(str)
    vx, vy, _ = quadkey_to_tile(qk)
    vlat, vlng = tile_centroids(vx, vy, OOKLA_ZOOM)
    inside = int(in_study_area(vlng, vlat).sum())
    n_foreign = n_rows - vn.num_rows
    if n_foreign < 0:
        raise ValueError(f"n_rows={n_rows} is smaller than Vietnam's {vn.num_rows} tiles")
    rng = np.random.default_rng([seed, 0 if kind == "fixed" else 1])
    taken = (vx.astype(np.int64) << 16) | vy.astype(np.int64)
    fx, fy = _foreign_tiles(rng, n_foreign, taken)
    flat, flng = tile_centroids(fx, fy, OOKLA_ZOOM)
    keys = tile_to_quadkey(fx, fy, np.full(fx.size, OOKLA_ZOOM))
    foreign = {
        "quadkey": pa.array(keys.astype(object), pa.string()),
        "tile": ookla_tile_wkt(fx, fy),
        "tile_x": pa.array(flng),
        "tile_y": pa.array(flat),
        **{k: pa.array(v) for k, v in _measurements(rng, n_foreign, kind).items()},
    }
    table = pa.concat_tables(
        [vn, pa.Table.from_pydict(foreign, schema=OOKLA_PUBLISHED_SCHEMA)]
    ).combine_chunks()
    if order == "quadkey":
        idx = pc.sort_indices(table.column("quadkey"))
    else:
        idx = pa.array(rng.permutation(table.num_rows))
    return table.take(idx), inside


def write_world_speed_tiles(
    vietnam: pa.Table,
    path: str | PathLike[str],
    n_rows: int,
    *,
    kind: str | None = None,
    seed: int = 0,
    order: Order = "quadkey",
    row_group_size: int = 1 << 20,
) -> WorldTruth:
    """Write a global tile file (``.parquet`` or ``.csv.gz``, by suffix) and return its truth.

    Parquet is written as pyarrow writes it by default (row groups of 1 Mi rows, statistics on),
    with the SYNTHETIC marker in its key-value metadata; ``.csv.gz`` is Ookla's CSV columns with a
    leading ``# gap_monitor_sample=true`` comment line.
    """
    path = Path(path)
    kind = kind or ("mobile" if "mobile" in path.name else "fixed")
    table, inside = world_speed_tiles(vietnam, n_rows, kind=kind, seed=seed, order=order)
    table = table.replace_schema_metadata(
        {
            b"gap_monitor:sample": b"true",
            b"gap_monitor:synthetic": b"true",
            b"gap_monitor:generator": b"geodata.sample.world",
            b"gap_monitor:note": b"SYNTHETIC world file: sample Vietnamese tiles among "
            b"random foreign tiles, in Ookla's published layout",
        }
    )
    with atomic_path(path) as tmp:
        if path.name.endswith(".csv.gz"):
            with gzip.open(tmp, "wb", compresslevel=6) as fh:
                fh.write(b"# gap_monitor_sample=true\n")
                fh.write(",".join(table.column_names).encode() + b"\n")
                opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
                pacsv.write_csv(table, fh, opts)
        else:
            pq.write_table(table, tmp, row_group_size=row_group_size, compression="snappy")
    return WorldTruth(path, table.num_rows, inside, table.num_rows - inside)


def _text(values: npt.NDArray, fmt: str | None = None) -> pa.Array:
    arr = pa.array(values)
    if fmt is not None:  # fixed decimals for coordinates, as OpenCelliD writes them
        arr = pa.array(np.char.mod(fmt, values).astype(object), pa.string())
    return pc.cast(arr, pa.string())


def world_cell_towers(
    vietnam: pa.Table,
    n_rows: int,
    *,
    seed: int = 0,
    n_vn_abroad: int = 200,
) -> tuple[pa.Table, int]:
    """A world OpenCelliD dump of ``n_rows`` rows holding ``vietnam``'s sites, all as text.

    ``vietnam`` is the sample's cell-site table (its 14 columns, read as text). Besides the
    foreign networks, ``n_vn_abroad`` MCC-452 sites are placed in Vietnam's box outside the study
    area (out of scope for the reader). Returns the table and the number of rows the reader must
    accept: ``vietnam``'s rows in the study area (all of them must be valid rows).
    """
    rng = np.random.default_rng([seed, 2])
    vn = pa.Table.from_arrays(
        [pc.cast(vietnam.column(c), pa.string()) for c in OPENCELLID_HEADER],
        names=list(OPENCELLID_HEADER),
    )
    n_foreign = n_rows - vn.num_rows - n_vn_abroad
    if n_foreign < 0:
        raise ValueError(f"n_rows={n_rows} is smaller than Vietnam's {vn.num_rows} sites")
    boxes = np.array([b for _, b, _ in WORLD_MCC_BOXES])
    weights = np.array([w for _, _, w in WORLD_MCC_BOXES])
    mccs = np.array([m for m, _, _ in WORLD_MCC_BOXES])
    lng, lat, which = _points_in_boxes(rng, n_foreign, boxes, weights)
    mcc = mccs[which]
    # roamers: Vietnamese network, located abroad inside Vietnam's box
    alng = np.zeros(0)
    alat = np.zeros(0)
    while alng.size < n_vn_abroad:
        x = rng.uniform(_VN_BOX[0], _VN_BOX[2], 4 * n_vn_abroad)
        y = rng.uniform(_VN_BOX[1], _VN_BOX[3], 4 * n_vn_abroad)
        off = _outside_area(x, y)
        alng, alat = np.concatenate([alng, x[off]]), np.concatenate([alat, y[off]])
    lng = np.concatenate([lng, alng[:n_vn_abroad]])
    lat = np.concatenate([lat, alat[:n_vn_abroad]])
    mcc = np.concatenate([mcc, np.full(n_vn_abroad, 452)])
    n = lng.size
    ri = rng.choice(len(_RADIOS), size=n, p=_RADIO_P)
    radio = _RADIOS[ri]
    rng_m = np.array([_RANGE_M[r] for r in _RADIOS])[ri]
    created = rng.integers(1_300_000_000, _SNAPSHOT_END, n)
    foreign = pa.Table.from_arrays(
        [
            pa.array(radio.astype(object), pa.string()),
            _text(mcc),
            _text(rng.integers(1, 99, n)),
            _text(rng.integers(1, 65_000, n)),
            _text(rng.integers(1, 268_000_000, n)),
            _text(np.zeros(n, dtype=np.int64)),
            _text(lng, "%.7f"),
            _text(lat, "%.7f"),
            _text((rng_m * rng.uniform(0.2, 1.5, n)).astype(np.int64)),
            _text(rng.integers(1, 500, n)),
            _text(np.ones(n, dtype=np.int64)),
            _text(created),
            _text(np.minimum(created + rng.integers(0, 300_000_000, n), _SNAPSHOT_END)),
            _text(np.zeros(n, dtype=np.int64)),
        ],
        names=list(OPENCELLID_HEADER),
    )
    table = pa.concat_tables([vn, foreign]).combine_chunks()
    vlon = pc.cast(vn.column("lon"), pa.float64()).to_numpy(zero_copy_only=False)
    vlat = pc.cast(vn.column("lat"), pa.float64()).to_numpy(zero_copy_only=False)
    inside = int(in_study_area(vlon, vlat).sum())
    return table.take(pa.array(rng.permutation(table.num_rows))), inside


def write_world_cell_towers(
    vietnam: pa.Table,
    path: str | PathLike[str],
    n_rows: int,
    *,
    seed: int = 0,
    n_vn_abroad: int = 200,
) -> WorldTruth:
    """Write the world dump as gzip CSV (header line, no quoting) and return its truth."""
    path = Path(path)
    table, inside = world_cell_towers(vietnam, n_rows, seed=seed, n_vn_abroad=n_vn_abroad)
    with atomic_path(path) as tmp, gzip.open(tmp, "wb", compresslevel=6) as fh:
        fh.write(b"# gap_monitor_sample=true\n")
        fh.write(",".join(OPENCELLID_HEADER).encode() + b"\n")
        opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, fh, opts)
    return WorldTruth(path, table.num_rows, inside, table.num_rows - inside)


def read_text_table(path: str | PathLike[str], columns: Iterable[str] | None = None) -> pa.Table:
    """A CSV read with every column as text (for feeding :func:`world_cell_towers`)."""
    opts = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in (columns or OPENCELLID_HEADER)},
        strings_can_be_null=False,
    )
    return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(), convert_options=opts)
