"""The fixed plan: the road graph's distances agree with a plain Dijkstra on a small hand-made
road network, a unit's fibre follows the road when that is shorter, and a unit beyond another one
is fed from it (minimum spanning tree), built after it."""

from __future__ import annotations

import heapq

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csgraph

from geodata.planning.costs import DEFAULT_COSTS
from geodata.planning.routes import build_road_graph, fibre_units, plan_routes
from geodata.publishing.plans import ROUTE_COLUMNS, label_routes, route_curve, write_route_plan

A = [(105.00, 21.00), (105.05, 21.00), (105.10, 21.00)]
B = [(105.10, 21.00), (105.10, 21.05), (105.10, 21.10)]
C = [(105.05, 21.003), (105.05, 21.08)]  # starts 0.33 km from A's middle vertex: joined
D = [(105.10, 21.10), (105.00, 21.10)]
LINES = [shapely.LineString(x) for x in (A, B, C, D)]


def _km(p, q) -> float:
    return h3.great_circle_distance((p[1], p[0]), (q[1], q[0]), unit="km")


def _plain_dijkstra(source):
    """Dijkstra with a heap over edges written out by hand: segments, plus the one join."""
    edges: dict[tuple, list[tuple[tuple, float]]] = {}

    def add(p, q):
        edges.setdefault(p, []).append((q, _km(p, q)))
        edges.setdefault(q, []).append((p, _km(p, q)))

    for line in (A, B, C, D):
        for p, q in zip(line[:-1], line[1:], strict=True):
            add(p, q)
    add(C[0], A[1])
    dist = {source: 0.0}
    heap = [(0.0, source)]
    while heap:
        d, p = heapq.heappop(heap)
        if d > dist.get(p, np.inf):
            continue
        for q, w in edges.get(p, []):
            if d + w < dist.get(q, np.inf):
                dist[q] = d + w
                heapq.heappush(heap, (d + w, q))
    return dist


def test_road_graph_distances_equal_a_plain_dijkstra():
    g = build_road_graph(LINES)
    coords = {
        (round(x, 6), round(y, 6)): i for i, (x, y) in enumerate(zip(g.lng, g.lat, strict=True))
    }
    assert len(coords) == 8  # A 3, B 2 more, C 2, D 1 more: shared vertices once
    want = _plain_dijkstra(A[0])
    got = csgraph.dijkstra(g.edges, directed=False, indices=coords[A[0]])
    for p, d in want.items():
        assert got[coords[p]] == pytest.approx(d, rel=1e-9), p
    assert len(want) == 8  # every vertex reachable: the join connects C


def _cells(points) -> pd.DataFrame:
    rows = []
    for lng, lat, pop, cls in points:
        rows.append(
            {
                "cell": np.uint64(h3.str_to_int(h3.latlng_to_cell(lat, lng, 8))),
                "population": float(pop),
                "fixed_class": cls,
                "code_34": "01",
                "code_63": "01",
            }
        )
    return pd.DataFrame(rows)


def _centre(cell) -> tuple[float, float]:
    lat, lng = h3.cell_to_latlng(h3.int_to_str(int(cell)))
    return (lng, lat)


def test_a_unit_is_connected_along_the_road_when_that_is_shorter():
    cells = _cells([(105.10, 21.00, 50, "served"), (105.10, 21.10, 100, "unserved")])
    g = build_road_graph(LINES)
    plan = plan_routes(cells, g)
    (row,) = plan.routes.itertuples()
    assert row.route == "road"
    served, gap = _centre(cells["cell"][0]), _centre(cells["cell"][1])
    f = DEFAULT_COSTS.fibre_detour_factor
    want = f * _km(served, B[0]) + _plain_dijkstra(B[0])[B[-1]] + f * _km(gap, B[-1])
    assert row.km == pytest.approx(want, rel=1e-9)
    assert row.km < f * _km(served, gap)  # cheaper than straight
    line = plan.lines[0]
    assert shapely.get_num_coordinates(line) >= 4  # anchor, road vertices, served cell
    assert row.cost == pytest.approx(row.km * DEFAULT_COSTS.fibre_cost_usd_per_km)


def test_a_unit_beyond_another_is_fed_from_it_and_built_after_it():
    pts = [(105.10, 21.00, 50, "served"), (105.10, 21.10, 100, "unserved"),
           (105.16, 21.14, 80, "unserved")]  # fmt: skip
    cells = _cells(pts)
    parents = {h3.cell_to_parent(h3.int_to_str(int(c)), 6) for c in cells["cell"][1:]}
    assert len(parents) == 2  # two tender units
    plan = plan_routes(cells, build_road_graph(LINES))
    r = plan.routes.set_index(plan.routes["people"].round().astype(int))
    near, far = r.loc[100], r.loc[80]
    assert far["route"] == "from unit" and far["fed_from"] == near["rank"]
    assert near["rank"] < far["rank"]
    f = DEFAULT_COSTS.fibre_detour_factor
    want = f * _km((near["lng"], near["lat"]), (far["lng"], far["lat"]))
    assert far["km"] == pytest.approx(want, rel=1e-9)
    assert (np.diff(plan.routes["people_cumulative"]) > 0).all()


def test_units_hold_every_gap_person_within_one_province():
    cells = _cells([(105.10, 21.00, 50, "served"), (105.10, 21.10, 100, "unserved"),
                    (105.101, 21.101, 7, "unserved"), (105.16, 21.14, 80, "unserved")])  # fmt: skip
    cells.loc[3, "code_34"] = "02"
    units = fibre_units(cells)
    assert units["people"].sum() == pytest.approx(187.0)
    assert units.groupby(["parent", "code_34"]).size().max() == 1


def test_published_routes_on_the_national_roads(tmp_path):
    from geodata.planning.routes import national_road_graph

    rng = np.random.default_rng(3)
    lat = rng.uniform(20.8, 21.3, 400)
    lng = rng.uniform(105.5, 106.2, 400)
    cls = np.where(rng.random(400) < 0.3, "unserved", "served")
    cells = _cells(list(zip(lng, lat, rng.uniform(10, 500, 400), cls, strict=True)))
    cells = cells.drop_duplicates("cell")
    plan = plan_routes(cells, national_road_graph())
    labelled, listing = write_route_plan(plan, "2026Q3", tmp_path, {"synthetic": True})
    assert list(labelled.columns) == list(ROUTE_COLUMNS)
    assert labelled["rank"].tolist() == list(range(1, len(labelled) + 1))
    assert (labelled["place"] != "").all() and (labelled["province_34_name"] != "").all()
    fed = labelled["fed_from"].to_numpy()
    assert (fed < labelled["rank"].to_numpy()).all()  # a feeder is always built first
    curve = route_curve(labelled)
    nation = curve[curve["scope"] == "nation"]
    assert nation["share"].iloc[-1] == pytest.approx(1.0)  # every unit is in the plan
    gj = gpd.read_file(tmp_path / "priorities" / "fixed_routes_2026Q3.geojson")
    assert len(gj) == len(labelled) and (gj.geom_type == "LineString").all()
    assert set(listing.loc[listing["scope"] == "province", "version"]) == {"34", "63"}
    assert label_routes(plan)["h3_res6"].tolist() == labelled["h3_res6"].tolist()


@pytest.mark.parametrize(
    "points",
    [
        [(105.10, 21.00, 50, "served"), (105.20, 21.00, 80, "underserved")],  # no fixed gap
        [(105.10, 21.10, 100, "unserved")],  # a gap, but no served network to connect to
    ],
)
def test_a_plan_with_no_route_publishes_empty_tables(points):
    """A province (or a whole input) with no fixed gap: empty tables, never a KeyError."""
    plan = plan_routes(_cells(points), build_road_graph(LINES))
    labelled = label_routes(plan)
    assert list(labelled.columns) == list(ROUTE_COLUMNS) and labelled.empty
    assert route_curve(labelled) is not None
