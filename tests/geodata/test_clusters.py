"""Gap clusters: flood-fill oracle, conservation, distances against h3, ranking, change over time."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import SchemaError
from geodata.indicators.clusters import (
    CHANGE_STATUSES,
    FIXED_GAP,
    MOBILE_GAP,
    GapRule,
    cluster_outlines,
    compare_clusters,
    find_gap_clusters,
    gap_mask,
)
from geodata.writers.geojson import geojson_bytes
from tests.geodata.rfc7946_check import assert_rfc7946

CENTRE = h3.latlng_to_cell(21.0285, 105.8542, 8)  # Hà Nội
DISK = sorted(h3.grid_disk(CENTRE, 6))  # 127 cells
DISK_INT = np.array([h3.str_to_int(c) for c in DISK], np.uint64)


def table(ranks, pop=None, codes=None, cells=DISK_INT) -> pd.DataFrame:
    n = len(cells)
    codes = ["01"] * n if codes is None else list(codes)
    return pd.DataFrame(
        {
            "cell": np.asarray(cells, np.uint64),
            "population": np.full(n, 10.0) if pop is None else np.asarray(pop, np.float64),
            "code_34": pd.array(codes, dtype="string"),
            "code_63": pd.array(codes, dtype="string"),
            "region_id": pd.array(["r" + c for c in codes], dtype="string"),
            "best_tech_rank": np.asarray(ranks, np.int8),
        }
    )


# --- slow, obvious oracles ----------------------------------------------------------------------


def flood_fill(gap: set[str]) -> list[frozenset[str]]:
    """Connected components by breadth-first search, one cell at a time."""
    seen: set[str] = set()
    out = []
    for start in sorted(gap):
        if start in seen:
            continue
        comp, todo = {start}, [start]
        seen.add(start)
        while todo:
            c = todo.pop()
            for nb in h3.grid_disk(c, 1):
                if nb in gap and nb not in seen:
                    seen.add(nb)
                    comp.add(nb)
                    todo.append(nb)
        out.append(frozenset(comp))
    return out


def partition(members: pd.DataFrame) -> set[frozenset[str]]:
    groups = members.groupby("cluster_id")["cell"].agg(list)
    return {frozenset(h3.int_to_str(int(c)) for c in cells) for cells in groups}


ranks_st = st.lists(st.sampled_from([-1, 0, 1, 2, 3, 4]), min_size=len(DISK), max_size=len(DISK))


# --- clusters ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(ranks=ranks_st, seed=st.integers(0, 2**32 - 1))
def test_clusters_equal_flood_fill(ranks, seed):
    rng = np.random.default_rng(seed)
    pop = rng.choice([0.0, 1.0, 5.5, 20.0], size=len(DISK))
    cl, members = find_gap_clusters(table(ranks, pop), MOBILE_GAP)
    r = np.asarray(ranks)
    gap = {c for c, k, p in zip(DISK, r, pop, strict=True) if 0 <= k < 3 and p > 0}
    assert partition(members) == set(flood_fill(gap))
    assert len(cl) == len(flood_fill(gap))
    # ids are the ranks 1..n, members use exactly those ids, sizes agree
    assert cl["cluster_id"].tolist() == list(range(1, len(cl) + 1))
    sizes = members.groupby("cluster_id").size()
    assert sizes.reindex(cl["cluster_id"]).tolist() == cl["n_cells"].tolist()


@settings(max_examples=40, deadline=None)
@given(ranks=ranks_st, seed=st.integers(0, 2**32 - 1))
def test_population_conserved_overall_and_per_province(ranks, seed):
    rng = np.random.default_rng(seed)
    pop = rng.uniform(0.0, 50.0, size=len(DISK)) * (rng.random(len(DISK)) < 0.9)
    gap_cells = {c for c, k, p in zip(DISK, ranks, pop, strict=True) if 0 <= k < 3 and p > 0}
    # give each true component one province, so a cluster's province is unambiguous
    codes = np.array(["79"] * len(DISK), dtype=object)
    where = {c: i for i, c in enumerate(DISK)}
    for comp in flood_fill(gap_cells):
        code = rng.choice(["01", "31", "79"])
        for c in comp:
            codes[where[c]] = code
    cells = table(ranks, pop, codes)
    cl, members = find_gap_clusters(cells, MOBILE_GAP)
    in_gap = gap_mask(cells, MOBILE_GAP)
    assert cl["population"].sum() == pytest.approx(cells.loc[in_gap, "population"].sum())
    assert members["population"].sum() == pytest.approx(cells.loc[in_gap, "population"].sum())
    want = cells.loc[in_gap].groupby("code_34")["population"].sum()
    got = cl.groupby("code_34")["population"].sum().reindex(want.index)
    np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float))
    # rank within province counts 1..k in national order
    for _, grp in cl.groupby("code_34"):
        assert grp["rank_within_province_34"].tolist() == list(range(1, len(grp) + 1))
        assert grp["rank"].is_monotonic_increasing


@settings(max_examples=40, deadline=None)
@given(ranks=ranks_st)
def test_distance_is_min_great_circle_and_grid_steps_match_h3(ranks):
    cl, members = find_gap_clusters(table(ranks), MOBILE_GAP)
    served = [c for c, k in zip(DISK, ranks, strict=True) if k >= 3]
    for row, (_, grp) in zip(
        cl.itertuples(), members.groupby("cluster_id", sort=True), strict=True
    ):
        gap = [h3.int_to_str(int(c)) for c in grp["cell"]]
        if not served:
            assert np.isnan(row.distance_km) and row.grid_steps == -1
            assert np.isnan(row.people_per_km)
            continue
        best = min(
            h3.great_circle_distance(h3.cell_to_latlng(g), h3.cell_to_latlng(s), unit="km")
            for g in gap
            for s in served
        )
        assert row.distance_km == pytest.approx(best, rel=1e-9, abs=1e-9)
        a, b = h3.int_to_str(int(row.nearest_gap_cell)), h3.int_to_str(int(row.nearest_served_cell))
        assert a in gap and b in served
        assert row.grid_steps == h3.grid_distance(a, b)
        assert row.grid_steps >= min(h3.grid_distance(g, s) for g in gap for s in served)
        assert row.people_per_km == pytest.approx(row.population / max(row.distance_km, 1.0))
        # population-weighted mean of each cell's own nearest distance (equal weights here)
        mean = np.mean(
            [
                min(
                    h3.great_circle_distance(h3.cell_to_latlng(g), h3.cell_to_latlng(s), unit="km")
                    for s in served
                )
                for g in gap
            ]
        )
        assert row.mean_distance_km == pytest.approx(mean, rel=1e-9)
        assert row.mean_distance_km >= row.distance_km - 1e-12


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_served_ring_at_k_steps(k):
    ring = set(h3.grid_ring(CENTRE, k))
    ranks = [0 if c == CENTRE else (4 if c in ring else -1) for c in DISK]
    cl, _ = find_gap_clusters(table(ranks), MOBILE_GAP)
    assert len(cl) == 1
    assert cl.loc[0, "grid_steps"] == k
    # res-8 centres are ~0.8 km apart: the distance grows with k
    assert 0.6 * k < cl.loc[0, "distance_km"] < 1.0 * k


def test_unknown_coverage_never_forms_a_gap():
    cl, members = find_gap_clusters(table([-1] * len(DISK)), MOBILE_GAP)
    assert cl.empty and members.empty
    assert {"cluster_id", "distance_km", "people_per_km", "rank"} <= set(cl.columns)
    ranks = np.where(np.arange(len(DISK)) % 2 == 0, -1, 0)
    _, members = find_gap_clusters(table(ranks), MOBILE_GAP)
    gap_cells = set(members["cell"].tolist())
    assert gap_cells == set(DISK_INT[ranks == 0].tolist())


def test_unpopulated_cells_are_not_gap():
    cl, _ = find_gap_clusters(table([0] * len(DISK), pop=np.zeros(len(DISK))), MOBILE_GAP)
    assert cl.empty


def test_fixed_rule_uses_measured_classes():
    classes = ["no_data", "unserved", "underserved", "served"]
    ranks = [4] * len(DISK)
    cells = table(ranks)
    cells["fixed_class"] = pd.array([classes[i % 4] for i in range(len(DISK))], dtype="string")
    cl, members = find_gap_clusters(cells, FIXED_GAP)
    want = set(cells.loc[cells["fixed_class"] == "unserved", "cell"].tolist())
    assert set(members["cell"].tolist()) == want
    assert (cl["distance_km"] > 0).all()
    assert cl.attrs["gap_rule"]["kind"] == "fixed"
    assert (cl["rule"] == FIXED_GAP.name).all()


def test_ties_ranked_deterministically():
    # two single-cell gaps, same people, both one step from coverage: lower cell id first
    a, b = DISK[10], DISK[100]
    ranks = [0 if c in (a, b) else 4 for c in DISK]
    cells = table(ranks)
    cl, _ = find_gap_clusters(cells, MOBILE_GAP)
    assert cl["people_per_km"].nunique() == 1
    assert cl["seed_cell"].tolist() == sorted([h3.str_to_int(a), h3.str_to_int(b)])
    shuffled = cells.sample(frac=1.0, random_state=3).reset_index(drop=True)
    cl2, m2 = find_gap_clusters(shuffled, MOBILE_GAP)
    pd.testing.assert_frame_equal(cl, cl2)


def test_score_prefers_people_per_km_then_people():
    rule = GapRule(name="test", kind="mobile", min_distance_km=1.0)
    far = set(h3.grid_disk(CENTRE, 2))  # 19 gap cells with coverage only beyond ring 2
    lone = DISK[0]  # an edge cell of the disk
    ranks = [
        0 if (c in far or c == lone) else (4 if h3.grid_distance(CENTRE, c) >= 3 else -1)
        for c in DISK
    ]
    pop = [1.0 if c == lone else 10.0 for c in DISK]
    cl, _ = find_gap_clusters(table(ranks, pop), rule)
    assert cl["people_per_km"].is_monotonic_decreasing
    big = cl.loc[cl["n_cells"] == 19].iloc[0]
    assert big["population"] == 190.0 and big["rank"] == 1


def test_majority_province_ties_go_to_lowest_code():
    a = CENTRE
    b = h3.grid_ring(CENTRE, 1)[0]
    cells = table(
        [0, 0], pop=[5.0, 5.0], codes=["79", "01"], cells=[h3.str_to_int(a), h3.str_to_int(b)]
    )
    across = GapRule(name="across provinces", kind="mobile", split_by_province=False)
    cl, _ = find_gap_clusters(cells, across)
    assert len(cl) == 1
    assert cl.loc[0, "code_34"] == "01" and cl.loc[0, "region_id"] == "r01"
    cells.loc[0, "population"] = 6.0
    cl, _ = find_gap_clusters(cells, across)
    assert cl.loc[0, "code_34"] == "79"
    # the default rule splits at the provincial border: one cluster per province
    cl, members = find_gap_clusters(cells, MOBILE_GAP)
    assert sorted(cl["code_34"]) == ["01", "79"] and members["cluster_id"].nunique() == 2


@settings(max_examples=40, deadline=None)
@given(ranks=ranks_st, seed=st.integers(0, 2**32 - 1))
def test_clusters_split_by_province_equal_flood_fill_per_province(ranks, seed):
    """Random provinces per cell (both versions): clusters are the flood fill of each
    province's gap cells, each cluster has one province, and provinces' gap people add up."""
    rng = np.random.default_rng(seed)
    pop = rng.choice([0.0, 2.0, 7.5], size=len(DISK))
    code34 = rng.choice(["01", "79"], size=len(DISK))
    code63 = np.where(rng.random(len(DISK)) < 0.3, "02", code34)
    cells = table(ranks, pop, code34)
    cells["code_63"] = pd.array(code63, dtype="string")
    cl, members = find_gap_clusters(cells, MOBILE_GAP)
    r = np.asarray(ranks)
    in_gap = (r >= 0) & (r < 3) & (pop > 0)
    want: set[frozenset[str]] = set()
    for key in set(zip(code34[in_gap], code63[in_gap], strict=True)):
        sel = in_gap & (code34 == key[0]) & (code63 == key[1])
        want |= set(flood_fill({c for c, s in zip(DISK, sel, strict=True) if s}))
    assert partition(members) == want
    got = cl.groupby("code_63")["population"].sum()
    expect = pd.Series(pop[in_gap]).groupby(code63[in_gap]).sum()
    np.testing.assert_allclose(got.reindex(expect.index).to_numpy(float), expect.to_numpy(float))


def test_bad_input_raises():
    with pytest.raises(SchemaError, match="best_tech_rank"):
        find_gap_clusters(table([0] * len(DISK)).drop(columns="best_tech_rank"), MOBILE_GAP)
    dup = table([0, 0], cells=[DISK_INT[0], DISK_INT[0]])
    with pytest.raises(SchemaError, match="more than once"):
        find_gap_clusters(dup, MOBILE_GAP)
    with pytest.raises(ValueError):
        GapRule(name="x", kind="mobile", min_distance_km=0.0)
    with pytest.raises(ValueError):
        GapRule(name="x", kind="satellite")  # type: ignore[arg-type]


# --- outlines ------------------------------------------------------------------------------------


def test_outlines_union_of_hexagons_rfc7946():
    ranks = [0 if h3.grid_distance(CENTRE, c) in (0, 1, 4) else 4 for c in DISK]
    cl, members = find_gap_clusters(table(ranks), MOBILE_GAP)
    gdf = cluster_outlines(members, cl)
    assert len(gdf) == len(cl) == 2
    assert gdf.crs.to_epsg() == 4326
    assert gdf["cluster_id"].tolist() == cl["cluster_id"].tolist()
    ring4 = gdf.loc[gdf["n_cells"] == 24].geometry.iloc[0]
    assert ring4.geom_type == "Polygon" and len(ring4.interiors) == 1  # a ring has a hole
    assert shapely.is_ccw(ring4.exterior) and not shapely.is_ccw(ring4.interiors[0])
    # the outline covers the cluster's cell centres
    for cid, grp in members.groupby("cluster_id"):
        shape = gdf.loc[gdf["cluster_id"] == cid].geometry.iloc[0]
        pts = [h3.cell_to_latlng(h3.int_to_str(int(c)))[::-1] for c in grp["cell"]]
        assert shapely.contains_xy(shape, *np.array(pts).T).all()
    assert isinstance(gdf.loc[0, "nearest_served_cell"], str)
    assert_rfc7946(geojson_bytes(gdf))


# --- change over time ---------------------------------------------------------------------------


def members_of(gap_cells: list[str]) -> pd.DataFrame:
    ranks = [0 if c in set(gap_cells) else 4 for c in DISK]
    return find_gap_clusters(table(ranks), MOBILE_GAP)[1]


def test_compare_closed_shrank_grew_unchanged_new():
    ring = lambda k: h3.grid_ring(CENTRE, k)  # noqa: E731
    edge = DISK[0]
    before = [CENTRE, *ring(1)] + ring(3)[:4] + ring(5)[:3] + [edge]
    after = [CENTRE] + ring(3)[:6] + ring(5)[:3] + ring(6)[10:12]
    prev, cur = members_of(before), members_of(after)
    ch = compare_clusters(prev, cur)
    assert set(ch["status"]) <= set(CHANGE_STATUSES)

    def status_of(cell: str) -> str:
        cid = prev.loc[prev["cell"] == h3.str_to_int(cell), "cluster_id"].iloc[0]
        return ch.loc[ch["cluster_id_previous"] == cid, "status"].iloc[0]

    assert status_of(CENTRE) == "shrank"  # 7 -> 1 cell
    assert status_of(ring(3)[0]) == "grew"  # 4 -> 6 cells
    assert status_of(ring(5)[0]) == "unchanged"
    assert status_of(edge) == "closed"  # a lone cell at the disk's edge, 6 steps out
    new = ch.loc[ch["status"] == "new"]
    assert new["n_cells_current"].sum() == len(set(ring(6)[10:12]) - set(before))
    assert new["cluster_id_previous"].isna().all()
    # every previous cluster once, every current cluster referenced as main or new
    assert ch["cluster_id_previous"].dropna().nunique() == prev["cluster_id"].nunique()
    assert ch.loc[ch["status"] == "closed", "n_cells_still_gap"].eq(0).all()
    assert ch["population_previous"].sum() == pytest.approx(prev["population"].sum())


def test_compare_shifted_and_identity():
    a = [CENTRE, h3.grid_ring(CENTRE, 1)[0]]
    b = [CENTRE, h3.grid_ring(CENTRE, 1)[1]]
    ch = compare_clusters(members_of(a), members_of(b))
    assert ch["status"].tolist() == ["shifted"]
    same = compare_clusters(members_of(a), members_of(a))
    assert same["status"].tolist() == ["unchanged"]
    closed = compare_clusters(members_of(a), members_of([]))
    assert closed["status"].tolist() == ["closed"]
    assert closed["cluster_id_current"].isna().all()
    fresh = compare_clusters(members_of([]), members_of(a))
    assert fresh["status"].tolist() == ["new"]


@settings(max_examples=15, deadline=None)
@given(ranks=ranks_st)
def test_outlines_equal_unary_union_of_hexagons(ranks):
    cl, members = find_gap_clusters(table(ranks), MOBILE_GAP)
    gdf = cluster_outlines(members, cl)
    assert len(gdf) == len(cl) and gdf.is_valid.all()
    for cid, grp in members.groupby("cluster_id"):
        hexes = [
            shapely.Polygon([p[::-1] for p in h3.cell_to_boundary(h3.int_to_str(int(c)))])
            for c in grp["cell"]
        ]
        want = shapely.union_all(hexes)
        got = gdf.loc[gdf["cluster_id"] == cid].geometry.iloc[0]
        assert shapely.symmetric_difference(got, want).area < 1e-12
