"""Polygons <-> H3 cells at resolution 8 on the shipped provinces: ours vs h3ronpy, polars-h3, h3-py,
shapely and geopandas.

1. polygons -> cells (centre containment) for the 34 provinces, full (88,523 vertices) and
   simplified: ours ``polygons_to_cells`` (h3ronpy ``wkb_to_cells`` inside, flattened to a sorted
   cell -> code table), h3ronpy ``wkb_to_cells`` bare (list array), polars-h3
   ``polygon_wkt_to_cells`` (WKT built outside the timed region) and h3-py ``geo_to_cells`` per
   polygon (integer API). Every engine's cell set is checked equal to h3-py's.
2. cells -> polygons: every populated res-8 cell of the WorldPop grid placed in its province
   (nearest province for coast and sea-edge cells): ours ``assign_cells_to_polygons``,
   shapely ``STRtree.query(points, predicate="intersects")`` + ``query_nearest`` on whole
   provinces, and geopandas ``sjoin`` + ``sjoin_nearest``. Codes checked equal to ours.

Run: ``.venv/bin/python -m bench bench_polygons``.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pyarrow as pa
import shapely
from h3ronpy import ContainmentMode
from h3ronpy.vector import wkb_to_cells
from shapely import STRtree

from bench.report import best_time, report
from geodata.kernels.cells import cells_to_latlng
from geodata.kernels.polygons import assign_cells_to_polygons, polygons_to_cells
from geodata.kernels.raster import raster_to_cells
from geodata.reference import load_provinces, population_raster_path

__all__ = ["main"]

RES = 8


def _h3ronpy(wkb: pa.Array) -> pa.Array:
    return pa.array(wkb_to_cells(wkb, RES, ContainmentMode.ContainsCentroid))


def _polars_h3(wkt: pl.DataFrame) -> pl.DataFrame:
    import polars_h3 as plh3

    return wkt.select(plh3.polygon_wkt_to_cells("wkt", RES).alias("cells"))


def _h3py(geoms: npt.NDArray[np.object_]) -> list[list[int]]:
    return [h3i.geo_to_cells(g, RES) for g in geoms]


def _bench_fill(label: str, provinces: gpd.GeoDataFrame) -> None:
    geoms = np.asarray(provinces.geometry.values)
    codes = provinces["code"].to_numpy()
    wkb = pa.array(shapely.to_wkb(geoms))
    expected = {c: set(cells) for c, cells in zip(codes, _h3py(geoms), strict=True)}
    cells, got_codes = polygons_to_cells(provinces, RES)
    assert {c: set(cells[got_codes == c].tolist()) for c in codes} == expected, "ours != h3-py"
    lists = _h3ronpy(wkb)
    assert all(set(lists[i].values.to_pylist()) == expected[c] for i, c in enumerate(codes))
    engines = {
        "ours polygons_to_cells (h3ronpy)": lambda: polygons_to_cells(provinces, RES),
        "h3ronpy wkb_to_cells (bare)": lambda: _h3ronpy(wkb),
        "h3-py geo_to_cells per polygon": lambda: _h3py(geoms),
    }
    try:
        wkt = pl.DataFrame({"wkt": shapely.to_wkt(geoms)})
        got = _polars_h3(wkt)["cells"].to_list()
        assert all(set(got[i]) == expected[c] for i, c in enumerate(codes)), "polars-h3 != h3-py"
        engines["polars-h3 polygon_wkt_to_cells"] = lambda: _polars_h3(wkt)
    except ImportError as exc:  # bench extra not installed
        print(f"polars-h3 not available: {exc}")
    n_vertices = int(shapely.get_num_coordinates(geoms).sum())
    timings = {name: best_time(fn) for name, fn in engines.items()}
    print(f"\n34 provinces {label}: {n_vertices:,} vertices, {cells.size:,} cells")
    report(
        f"polygons -> cells res {RES}, {label}", cells.size, "cells", next(iter(engines)), timings
    )


def _shapely_tree(
    cells: npt.NDArray[np.uint64], provinces: gpd.GeoDataFrame
) -> npt.NDArray[np.object_]:
    lat, lng = cells_to_latlng(cells)
    pts = shapely.points(lng, lat)
    geoms = np.asarray(provinces.geometry.values)
    codes = provinces["code"].to_numpy().astype(object)
    tree = STRtree(geoms)
    pi, gi = tree.query(pts, predicate="intersects")
    order = np.lexsort((codes[gi], pi))  # lowest code first on shared borders
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    out = np.full(cells.size, "", dtype=object)
    out[pi[first]] = codes[gi[first]]
    miss = np.flatnonzero(out == "")
    qi, ni = tree.query_nearest(pts[miss], max_distance=0.5)
    out[miss[qi]] = codes[ni]
    return out


def _geopandas(cells: npt.NDArray[np.uint64], provinces: gpd.GeoDataFrame) -> npt.NDArray:
    lat, lng = cells_to_latlng(cells)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lng, lat), crs=4326)
    poly = provinces[["code", "geometry"]].reset_index(drop=True)
    hit = gpd.sjoin(pts, poly, predicate="intersects", how="inner")
    hit = hit.sort_values("code").loc[lambda d: ~d.index.duplicated()]
    out = pd.Series("", index=pts.index, dtype=object)
    out[hit.index] = hit["code"]
    miss = pts.loc[out == ""]
    with warnings.catch_warnings():  # planar degrees, as ours: the same answer is wanted
        warnings.simplefilter("ignore", UserWarning)
        near = gpd.sjoin_nearest(miss, poly, max_distance=0.5)
    near = near.sort_values("code").loc[lambda d: ~d.index.duplicated()]
    out[near.index] = near["code"]
    return out.to_numpy()


def _bench_assign(label: str, cells: npt.NDArray[np.uint64], provinces: gpd.GeoDataFrame) -> None:
    ours, nearest = assign_cells_to_polygons(cells, provinces)
    engines = {
        "ours assign_cells_to_polygons": lambda: assign_cells_to_polygons(cells, provinces),
        "shapely STRtree whole provinces": lambda: _shapely_tree(cells, provinces),
        "geopandas sjoin + sjoin_nearest": lambda: _geopandas(cells, provinces),
    }
    for name in list(engines)[1:]:
        other = engines[name]()
        share = float(np.mean(other == ours))
        print(f"  {name}: same code as ours for {share:.6%} of cells")
    timings = {name: best_time(fn, repeat=2) for name, fn in engines.items()}
    print(
        f"\n{cells.size:,} populated cells, {int(nearest.sum()):,} placed in the nearest province"
    )
    report(f"cells -> 34 provinces ({label})", cells.size, "cells", next(iter(engines)), timings)


def main() -> None:
    full = load_provinces("34")
    simplified = load_provinces("34", simplified=True)
    _bench_fill("simplified", simplified)
    _bench_fill("full", full)
    rc = raster_to_cells(population_raster_path(), RES)
    cells = rc.cells[rc.values > 0]
    print()
    _bench_assign("simplified", cells, simplified)
    _bench_assign("full", cells, full)


if __name__ == "__main__":
    main()
