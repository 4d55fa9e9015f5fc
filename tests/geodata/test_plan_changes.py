"""Change between two quarters' plans: a site whose area got 4G is 'now served', the people
still in need around the others are counted independently, the new plan's additions are new."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from geodata.planning.changes import route_plan_changes, site_plan_changes
from geodata.planning.costs import PlanCosts
from geodata.planning.sites import plan_sites
from geodata.publishing.plans import label_sites

COSTS = PlanCosts(site_radius_km=1.5)


def _within(a: str, b: str) -> bool:
    return (
        h3.great_circle_distance(h3.cell_to_latlng(a), h3.cell_to_latlng(b), unit="km")
        <= COSTS.site_radius_km
    )


@pytest.fixture(scope="module")
def two_quarters():
    rng = np.random.default_rng(11)
    lat, lng = rng.uniform(20.7, 21.3, 5000), rng.uniform(105.4, 106.2, 5000)
    cells = np.unique(
        [h3.str_to_int(h3.latlng_to_cell(a, b, 8)) for a, b in zip(lat, lng, strict=True)]
    ).astype(np.uint64)
    people = np.round(rng.pareto(1.5, cells.size) * 40.0, 3)
    before = plan_sites(cells, people, n_sites=30, costs=COSTS)
    # next quarter: the area of the previous plan's site 1 got 4G (its targets are gone)
    first = h3.int_to_str(int(before.sites["cell"].iloc[0]))
    keep = np.array([not _within(first, h3.int_to_str(int(c))) for c in cells])
    after = plan_sites(cells[keep], people[keep], n_sites=30, costs=COSTS)
    return label_sites(before), label_sites(after), cells[keep], people[keep]


def test_sites_now_served_still_needed_and_new(two_quarters):
    prev, cur, targets, people = two_quarters
    ch = site_plan_changes(prev, cur, targets, people, COSTS.site_radius_km)
    old = ch[ch["rank_previous"].notna()].set_index("rank_previous")
    assert len(old) == len(prev)
    assert old.loc[1, "status"] == "now served" and old.loc[1, "people_in_need_now"] == 0
    still = old[old["status"] == "still needed"]
    assert len(still) >= len(prev) - 3
    # people in need around a previous site, counted with h3's scalar API
    strs = [h3.int_to_str(int(t)) for t in targets]
    for rank in still.index[:5]:
        site = prev.loc[prev["rank"] == rank, "h3"].iloc[0]
        want = sum(p for t, p in zip(strs, people, strict=True) if _within(site, t))
        assert still.loc[rank, "people_in_need_now"] == pytest.approx(want, abs=0.1)
    new = ch[ch["status"] == "new in plan"]
    for h in new["h3"]:
        assert not any(_within(h, p) for p in prev["h3"])
    assert set(ch["status"]) <= {"now served", "still needed", "new in plan"}


def test_fibre_units_connected_kept_and_new():
    cols = ["h3_res6", "province_34", "province_34_name", "place", "rank", "people", "km"]
    prev = pd.DataFrame(
        [["a", "01", "Hà Nội", "x", 1, 10.0, 1.0], ["b", "01", "Hà Nội", "y", 2, 5.0, 2.0]],
        columns=cols,
    )
    cur = pd.DataFrame(
        [["b", "01", "Hà Nội", "y", 1, 5.0, 2.0], ["c", "02", "Tuyên Quang", "z", 2, 7.0, 1.5]],
        columns=cols,
    )
    ch = route_plan_changes(prev, cur).set_index("h3_res6")
    assert ch.loc["a", "status"] == "connected"
    assert ch.loc["b", "status"] == "still in plan"
    assert (ch.loc["b", "rank_previous"], ch.loc["b", "rank_current"]) == (2, 1)
    assert ch.loc["c", "status"] == "new in plan" and ch.loc["c", "place"] == "z"
