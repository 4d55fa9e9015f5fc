"""Polygons <-> H3 cells: which province holds each cell, and which cells fill each province.

Both use the cell *centre* (H3 v4 "centre" containment), so the two agree: a cell filled into a
polygon by :func:`polygons_to_cells` is assigned to it by :func:`assign_cells_to_polygons`.

:func:`assign_cells_to_polygons` never loses a cell: a centre inside (or on the border of) one or
more polygons goes to the lowest code among them; a centre outside every polygon (coast, islands,
the sea edge of a population grid) goes to the nearest polygon, flagged; only a centre farther than
``max_distance_deg`` from every polygon gets the code ``""``.

Examples
--------
>>> from geodata.reference import load_provinces
>>> provinces = load_provinces("34", simplified=True)
>>> cells, codes = polygons_to_cells(provinces.loc[["01"]], 7)
>>> got, nearest = assign_cells_to_polygons(cells, provinces)
>>> bool((got == codes).all()), bool(nearest.any())
(True, False)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from h3ronpy import ContainmentMode
from h3ronpy.vector import wkb_to_cells
from shapely import STRtree

from geodata.errors import CRSError, SchemaError
from geodata.kernels.cells import cells_to_latlng, cells_valid

__all__ = ["assign_cells_to_polygons", "polygons_to_cells"]

_FRAME = "<polygons GeoDataFrame>"


def assign_cells_to_polygons(
    cells: npt.ArrayLike,
    polygons: gpd.GeoDataFrame,
    *,
    code_column: str = "code",
    max_distance_deg: float | None = 0.5,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """Code of the polygon holding each cell's centre, else of the nearest polygon.

    Parameters
    ----------
    cells : H3 cells (uint64); 0 gets code ``""``
    polygons : (multi)polygons with a code column or index named ``code_column``; EPSG:4326, or
        any CRS set on the frame (reprojected)
    code_column : column (or index name) holding each polygon's code
    max_distance_deg : cells whose centre is farther than this (planar degrees) from every polygon
        get code ``""``; ``None``: no limit, every cell gets a code

    Returns
    -------
    codes : object array of str, one per cell (``""``: no polygon within ``max_distance_deg``)
    nearest : True where the centre lies outside every polygon and the nearest polygon was taken

    Notes
    -----
    A centre on a border shared by several polygons (or inside overlapping polygons) goes to the
    lowest code, so each cell gets exactly one. Distances to the nearest polygon are planar, in
    degrees of longitude/latitude; ties go to the lowest code too.

    Examples
    --------
    >>> import shapely
    >>> squares = gpd.GeoDataFrame(
    ...     {"code": ["b", "a"]},
    ...     geometry=[shapely.box(105, 20, 106, 21), shapely.box(106, 20, 107, 21)],
    ...     crs="EPSG:4326",
    ... )
    >>> from geodata.kernels.cells import latlng_to_cells
    >>> cells = latlng_to_cells([20.5, 20.5, 21.2], [105.5, 106.5, 105.5], 7)
    >>> codes, nearest = assign_cells_to_polygons(cells, squares)
    >>> codes.tolist(), nearest.tolist()
    (['b', 'a', 'b'], [False, False, True])
    """
    c = np.ascontiguousarray(cells, dtype=np.uint64)
    geoms, codes = _geometries_and_codes(polygons, code_column)
    out = np.full(c.shape, "", dtype=object)
    nearest = np.zeros(c.shape, dtype=np.bool_)
    live = np.flatnonzero(c != 0)
    if live.size == 0 or geoms.size == 0:
        return out, nearest
    if not cells_valid(c[live]).all():
        raise ValueError("cells holds values that are not valid H3 cell indexes")
    lat, lng = cells_to_latlng(c[live])
    # rank of each polygon's code: ties (shared borders, overlaps) go to the lowest code
    uniq_codes, code_rank = np.unique(codes, return_inverse=True)
    none = np.iinfo(np.int64).max
    best = np.full(live.size, none, dtype=np.int64)

    parts, owner = shapely.get_parts(geoms, return_index=True)
    shapely.prepare(parts)
    pt_i, part_i = STRtree(parts).query(shapely.points(lng, lat))  # bounding-box candidates
    inside = shapely.intersects_xy(parts[part_i], lng[pt_i], lat[pt_i])
    np.minimum.at(best, pt_i[inside], code_rank[owner[part_i[inside]]])

    outside = np.flatnonzero(best == none)
    if outside.size:
        seg, seg_owner = _boundary_segments(parts, owner)
        q_i, seg_i = STRtree(seg).query_nearest(
            shapely.points(lng[outside], lat[outside]),
            max_distance=max_distance_deg,
            all_matches=True,
        )
        found = np.full(outside.size, none, dtype=np.int64)
        np.minimum.at(found, q_i, code_rank[seg_owner[seg_i]])
        best[outside] = found
        nearest[live[outside[found != none]]] = True
    hit = best != none
    out[live[hit]] = uniq_codes[best[hit]]
    return out, nearest


def polygons_to_cells(
    polygons: gpd.GeoDataFrame, res: int, *, code_column: str = "code"
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.object_]]:
    """The cells whose centres lie in each polygon (H3 v4 centre containment), with its code.

    Uses h3ronpy's ``wkb_to_cells`` (ContainsCentroid), the fastest engine measured in
    ``bench/bench_polygons.py`` and the same cell set as h3-py's ``geo_to_cells``.

    Returns
    -------
    cells : uint64, sorted (a cell appears once per polygon holding its centre, so once for
        non-overlapping polygons)
    codes : object array of str, the code of the polygon of each cell

    Examples
    --------
    >>> from geodata.reference import load_provinces
    >>> cells, codes = polygons_to_cells(load_provinces("34", simplified=True), 6)
    >>> cells.size, len(set(codes))
    (8189, 34)
    """
    if not 0 <= int(res) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {res}")
    geoms, codes = _geometries_and_codes(polygons, code_column)
    if geoms.size == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=object)
    lists = pa.array(
        wkb_to_cells(pa.array(shapely.to_wkb(geoms)), int(res), ContainmentMode.ContainsCentroid)
    )
    cells = lists.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
    owner = np.repeat(np.arange(geoms.size), np.diff(lists.offsets.to_numpy()))
    order = np.argsort(cells, kind="stable")
    return cells[order], codes[owner[order]]


def _geometries_and_codes(
    polygons: gpd.GeoDataFrame, code_column: str
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Non-empty polygon geometries in EPSG:4326 and their codes as str."""
    if code_column in polygons.columns:
        raw = polygons[code_column]
    elif polygons.index.name == code_column:
        raw = polygons.index.to_series()
    else:
        raise SchemaError(_FRAME, "no code column or index", column=code_column)
    if raw.isna().any():
        row = int(np.flatnonzero(raw.isna().to_numpy())[0]) + 1
        raise SchemaError(_FRAME, "missing polygon code", row=row, column=code_column)
    if polygons.crs is not None and polygons.crs.to_epsg() != 4326:
        try:
            polygons = polygons.to_crs(4326)
        except Exception as exc:  # pyproj raises several types
            raise CRSError(_FRAME, f"cannot reproject from {polygons.crs} to EPSG:4326") from exc
    geoms = np.asarray(polygons.geometry.values, dtype=object)
    codes = raw.astype(str).to_numpy(dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kind = shapely.get_type_id(geoms)
    bad = (
        keep & (kind != shapely.GeometryType.POLYGON) & (kind != shapely.GeometryType.MULTIPOLYGON)
    )
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise SchemaError(_FRAME, "geometry is not a (multi)polygon", row=row, column="geometry")
    return geoms[keep], codes[keep]


def _boundary_segments(
    parts: npt.NDArray[np.object_], owner: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """Every ring edge of the polygon parts as a 2-point line, with its polygon index.

    Nearest-polygon search on short segments is much faster than on whole provinces (each
    distance is one segment's, not a whole coastline's), and equal for points outside.
    """
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring_i = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_i[1:] == ring_i[:-1]
    segments = shapely.linestrings(np.stack([xy[:-1][same_ring], xy[1:][same_ring]], axis=1))
    return segments, owner[ring_part[ring_i[:-1][same_ring]]]
