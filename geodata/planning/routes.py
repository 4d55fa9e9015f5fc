"""Where the next fibre runs go: gap areas split into units a project can tender, each connected to
the served network along the roads, units chained where that is cheaper, ranked by people per km.

**Units.** The fixed gap cells (populated res-8 cells whose measured fixed broadband is below the
unserved threshold, :data:`geodata.indicators.clusters.FIXED_GAP`) are grouped by their res-6
parent (~36 km²) *within one province* (34-province code), so a unit is one tender in one
province. A unit is reported at its population-weighted centre, and connects to the network at
its cell that is cheapest to reach (the fibre inside the unit, to its other cells, is not part of
the plan's km).

**Reaching the network.** The road graph is built once from the shipped national and provincial
roads: every vertex a node, every segment an edge of its great-circle length, and each line's
ends joined to the nearest vertex of another line within :data:`JOIN_KM` (the file's lines are
not noded at junctions). Served cells (fixed class served or underserved) enter the graph at
their nearest road vertex; one multi-source Dijkstra (``scipy.sparse.csgraph``) gives every
vertex its fibre distance to the network. A unit reaches the network either along the roads
(straight from a cell to its nearest vertex, then the road path) or straight to the nearest
served cell, whichever is shorter, from whichever of its cells is cheapest; every straight stretch is multiplied by the stated detour
factor (:class:`~geodata.planning.costs.PlanCosts`).

**Chaining.** As in the ITU/Giga connectivity models, units are then joined by a minimum
spanning tree over the network (one node) and the units, with the unit -> network costs above
and unit -> unit edges between each unit and its nearest neighbours (straight x detour): a unit
next to another one is fed from it when that is cheaper than its own route to the network.
Each unit's new fibre is its tree edge towards the network.

**Order.** A unit can be built once the unit feeding it is; among those that can, the one with
the most people per km of its own fibre goes first (a heap over units, not over cells). The
cumulative people, km and cost give the fixed cost curve.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geodata.indicators.clusters import FIXED_GAP, gap_mask, served_mask
from geodata.kernels.cells import cell_to_parent, cells_to_latlng
from geodata.kernels.sphere import chord_to_km, great_circle_km, km_to_chord, unit_vectors
from geodata.planning.costs import DEFAULT_COSTS, PlanCosts

__all__ = [
    "JOIN_KM",
    "UNIT_RES",
    "NEIGHBOURS",
    "RoadGraph",
    "RoutePlan",
    "build_road_graph",
    "national_road_graph",
    "fibre_units",
    "plan_routes",
]

#: Line ends within this distance (km) of another line's vertex are joined to it.
JOIN_KM = 0.5
#: H3 resolution of the tender units (res 6: ~36 km²).
UNIT_RES = 6
#: Unit -> unit candidate edges of the spanning tree: each unit and its nearest neighbours.
NEIGHBOURS = 6


@dataclass(frozen=True)
class RoadGraph:
    """Road vertices (``lat, lng``) and a symmetric CSR matrix of edge lengths in km."""

    lat: npt.NDArray[np.float64]
    lng: npt.NDArray[np.float64]
    edges: sparse.csr_matrix
    tree: cKDTree

    def nearest(self, lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Nearest vertex of each point and the great-circle km to it."""
        chord, idx = self.tree.query(unit_vectors(lat, lng))
        return np.asarray(idx, dtype=np.int64), chord_to_km(chord)


def build_road_graph(lines: npt.ArrayLike, join_km: float = JOIN_KM) -> RoadGraph:
    """The road graph of (Multi)LineStrings in lon/lat (see the module docstring)."""
    parts = shapely.get_parts(np.asarray(lines, dtype=object))
    parts = parts[~shapely.is_empty(parts)]
    coords, line_of = shapely.get_coordinates(parts, return_index=True)
    # one node per distinct vertex (1e-6 degrees ~ 0.1 m)
    keys = np.round(coords, 6)
    uniq, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    same_line = line_of[1:] == line_of[:-1]
    a, b = node[:-1][same_line], node[1:][same_line]
    lat, lng = uniq[:, 1], uniq[:, 0]
    keep = a != b
    a, b = a[keep], b[keep]
    w = great_circle_km(lat[a], lng[a], lat[b], lng[b])
    # join each line end to the nearest vertex of another line
    first = np.r_[0, np.flatnonzero(~same_line) + 1]
    last = np.r_[np.flatnonzero(~same_line), node.size - 1]
    ends = np.r_[first, last]
    tree = cKDTree(unit_vectors(lat, lng))
    xyz_all = unit_vectors(lat, lng)
    ja, jb, jw = [], [], []
    node_line = np.full(uniq.shape[0], -1, dtype=np.int64)
    node_line[node] = line_of  # a vertex shared by lines keeps one of them: fine for joins
    chord_max = float(km_to_chord(join_km))
    for e in ends.tolist():  # one query per line end (~2 x lines), never per vertex
        n = node[e]
        near = tree.query_ball_point(xyz_all[n], chord_max)
        near = [m for m in near if node_line[m] != line_of[e] and m != n]
        if near:
            d = chord_to_km(np.linalg.norm(xyz_all[near] - xyz_all[n], axis=1))
            j = int(np.argmin(d))
            ja.append(n)
            jb.append(near[j])
            jw.append(float(d[j]))
    a = np.r_[a, np.asarray(ja, dtype=np.int64)]
    b = np.r_[b, np.asarray(jb, dtype=np.int64)]
    w = np.r_[w, np.asarray(jw, dtype=float)]
    w = np.maximum(w, 1e-9)  # a zero entry would read as "no edge"
    n_nodes = uniq.shape[0]
    # parallel edges (a segment drawn twice, a join beside a segment): keep the shortest
    coo = sparse.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n_nodes, n_nodes))
    order = np.lexsort((coo.data, coo.col, coo.row))
    r, c, d = coo.row[order], coo.col[order], coo.data[order]
    firsts = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    m = sparse.csr_matrix((d[firsts], (r[firsts], c[firsts])), shape=(n_nodes, n_nodes))
    return RoadGraph(lat, lng, m, tree)


@lru_cache(maxsize=1)
def national_road_graph() -> RoadGraph:
    """The road graph of the shipped national and provincial roads (built once per process)."""
    from geodata.reference import load_roads

    return build_road_graph(load_roads().geometry.to_numpy())


def fibre_units(cells: pd.DataFrame, unit_res: int = UNIT_RES) -> pd.DataFrame:
    """The fixed gap cells grouped into tender units: res-``unit_res`` parent within one
    34-province code. Columns ``unit, parent, code_34, code_63, people, cells, lat, lng``
    (population-weighted centre; ``code_63`` is the unit's most populated cell's)."""
    gap = cells.loc[gap_mask(cells, FIXED_GAP)]
    if gap.empty:
        return pd.DataFrame(
            columns=["unit", "parent", "code_34", "code_63", "people", "cells", "lat", "lng"]
        )
    c = gap["cell"].to_numpy(np.uint64)
    lat, lng = cells_to_latlng(c)
    pop = gap["population"].to_numpy(float)
    df = pd.DataFrame(
        {
            "parent": cell_to_parent(c, unit_res),
            "code_34": gap["code_34"].astype(str).to_numpy(),
            "code_63": gap["code_63"].astype(str).to_numpy(),
            "people": pop,
            "wlat": lat * pop,
            "wlng": lng * pop,
        }
    )
    top63 = df.sort_values("people", ascending=False, kind="stable").drop_duplicates(
        ["parent", "code_34"]
    )[["parent", "code_34", "code_63"]]
    g = df.groupby(["parent", "code_34"], sort=True, observed=True).agg(
        people=("people", "sum"),
        cells=("people", "size"),
        wlat=("wlat", "sum"),
        wlng=("wlng", "sum"),
    )
    g = g.reset_index().merge(top63, on=["parent", "code_34"], how="left")
    g["lat"] = g["wlat"] / g["people"]
    g["lng"] = g["wlng"] / g["people"]
    g = g.drop(columns=["wlat", "wlng"])
    g.insert(0, "unit", np.arange(len(g), dtype=np.int64))
    key = pd.MultiIndex.from_frame(g[["parent", "code_34"]])
    member_unit = key.get_indexer(pd.MultiIndex.from_frame(df[["parent", "code_34"]]))
    g.attrs["members"] = pd.DataFrame({"unit": member_unit, "lat": lat, "lng": lng})
    return g


@dataclass
class RoutePlan:
    """Ranked fibre units: ``routes`` (one row per unit, build order) and each route's line."""

    routes: pd.DataFrame
    lines: npt.NDArray[np.object_]
    costs: PlanCosts


def _network_access(
    graph: RoadGraph,
    served_lat: np.ndarray,
    served_lng: np.ndarray,
    detour: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fibre km from every road vertex to the served network, the Dijkstra predecessors, and
    for each vertex the served cell its path starts from (multi-source via a virtual node)."""
    n = graph.lat.size
    node, km = graph.nearest(served_lat, served_lng)
    best = pd.DataFrame({"node": node, "km": km * detour, "cell": np.arange(node.size)})
    best = best.sort_values(["node", "km"], kind="stable").drop_duplicates("node")
    src = n  # the virtual source: the network
    rows = np.r_[np.full(len(best), src), best["node"].to_numpy()]
    cols = np.r_[best["node"].to_numpy(), np.full(len(best), src)]
    w = np.maximum(np.r_[best["km"].to_numpy(), best["km"].to_numpy()], 1e-9)
    extra = sparse.csr_matrix((w, (rows, cols)), shape=(n + 1, n + 1))
    full = sparse.bmat([[graph.edges, None], [None, sparse.csr_matrix((1, 1))]], format="csr")
    full = full + extra
    dist, pred = csgraph.dijkstra(full, directed=False, indices=src, return_predecessors=True)
    entry = np.full(n + 1, -1, dtype=np.int64)
    entry[best["node"].to_numpy()] = best["cell"].to_numpy()
    return dist[:n], pred, entry


def plan_routes(
    cells: pd.DataFrame,
    graph: RoadGraph,
    *,
    costs: PlanCosts = DEFAULT_COSTS,
    neighbours: int = NEIGHBOURS,
) -> RoutePlan:
    """Rank the fixed units by people per km of new fibre (see the module docstring)."""
    units = fibre_units(cells)
    detour = costs.fibre_detour_factor
    served = cells.loc[served_mask(cells, FIXED_GAP)]
    m = len(units)
    if m == 0 or served.empty:  # nothing to connect (or nothing to connect to): no route,
        # with every column a plan has, so the writers publish empty tables, not a KeyError
        empty = units.iloc[:0].assign(
            rank=pd.Series(dtype=np.int64),
            km=pd.Series(dtype=np.float64),
            people_per_km=pd.Series(dtype=np.float64),
            fed_from=pd.Series(dtype=np.int64),
            route=pd.Series(dtype=object),
            cost=pd.Series(dtype=np.float64),
            people_cumulative=pd.Series(dtype=np.float64),
            km_cumulative=pd.Series(dtype=np.float64),
            cost_cumulative=pd.Series(dtype=np.float64),
        )
        return RoutePlan(empty, np.zeros(0, dtype=object), costs)
    s_lat, s_lng = cells_to_latlng(served["cell"].to_numpy(np.uint64))
    u_lat, u_lng = units["lat"].to_numpy(), units["lng"].to_numpy()
    # every gap cell's way to the network: straight to the nearest served cell, or straight to
    # its nearest road vertex and then along the roads; a unit connects at its cheapest cell
    members = units.attrs["members"]
    c_lat, c_lng = members["lat"].to_numpy(), members["lng"].to_numpy()
    s_tree = cKDTree(unit_vectors(s_lat, s_lng))
    chord, c_served = s_tree.query(unit_vectors(c_lat, c_lng))
    c_straight = chord_to_km(chord) * detour
    road_km, pred, entry = _network_access(graph, s_lat, s_lng, detour)
    c_node, c_snap = graph.nearest(c_lat, c_lng)
    c_road = road_km[c_node] + c_snap * detour
    c_access = np.minimum(c_straight, c_road)
    best = (
        pd.DataFrame({"unit": members["unit"].to_numpy(), "access": c_access})
        .sort_values(["unit", "access"], kind="stable")
        .drop_duplicates("unit")
    )
    at = np.empty(m, dtype=np.int64)
    at[best["unit"].to_numpy()] = best.index.to_numpy()  # member row where each unit connects
    to_net = c_access[at]
    by_road = c_road[at] < c_straight[at]
    u_node, s_idx = c_node[at], c_served[at]
    a_lat, a_lng = c_lat[at], c_lng[at]
    # minimum spanning tree over network (node 0) and units (1..m)
    k = min(neighbours, m - 1)
    rows, cols, w = [np.zeros(m, np.int64)], [np.arange(1, m + 1)], [to_net]
    if k > 0:
        u_tree = cKDTree(unit_vectors(u_lat, u_lng))
        chord_u, nn = u_tree.query(unit_vectors(u_lat, u_lng), k=k + 1)
        a = np.repeat(np.arange(m), k)
        b = nn[:, 1:].ravel()
        rows.append(a + 1)
        cols.append(b + 1)
        w.append(chord_to_km(chord_u[:, 1:].ravel()) * detour)
    r, c, d = np.concatenate(rows), np.concatenate(cols), np.maximum(np.concatenate(w), 1e-9)
    g = sparse.coo_matrix((d, (r, c)), shape=(m + 1, m + 1)).tocsr()
    g = g.maximum(g.T)  # symmetric; keep one weight per pair
    tree = csgraph.minimum_spanning_tree(g)
    tree = tree + tree.T
    order, parent = csgraph.breadth_first_order(tree, 0, directed=False, return_predecessors=True)
    parent_unit = parent[1:] - 1  # -1: fed from the network
    edge_km = np.asarray(tree[np.arange(1, m + 1), parent[1:]]).ravel()
    # build order: a unit once its feeder is built, most people per km first
    people = units["people"].to_numpy()
    ppk = people / np.maximum(edge_km, 1e-9)
    children: dict[int, list[int]] = {}
    for u, p in enumerate(parent_unit.tolist()):
        children.setdefault(p, []).append(u)
    heap = [(-ppk[u], int(units["parent"].iloc[u]), u) for u in children.get(-1, [])]
    heapq.heapify(heap)
    built: list[int] = []
    while heap:  # one step per unit
        _, _, u = heapq.heappop(heap)
        built.append(u)
        for ch in children.get(u, []):
            heapq.heappush(heap, (-ppk[ch], int(units["parent"].iloc[ch]), ch))
    rank_of = np.empty(m, dtype=np.int64)
    rank_of[np.asarray(built)] = np.arange(1, len(built) + 1)
    lines = np.empty(m, dtype=object)
    for u in range(m):  # geometry of each route: one per unit
        p = parent_unit[u]
        if p >= 0:
            lines[u] = shapely.LineString([(u_lng[u], u_lat[u]), (u_lng[p], u_lat[p])])
        elif by_road[u]:
            path = [(a_lng[u], a_lat[u])]
            v = int(u_node[u])
            n = graph.lat.size
            while 0 <= v < n:
                path.append((graph.lng[v], graph.lat[v]))
                nxt = int(pred[v])
                if nxt == n:  # reached the virtual source: enter at the served cell
                    cell = entry[v]
                    path.append((s_lng[cell], s_lat[cell]))
                    break
                v = nxt
            lines[u] = shapely.LineString(path)
        else:
            j = int(s_idx[u])
            lines[u] = shapely.LineString([(a_lng[u], a_lat[u]), (s_lng[j], s_lat[j])])
    routes = units.copy()
    routes["rank"] = rank_of
    routes["km"] = edge_km
    routes["people_per_km"] = ppk
    routes["fed_from"] = np.where(parent_unit >= 0, rank_of[np.maximum(parent_unit, 0)], 0)
    routes["route"] = np.where(parent_unit >= 0, "from unit", np.where(by_road, "road", "straight"))
    routes["cost"] = edge_km * costs.fibre_cost_usd_per_km
    routes = routes.sort_values("rank", kind="stable")
    lines = lines[routes.index.to_numpy()]
    routes = routes.reset_index(drop=True)
    routes["people_cumulative"] = routes["people"].cumsum()
    routes["km_cumulative"] = routes["km"].cumsum()
    routes["cost_cumulative"] = routes["cost"].cumsum()
    return RoutePlan(routes, lines, costs)
