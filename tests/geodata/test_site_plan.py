"""The mobile site plan: the lazy greedy equals a brute-force greedy computed with h3's scalar API,
stays within 1 - 1/e of the exact optimum, counts people independently right, and publishes
what a planner needs."""

from __future__ import annotations

import itertools
import math

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.planning.costs import PlanCosts
from geodata.planning.sites import mobile_targets, plan_sites
from geodata.publishing.plans import (
    SITE_COLUMNS,
    cost_curve,
    label_sites,
    write_cost_curve,
    write_site_plan,
)

RES = 8
COSTS = PlanCosts(site_radius_km=1.5)
ORIGIN = h3.latlng_to_cell(21.0, 105.8, RES)


def _targets(offsets: list[int], people: list[int]) -> tuple[np.ndarray, np.ndarray]:
    ring = sorted(h3.grid_disk(ORIGIN, 4))
    cells = [ring[i % len(ring)] for i in offsets]
    seen: dict[str, int] = {}
    for c, p in zip(cells, people, strict=False):
        seen.setdefault(c, p)
    return (
        np.array([h3.str_to_int(c) for c in seen], dtype=np.uint64),
        np.array(list(seen.values()), dtype=np.float64),
    )


def _within(a: str, b: str, km: float) -> bool:
    return h3.great_circle_distance(h3.cell_to_latlng(a), h3.cell_to_latlng(b), unit="km") <= km


def _reach(targets: np.ndarray, km: float) -> dict[int, set[int]]:
    """Candidate cell -> indices of the targets it reaches, with h3's scalar API only."""
    strs = [h3.int_to_str(int(t)) for t in targets]
    reach: dict[int, set[int]] = {}
    for i, t in enumerate(strs):
        for c in h3.grid_disk(t, 6):
            if _within(c, t, km):
                reach.setdefault(h3.str_to_int(c), set()).add(i)
    return reach


def _brute_greedy(targets, people, km, n):
    reach = _reach(targets, km)
    left = dict(enumerate(people.tolist()))
    picked = []
    for _ in range(n):
        gains = {c: sum(left[i] for i in r) for c, r in reach.items()}
        best = max(gains.values())
        if best <= 0:
            break
        cell = min(c for c, g in gains.items() if g == best)
        picked.append((cell, best))
        for i in reach[cell]:
            left[i] = 0
    return picked


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 60), min_size=1, max_size=25),
    people=st.lists(st.integers(0, 3), min_size=25, max_size=25),  # small values: many ties
    n=st.integers(1, 8),
)
def test_lazy_greedy_is_the_brute_force_greedy(offsets, people, n):
    targets, pop = _targets(offsets, people)
    plan = plan_sites(targets, pop, n_sites=n, costs=COSTS)
    want = _brute_greedy(targets, pop, COSTS.site_radius_km, n)
    got = list(
        zip(plan.sites["cell"].astype(int).tolist(), plan.sites["people_new"].tolist(), strict=True)
    )
    assert got == [(c, float(g)) for c, g in want]


@settings(max_examples=15, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 60), min_size=3, max_size=10),
    people=st.lists(st.integers(1, 50), min_size=10, max_size=10),
    n=st.integers(1, 3),
)
def test_greedy_is_within_1_minus_1_over_e_of_the_optimum(offsets, people, n):
    targets, pop = _targets(offsets, people)
    reach = _reach(targets, COSTS.site_radius_km)
    best = 0.0
    for combo in itertools.combinations(reach, min(n, len(reach))):
        covered = set().union(*(reach[c] for c in combo))
        best = max(best, float(pop[list(covered)].sum()))
    plan = plan_sites(targets, pop, n_sites=n, costs=COSTS)
    assert plan.people_reached >= (1 - 1 / math.e) * best - 1e-9
    assert plan.people_reached <= best + 1e-9


@pytest.fixture(scope="module")
def national_like():
    """A few thousand targets over a province-sized area, people skewed like real settlements."""
    rng = np.random.default_rng(7)
    lat = rng.uniform(20.6, 21.4, 6000)
    lng = rng.uniform(105.3, 106.3, 6000)
    cells = np.unique(
        np.array(
            [h3.str_to_int(h3.latlng_to_cell(a, b, RES)) for a, b in zip(lat, lng, strict=True)]
        )
    ).astype(np.uint64)
    people = np.round(rng.pareto(1.5, cells.size) * 50.0, 3)
    return cells, people


def test_each_site_counts_exactly_the_new_people_within_its_radius(national_like):
    targets, people = national_like
    plan = plan_sites(targets, people, n_sites=40, costs=COSTS)
    strs = [h3.int_to_str(int(t)) for t in targets]
    reached = np.zeros(targets.size, dtype=bool)
    for site, new in zip(
        plan.sites["cell"].tolist(), plan.sites["people_new"].tolist(), strict=True
    ):
        s = h3.int_to_str(int(site))
        near = np.array([_within(s, t, COSTS.site_radius_km) for t in strs])
        fresh = near & ~reached
        assert new == pytest.approx(float(people[fresh].sum()), abs=0.002 * max(1, fresh.sum()))
        reached |= near
    np.testing.assert_array_equal(plan.reached_by > 0, reached)


def test_curve_never_falls_and_gains_never_grow(national_like):
    targets, people = national_like
    s = plan_sites(targets, people, n_sites=300, costs=COSTS).sites
    assert (np.diff(s["people_cumulative"]) >= 0).all()
    assert (np.diff(s["people_new"]) <= 0).all()
    assert (s["people_new"] > 0).all()
    assert s["rank"].tolist() == list(range(1, len(s) + 1))


def test_ties_and_input_order_do_not_change_the_plan(national_like):
    targets, people = national_like
    people = np.round(people)  # whole people: many equal gains
    a = plan_sites(targets, people, n_sites=50, costs=COSTS).sites
    order = np.random.default_rng(1).permutation(targets.size)
    b = plan_sites(targets[order], people[order], n_sites=50, costs=COSTS).sites
    pd.testing.assert_frame_equal(a, b)


def test_targets_are_populated_cells_below_4g():
    cells = pd.DataFrame(
        {
            "cell": np.arange(1, 8, dtype=np.uint64),
            "population": [10.0, 10.0, 10.0, 10.0, 10.0, 0.0, 10.0],
            "best_tech_rank": np.array([-1, 0, 1, 2, 3, 1, 4], dtype=np.int8),
        }
    )
    t, p = mobile_targets(cells)
    assert t.tolist() == [2, 3, 4]  # none, 2G, 3G with people; unknown and 4G+ are not targets
    assert p.tolist() == [10.0, 10.0, 10.0]
    assert mobile_targets(cells, below="5G")[0].tolist() == [2, 3, 4, 5]  # 4G is a 5G target


def test_site_radius_follows_the_technology_or_is_stated():
    assert (
        PlanCosts().site_radius_km == 4.0 and PlanCosts(site_technology="5G").site_radius_km == 1.0
    )
    assert PlanCosts(site_radius_km=2.5).site_radius_km == 2.5
    with pytest.raises(ValueError):
        PlanCosts(site_technology="6G")


def test_published_plan_names_places_and_reconciles(national_like, tmp_path):
    targets, people = national_like
    plan = plan_sites(targets, people, n_sites=60, costs=COSTS)
    labelled, curve, listing = write_site_plan(plan, "2026Q3", tmp_path, {"synthetic": True})
    write_cost_curve([curve], "2026Q3", tmp_path)
    assert list(labelled.columns) == list(SITE_COLUMNS)
    for col in (
        "rank",
        "lat",
        "lng",
        "province_34",
        "province_63",
        "place",
        "people_new",
        "people_cumulative",
        "cost",
    ):
        assert col in labelled
    assert (labelled["place"] != "").all() and (labelled["province_34_name"] != "").all()
    assert (labelled["place_km"] < 30).all()
    nation = curve[curve["scope"] == "nation"]
    assert nation["people"].iloc[-1] == pytest.approx(plan.people_reached, abs=0.1)
    for v in ("34", "63"):  # the provinces' curves add up to the nation's
        ends = (
            curve[(curve["scope"] == "province") & (curve["version"] == v)].groupby("code").last()
        )
        assert ends["people"].sum() == pytest.approx(plan.people_reached, abs=1.0)
        assert ends["built"].sum() == len(labelled)
    for name in ("mobile_sites_2026Q3.csv", "mobile_sites_2026Q3.geojson", "cost_curve_2026Q3.csv"):
        assert (tmp_path / "priorities" / name).is_file()
    per_province = listing[listing["scope"] == "province"]
    assert set(per_province["version"]) == {"34", "63"}
    assert len(per_province) == 2 * (34 + 63)
    assert label_sites(plan)["h3"].tolist() == labelled["h3"].tolist()
    assert cost_curve(labelled, plan).equals(curve)


def test_curve_takes_the_provinces_of_the_cell_table(national_like):
    """Given the cell table the targets came from, each province's people in need are its
    targets' people under the table's own province codes (as in the province summaries)."""
    targets, people = national_like
    plan = plan_sites(targets, people, n_sites=20, costs=COSTS)
    labelled = label_sites(plan)
    half = np.arange(targets.size) % 2 == 0  # a made-up split, to tell the codes' source apart
    cells = pd.DataFrame(
        {
            "cell": targets,
            "code_34": np.where(half, "01", "24"),
            "code_63": np.where(half, "01", "27"),
        }
    )
    curve = cost_curve(labelled, plan, cells)
    need = curve[(curve["scope"] == "province") & (curve["version"] == "34")]
    need = need.groupby("code")["people_in_need"].first()
    for code, mask in (("01", half), ("24", ~half)):
        if code in need:
            assert need[code] == pytest.approx(round(float(people[mask].sum()), 1))


def test_province_plan_maps_from_the_provinces_rows_equal_those_from_every_row(tmp_path):
    """A step drawing some provinces' plan maps gets only the rows ``in_provinces`` (sites and
    fibre of those provinces of either version); its maps are the same bytes as when drawn
    from every row, and it draws those provinces of both versions only."""
    import shapely

    from geodata.publishing.plans import write_province_plan_maps
    from geodata.reference import in_provinces

    rng = np.random.default_rng(7)
    n = 12
    sites = pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "lng": rng.uniform(106.05, 106.4, n),
            "lat": rng.uniform(21.1, 21.35, n),
            "people_new": np.sort(rng.uniform(10, 1000, n))[::-1],
            "province_34": ["24"] * 5 + ["31"] * 5 + ["01"] * 2,
            "province_63": ["24"] * 3 + ["27", "30"] + ["30"] * 5 + ["01"] * 2,
        }
    )
    routes = sites.iloc[[0, 4, 6, 10]][["province_34", "province_63"]].reset_index(drop=True)
    lines = [
        shapely.LineString([(x, y), (x + 0.02, y + 0.01)])
        for x, y in sites.iloc[[0, 4, 6, 10]][["lng", "lat"]].to_numpy()
    ]
    codes = ("24",)
    whole = write_province_plan_maps(
        sites, routes, lines, "2026Q3", tmp_path / "a", sample=True, provinces_34=codes
    )
    s_in, r_in = in_provinces(sites, codes, "province"), in_provinces(routes, codes, "province")
    part = write_province_plan_maps(
        sites.loc[s_in],
        routes.loc[r_in],
        np.asarray(lines, dtype=object)[r_in],
        "2026Q3",
        tmp_path / "b",
        sample=True,
        provinces_34=codes,
    )
    assert part == whole
    # downloads/{version}/{code}_{slug}/2026Q3_plan.png
    assert sorted(f"{p.split('/')[1]}/{p.split('/')[2].split('_')[0]}" for p in whole) == [
        "34/24",
        "63/24",
        "63/27",
    ]
    for rel in whole:
        assert (tmp_path / "b" / rel).read_bytes() == (tmp_path / "a" / rel).read_bytes()
