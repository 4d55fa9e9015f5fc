"""Synthetic speed-test tiles in the Ookla Open Data layout (zoom-16 quadkeys, WKT tiles).

Tiles are drawn on the real population surface: points fall in WorldPop pixels in proportion to
``pop**a * access(urbanness)`` and become the zoom-16 tiles holding them, so tiles are dense where
people are and absent in remote uplands. Tests grow with the people in a tile. Download speeds
follow urbanness (fixed) or the best mobile technology on the spot (mobile). Every tile has a
first period: later periods add tiles (more in rural areas, where the gap closes) and run faster.

Examples
--------
>>> tables = synthetic_tiles(surface, rng, kind="fixed", n_tiles=1000, n_periods=2)  # doctest: +SKIP
>>> write_ookla_parquet(tables[0], "speed_tiles/sample_2026-04-01_performance_fixed_tiles.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from os import PathLike
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from geodata.quadkeys import (
    OOKLA_ZOOM,
    lnglat_to_tile,
    ookla_tile_wkt,
    tile_centroids,
    tile_to_quadkey,
)
from geodata.sample.surface import PopulationSurface

__all__ = ["SpeedKind", "OOKLA_SCHEMA", "synthetic_tiles", "tile_wkt", "write_ookla_parquet"]

SpeedKind = Literal["fixed", "mobile"]

#: Ookla Open Data Parquet columns (newer files: loaded latency and tile centroid included).
OOKLA_SCHEMA = pa.schema(
    [
        pa.field("quadkey", pa.string()),
        pa.field("tile", pa.string()),
        pa.field("avg_d_kbps", pa.int64()),
        pa.field("avg_u_kbps", pa.int64()),
        pa.field("avg_lat_ms", pa.int64()),
        pa.field("avg_lat_down_ms", pa.int64(), nullable=True),
        pa.field("avg_lat_up_ms", pa.int64(), nullable=True),
        pa.field("tests", pa.int64()),
        pa.field("devices", pa.int64()),
        pa.field("tile_x", pa.float64()),
        pa.field("tile_y", pa.float64()),
    ]
)

_TILE_DEG = 360.0 / 2**OOKLA_ZOOM
_MAX_POINTS_PER_TILE = 8.0
_PARAMS: dict[str, dict[str, float]] = {
    # growth: extra tile intensity per period in fully rural pixels; tests_rate: tests per person
    "fixed": {"growth": 0.05, "tests_rate": 0.012, "drop": 0.04},
    "mobile": {"growth": 0.04, "tests_rate": 0.008, "drop": 0.05},
}


def tile_wkt(x: npt.ArrayLike, y: npt.ArrayLike, zoom: int = OOKLA_ZOOM) -> npt.NDArray[np.str_]:
    """Ookla's ``tile`` WKT of each tile: ``POLYGON((w n, e n, e s, w s, w n))``, 15 digits
    (:func:`geodata.quadkeys.ookla_tile_wkt` as a numpy array).

    >>> str(tile_wkt([52000], [30000])[0])[:40]
    'POLYGON((105.64453125 15.0296857565557, '
    """
    return ookla_tile_wkt(x, y, zoom).to_numpy(zero_copy_only=False).astype(str)


def _mobile_profile(
    rank: npt.NDArray[np.int64], ut: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Typical download (Mbps), upload ratio and latency (ms) of a tile by best technology."""
    med = np.select(
        [rank == 1, rank == 2, rank == 3],
        [0.25 + 0.0 * ut, 5.0 + 3.0 * ut, 25.0 + 45.0 * ut],
        default=110.0 + 120.0 * ut,
    )
    up_ratio = np.select([rank == 1, rank == 2, rank == 3], [0.5, 0.35, 0.3], default=0.18)
    lat_base = np.select(
        [rank == 1, rank == 2, rank == 3], [380.0, 95.0, 38.0 - 12.0 * ut], default=22.0
    )
    return med, up_ratio, lat_base


def _tiles_per_pixel(surface: PopulationSurface) -> npt.NDArray[np.float64]:
    px = surface.pixel_deg
    return px * px / (_TILE_DEG * _TILE_DEG * np.cos(np.radians(surface.lat)))


def _calibrate(
    weight: npt.NDArray[np.float64], n_sub: npt.NDArray[np.float64], target: float
) -> float:
    """Intensity scale ``c`` whose expected count of distinct tiles is ``target`` (bisection)."""
    if target <= 0 or weight.sum() <= 0:
        return 0.0
    target = min(target, 0.98 * float(n_sub[weight > 0].sum()))

    def expected(c: float) -> float:
        return float(np.sum(n_sub * -np.expm1(-c * weight / n_sub)))

    lo, hi = 0.0, target / float(weight.sum())
    while expected(hi) < target:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if expected(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def _tile_pool(
    surface: PopulationSurface,
    rng: np.random.Generator,
    weight: npt.NDArray[np.float64],
    c: float,
    growth: npt.NDArray[np.float64],
    n_periods: int,
) -> dict[str, npt.NDArray[np.int64]]:
    """Draw points in pixels, map them to z16 tiles; each tile keeps its pixel and first period."""
    n_sub = _tiles_per_pixel(surface)
    boost = 1.0 + growth * (n_periods - 1)
    lam = np.minimum(c * weight * boost, _MAX_POINTS_PER_TILE * n_sub)
    k = rng.poisson(lam)
    pix = np.repeat(np.arange(k.size), k)
    px = surface.pixel_deg
    lon = surface.lon[pix] + (rng.random(pix.size) - 0.5) * px
    lat = surface.lat[pix] + (rng.random(pix.size) - 0.5) * px
    x, y = lnglat_to_tile(lon, lat, OOKLA_ZOOM)
    # a point shows up from period ceil((r - 1) / growth) on: r < 1 is there from the start
    r = rng.random(pix.size) * boost[pix]
    g = np.maximum(growth[pix], 1e-12)
    first = np.clip(np.ceil((r - 1.0) / g), 0, n_periods - 1).astype(np.int64)
    tile_id = x * (1 << OOKLA_ZOOM) + y
    order = np.lexsort((first, tile_id))
    tid = tile_id[order]
    head = np.flatnonzero(np.r_[True, tid[1:] != tid[:-1]]) if tid.size else np.zeros(0, np.int64)
    return {
        "x": x[order][head],
        "y": y[order][head],
        "pixel": pix[order][head],
        "first": first[order][head],
    }


def _lognormal(
    rng: np.random.Generator, sigma: float | npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.float64]:
    return np.exp(rng.normal(0.0, 1.0, n) * sigma)


def synthetic_tiles(
    surface: PopulationSurface,
    rng: np.random.Generator,
    *,
    kind: SpeedKind,
    n_tiles: float,
    n_periods: int,
    tech_at: Callable[
        [npt.NDArray[np.float64], npt.NDArray[np.float64], int], npt.NDArray[np.uint8]
    ]
    | None = None,
) -> list[pa.Table]:
    """One Ookla-layout table per period, with about ``n_tiles`` tiles in the first period.

    Parameters
    ----------
    surface : the population surface to draw on
    rng : random generator (the only source of randomness)
    kind : ``"fixed"`` or ``"mobile"``
    n_tiles : target count of tiles in the first period (later periods hold a few more)
    n_periods : number of consecutive periods
    tech_at : for mobile, best technology rank (0 none .. 4 5G) at lon/lat points; tiles where it
        is 0 get no mobile test

    Returns
    -------
    list of pyarrow.Table with the :data:`OOKLA_SCHEMA` columns, sorted by quadkey.
    """
    if kind not in ("fixed", "mobile"):
        raise ValueError(f"kind must be 'fixed' or 'mobile', got {kind!r}")
    if kind == "mobile" and tech_at is None:
        raise ValueError("mobile tiles need tech_at (best technology at a point)")
    par = _PARAMS[kind]
    u = surface.urban
    if kind == "fixed":
        weight = surface.pop**0.85 * u**1.6
    else:
        assert tech_at is not None
        covered = tech_at(surface.lon, surface.lat, n_periods - 1) > 0
        weight = surface.pop**0.8 * (0.05 + u) ** 1.3 * (0.5 + surface.road) * (0.1 + 0.9 * covered)
    growth = par["growth"] * (1.0 - u)
    n_sub = _tiles_per_pixel(surface)
    c = _calibrate(weight, n_sub, n_tiles)
    pool = _tile_pool(surface, rng, weight, c, growth, n_periods)
    # correct once for tiles shared between neighbouring pixels (calibration assumes none)
    got = int((pool["first"] == 0).sum())
    if got > 0 and abs(got - n_tiles) > 0.02 * n_tiles:
        want = float(np.sum(n_sub * -np.expm1(-c * weight / n_sub))) * n_tiles / got
        c = _calibrate(weight, n_sub, want)
        pool = _tile_pool(surface, rng, weight, c, growth, n_periods)

    x, y = pool["x"], pool["y"]
    lat_c, lon_c = tile_centroids(x, y, OOKLA_ZOOM)
    west, south, east, north = surface.bbox
    keep = (lon_c >= west) & (lon_c <= east) & (lat_c >= south) & (lat_c <= north)
    if kind == "mobile":
        assert tech_at is not None
        keep &= tech_at(lon_c, lat_c, n_periods - 1) > 0  # covered by the last period
    x, y, lat_c, lon_c = x[keep], y[keep], lat_c[keep], lon_c[keep]
    pix, first = pool["pixel"][keep], pool["first"][keep]
    quadkey = tile_to_quadkey(x, y, OOKLA_ZOOM)
    order = np.argsort(quadkey, kind="stable")  # Ookla files run in quadkey order
    x, y, lat_c, lon_c = x[order], y[order], lat_c[order], lon_c[order]
    pix, first, quadkey = pix[order], first[order], quadkey[order]

    n = x.size
    ut = u[pix]
    wkt = tile_wkt(x, y, OOKLA_ZOOM)
    # persistent per-tile character: speed level, upload ratio, latency level
    eps = rng.normal(0.0, 0.3, n)
    # growth per quarter, calibrated to the published national series (README, "History"):
    # fixed about +6 %/quarter (Ookla Speedtest Global Index, Vietnam, 2020-2025), faster in the
    # countryside; mobile about +2.5 %/quarter within a technology (the rest of the national
    # rise comes from 5G sites switching on, see ``tech_at``)
    if kind == "fixed":
        med = 25.0 * (230.0 / 25.0) ** (ut**1.2)
        up_ratio = rng.uniform(0.55, 0.95, n)
        lat_base = (5.0 + 30.0 * (1.0 - ut) ** 1.5) * _lognormal(rng, 0.25, n)
        gain = 1.055 + 0.03 * (1.0 - ut)
    else:
        up_jitter = rng.uniform(0.7, 1.3, n)
        lat_jitter = _lognormal(rng, 0.2, n)
        gain = 1.02 + 0.02 * (1.0 - ut)
    pop_per_tile = surface.pop[pix] / n_sub[pix]
    mean_tests = par["tests_rate"] * pop_per_tile * (0.4 + 0.6 * ut)

    tables = []
    for j in range(n_periods):  # a handful of periods
        present = (first <= j) & (rng.random(n) >= par["drop"] * (0.5 + (1.0 - ut)))
        if kind == "mobile":  # the technology of the sites that existed in that quarter
            assert tech_at is not None
            rank = tech_at(lon_c, lat_c, j).astype(np.int64)
            present &= rank > 0
            med, up_ratio, lat_base = _mobile_profile(rank, ut)
            up_ratio = up_ratio * up_jitter
            lat_base = lat_base * lat_jitter
        mu = mean_tests * (1.0 + 0.05 * j)
        tests = 1 + rng.poisson(rng.gamma(1.3, mu / 1.3))
        devices = 1 + rng.binomial(tests - 1, rng.uniform(0.3, 0.8, n))
        noise = rng.normal(0.0, 1.0, n) * (0.08 + 0.3 / np.sqrt(tests))
        down = med * np.exp(eps + noise) * gain**j
        up = down * up_ratio * _lognormal(rng, 0.08, n)
        lat_ms = np.maximum(np.rint(lat_base * _lognormal(rng, 0.1, n) / gain ** (0.5 * j)), 1)
        loaded_null = rng.random(n) < 0.15 + 0.35 / tests
        lat_down = np.rint(lat_ms * rng.uniform(2.5, 8.0, n))
        lat_up = np.rint(lat_ms * rng.uniform(3.0, 12.0, n))
        sel = np.flatnonzero(present)
        null = loaded_null[sel]
        tables.append(
            pa.Table.from_arrays(
                [
                    pa.array(quadkey[sel], pa.string()),
                    pa.array(wkt[sel], pa.string()),
                    pa.array(np.maximum(np.rint(down[sel] * 1000.0), 1).astype(np.int64)),
                    pa.array(np.maximum(np.rint(up[sel] * 1000.0), 1).astype(np.int64)),
                    pa.array(lat_ms[sel].astype(np.int64)),
                    pa.array(lat_down[sel].astype(np.int64), pa.int64(), mask=null),
                    pa.array(lat_up[sel].astype(np.int64), pa.int64(), mask=null),
                    pa.array(tests[sel].astype(np.int64)),
                    pa.array(devices[sel].astype(np.int64)),
                    pa.array(lon_c[sel]),
                    pa.array(lat_c[sel]),
                ],
                schema=OOKLA_SCHEMA,
            )
        )
    return tables


def write_ookla_parquet(
    table: pa.Table, path: str | PathLike[str], metadata: Mapping[bytes, bytes] | None = None
) -> None:
    """Write one Ookla-layout table as Parquet (zstd), with schema key-value ``metadata``.

    No wall-clock time is written, so equal tables give byte-identical files.
    """
    meta = dict(table.schema.metadata or {})
    meta.update(metadata or {})
    pq.write_table(
        table.replace_schema_metadata(meta),
        path,
        compression="zstd",
        row_group_size=64 * 1024,
        write_statistics=True,
    )
