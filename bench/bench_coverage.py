"""Cell sites to covered cells with the best technology: ours vs polars-h3 and an h3-py loop.

Run: ``.venv/bin/python -m bench bench_coverage``. Synthetic sites shaped like OpenCelliD's
Vietnam extract: 70 % clustered around the five largest cities, 30 % spread over the country's
bounding box; technology mix 2G 30 %, 3G 25 %, 4G 42 %, 5G 3 %; ``range`` log-normal with a
median of 1.5 km, 10 % missing; default range caps; H3 resolution 8. The polars-h3 alternative
does the same work in one lazy query (per-row grid_disk, explode, haversine, filter, group max).
The h3-py scalar loop is timed on 300 sites and extrapolated.
"""

from __future__ import annotations

import time
from functools import partial

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
import polars as pl

from bench.report import best_time, report
from geodata.kernels.cells import latlng_to_cells
from geodata.kernels.coverage import (
    DEFAULT_RANGE_CAP_M,
    EARTH_RADIUS_M,
    _disk_radius,
    sites_to_cells,
)
from geodata.technology import TECH_RANK

__all__ = ["main", "make_sites"]

RES = 8
_CITIES = [(21.03, 105.85), (10.78, 106.70), (16.05, 108.20), (20.86, 106.68), (10.03, 105.78)]
_SCALAR_SITES = 300


def make_sites(n: int, seed: int = 0) -> dict[str, npt.NDArray]:
    rng = np.random.default_rng(seed)
    n_city = int(0.7 * n)
    centre = rng.integers(0, len(_CITIES), n_city)
    city = np.array(_CITIES)[centre]
    lat = np.concatenate(
        [city[:, 0] + rng.normal(0, 0.25, n_city), rng.uniform(8.5, 23.3, n - n_city)]
    )
    lng = np.concatenate(
        [city[:, 1] + rng.normal(0, 0.25, n_city), rng.uniform(102.2, 109.4, n - n_city)]
    )
    tech = rng.choice(["2G", "3G", "4G", "5G"], n, p=[0.30, 0.25, 0.42, 0.03])
    range_m = rng.lognormal(np.log(1_500.0), 0.9, n)
    range_m[rng.random(n) < 0.10] = 0.0
    rank = np.array([TECH_RANK.index(t) for t in ("2G", "3G", "4G", "5G")], dtype=np.int8)
    return {
        "lat": lat,
        "lng": lng,
        "range_m": range_m,
        "rank": rank[np.searchsorted(["2G", "3G", "4G", "5G"], tech)],
    }


def _radius(s: dict[str, npt.NDArray]) -> npt.NDArray[np.float64]:
    cap = np.array([DEFAULT_RANGE_CAP_M.get(r, np.nan) for r in range(len(TECH_RANK))])[s["rank"]]
    return np.where(s["range_m"] > 0, np.minimum(s["range_m"], cap), cap)


def _ours(s: dict[str, npt.NDArray]) -> tuple[npt.NDArray, npt.NDArray]:
    return sites_to_cells(s["lat"], s["lng"], s["range_m"], s["rank"], RES)


def _polars_h3(s: dict[str, npt.NDArray], plh3) -> tuple[npt.NDArray, npt.NDArray]:  # type: ignore[no-untyped-def]
    cells = latlng_to_cells(s["lat"], s["lng"], RES)
    frame = pl.DataFrame(
        {
            "lat": s["lat"],
            "lng": s["lng"],
            "radius": _radius(s),
            "rank": s["rank"],
            "own": cells,
            "k": _disk_radius(cells, _radius(s)),  # the same ring count as ours
        }
    )
    rad = np.pi / 180.0
    dlat = (pl.col("c_lat") - pl.col("lat")) * rad
    dlng = (pl.col("c_lng") - pl.col("lng")) * rad
    a = (dlat / 2).sin() ** 2 + (pl.col("lat") * rad).cos() * (pl.col("c_lat") * rad).cos() * (
        dlng / 2
    ).sin() ** 2
    dist = 2.0 * EARTH_RADIUS_M * a.sqrt().arcsin()
    out = (
        frame.lazy()
        .with_columns(cell=plh3.grid_disk("own", pl.col("k")))
        .explode("cell")
        .with_columns(c_lat=plh3.cell_to_lat("cell"), c_lng=plh3.cell_to_lng("cell"))
        .filter((dist <= pl.col("radius")) | (pl.col("cell") == pl.col("own")))
        .group_by("cell")
        .agg(pl.col("rank").max())
        .sort("cell")
        .collect()
    )
    return out["cell"].to_numpy(), out["rank"].to_numpy()


def _scalar(s: dict[str, npt.NDArray], n_sites: int) -> tuple[npt.NDArray, npt.NDArray]:
    best: dict[int, int] = {}
    radius = _radius(s)
    edge = h3.average_hexagon_edge_length(RES, "m")
    for i in range(n_sites):
        la, ln = float(s["lat"][i]), float(s["lng"][i])
        own = h3.latlng_to_cell(la, ln, RES)
        k = int(np.ceil((radius[i] + edge) / (1.5 * edge * 0.9))) + 1
        for cell in h3.grid_disk(own, k):
            if (
                cell == own
                or h3.great_circle_distance((la, ln), h3.cell_to_latlng(cell), "m") <= radius[i]
            ):
                best[cell] = max(best.get(cell, -1), int(s["rank"][i]))
    cells = sorted(best)
    return np.array(cells, dtype=np.uint64), np.array([best[c] for c in cells], dtype=np.int8)


def _agreement(
    ours: tuple[npt.NDArray, npt.NDArray], other: tuple[npt.NDArray, npt.NDArray]
) -> str:
    a = dict(zip(ours[0].tolist(), ours[1].tolist(), strict=True))
    b = dict(zip(np.asarray(other[0]).tolist(), np.asarray(other[1]).tolist(), strict=True))
    same = sum(1 for c, r in a.items() if b.get(c) == r)
    return f"{same:,} of {len(a):,} ours / {len(b):,} theirs cells agree"


def main() -> None:
    try:
        import polars_h3 as plh3
    except ImportError as exc:  # bench extra not installed
        print(f"polars-h3 not available: {exc}")
        plh3 = None
    for n in (20_000, 100_000):
        s = make_sites(n)
        ours = _ours(s)
        print(f"\n{n:,} sites -> {ours[0].size:,} covered cells at res {RES}")
        timings = {"ours sites_to_cells": best_time(partial(_ours, s), repeat=2)}
        if plh3 is not None:
            print("  polars-h3 vs ours:", _agreement(ours, _polars_h3(s, plh3)))
            timings["polars-h3 grid_disk+haversine"] = best_time(
                partial(_polars_h3, s, plh3), repeat=2
            )
        sub = {k: v[:_SCALAR_SITES] for k, v in s.items()}
        scalar = _scalar(sub, _SCALAR_SITES)
        print(f"  h3-py loop vs ours on {_SCALAR_SITES} sites:", _agreement(_ours(sub), scalar))
        t0 = time.perf_counter()
        _scalar(s, _SCALAR_SITES)
        timings["h3-py loop (300 sites, extrap.)"] = (time.perf_counter() - t0) * n / _SCALAR_SITES
        report(f"sites -> covered cells (res {RES})", n, "sites", "ours sites_to_cells", timings)


if __name__ == "__main__":
    main()
