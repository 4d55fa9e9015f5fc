"""Province / region / national summaries: conservation, completeness, hand-computed values,
differential against a slow per-province loop, change between periods and inequality."""

import math

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import InputError, SchemaError
from geodata.indicators.inequality import gini_weighted, theil_t
from geodata.indicators.service import DEFAULT_THRESHOLDS, SERVICE_CLASSES, thresholds_from_mapping
from geodata.indicators.summaries import (
    SUMMARY_VIEWS,
    cell_sums,
    change_since,
    gini_rows,
    inequality_from_sums,
    inequality_table,
    merge_cell_sums,
    merge_gini_rows,
    summaries_from_sums,
    summarise,
)
from geodata.reference import load_crosswalk, load_regions, province_codes

VIEW_KEY = {"63": "code", "34": "code", "region": "region_id", "nation": "code"}
SPEED_COLS = [f"{k}_{c}" for k in ("fixed", "mobile") for c in ("d_mbps", "u_mbps", "lat_ms")]


def make_cells(
    n: int = 400, seed: int = 0, old_codes: list[str] | None = None, empty_frac: float = 0.3
) -> pd.DataFrame:
    """A synthetic cell table following the contract, codes consistent with the crosswalk.

    Real H3 res-8 cells around Hà Nội; ``old_codes`` restricts the 63-provinces used (default: a
    random subset, so some provinces of both versions have no cells).
    """
    rng = np.random.default_rng(seed)
    cw = load_crosswalk()
    if old_codes is None:
        all_codes = cw["old_code"].to_numpy()
        old_codes = list(
            rng.choice(
                all_codes, size=max(1, int(len(all_codes) * (1 - empty_frac))), replace=False
            )
        )
    origin = h3.latlng_to_cell(21.0285, 105.8542, 8)
    k = 1
    while 3 * k * (k + 1) + 1 < n:
        k += 1
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(origin, k))[:n], dtype=np.uint64)
    code_63 = rng.choice(np.asarray(old_codes, dtype=object), size=n)
    code_34 = cw.loc[code_63, "new_code"].to_numpy()

    def speeds(p_measured, scale):
        measured = rng.random(n) < p_measured
        tests = np.where(measured, rng.integers(1, 50, n), 0)
        d = np.where(measured, rng.lognormal(np.log(scale), 1.0, n), np.nan)
        u = np.where(measured, d * rng.uniform(0.05, 0.6, n), np.nan)
        lat = np.where(measured, rng.uniform(5, 120, n), np.nan)
        return d, u, lat, tests

    fd, fu, fl, ft = speeds(0.5, 60.0)
    md, mu, ml, mt = speeds(0.4, 25.0)
    pop = rng.exponential(300.0, n)
    pop[rng.random(n) < 0.1] = 0.0  # uninhabited cells
    return pd.DataFrame(
        {
            "cell": cells,
            "population": pop,
            "code_63": pd.array(code_63, dtype="string"),
            "code_34": pd.array(code_34, dtype="string"),
            "fixed_d_mbps": fd,
            "fixed_u_mbps": fu,
            "fixed_lat_ms": fl,
            "fixed_tests": ft,
            "mobile_d_mbps": md,
            "mobile_u_mbps": mu,
            "mobile_lat_ms": ml,
            "mobile_tests": mt,
            "best_tech_rank": rng.integers(-1, 5, n).astype(np.int8),
        }
    )


def test_helper_codes_follow_the_crosswalk():
    cells = make_cells(50, seed=3)
    cw = load_crosswalk()
    assert (
        cw.loc[cells["code_63"].to_numpy(), "new_code"].to_numpy() == cells["code_34"].to_numpy()
    ).all()
    assert cells["cell"].is_unique and (cells["cell"].to_numpy() > 0).all()


# --- conservation and completeness -------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 200))
def test_population_is_conserved_in_every_view(seed, n):
    cells = make_cells(n, seed=seed)
    total = cells["population"].sum()
    for view in SUMMARY_VIEWS:
        s = summarise(cells, by=view)
        assert s["population"].sum() == pytest.approx(total, rel=1e-12, abs=1e-9)
        assert s["n_cells"].sum() == len(cells)
        people = s[[f"people_{c}" for c in SERVICE_CLASSES]].sum(axis=1)
        np.testing.assert_allclose(people, s["population"], rtol=1e-12, atol=1e-9)
        shares = s[[f"share_{c}" for c in SERVICE_CLASSES]]
        inhabited = s["population"] > 0
        np.testing.assert_allclose(shares[inhabited].sum(axis=1), 1.0, rtol=1e-12)
        assert shares[~inhabited].isna().all().all()
        assert sorted(s["rank"]) == list(range(1, len(s) + 1))


def test_every_unit_present_even_without_cells():
    cells = make_cells(200, seed=1, old_codes=["01", "79"])  # Hà Nội, TP HCM only
    for version in ("63", "34"):
        s = summarise(cells, by=version)
        assert list(s["code"]) == list(province_codes(version))
        assert s["name"].notna().all() and s["name_ascii"].notna().all()
        empty = s[~s["code"].isin(["01", "79"])]
        assert (empty["population"] == 0).all() and (empty["n_cells"] == 0).all()
        assert (empty[[f"people_{c}" for c in SERVICE_CLASSES]] == 0).all().all()
        assert empty["share_unserved"].isna().all() and empty["fixed_d_mbps"].isna().all()
        assert empty["gini_fixed_down"].isna().all()
        # units without people rank last, by code
        assert list(empty.sort_values("rank")["code"]) == list(empty["code"])
        assert set(s.loc[s["population"] > 0, "rank"]) == {1, 2}
    r = summarise(cells, by="region")
    assert len(r) == 6 and set(r["region_id"]) == set(load_regions()["region_id"])
    assert list(r.columns[:3]) == ["region_id", "region_name_vi", "region_name_en"]
    n = summarise(cells, by="nation")
    assert len(n) == 1 and n["code"].iloc[0] == "VN" and n["rank"].iloc[0] == 1


def test_regions_come_from_code_63():
    # Old 02 (Hà Giang, northern mountains) merged into new 08 (Tuyên Quang); the region follows 63
    cells = make_cells(30, seed=2, old_codes=["02"])
    r = summarise(cells, by="region").set_index("region_id")
    region = load_regions().loc["02", "region_id"]
    assert r.loc[region, "population"] == pytest.approx(cells["population"].sum())
    assert (r.drop(index=region)["population"] == 0).all()


# --- hand-computed example ---------------------------------------------------------------------


def _tiny():
    nan = np.nan
    return pd.DataFrame(
        {
            "cell": np.arange(1, 6, dtype=np.uint64),
            "population": [100.0, 300.0, 50.0, 50.0, 200.0],
            "code_63": ["01", "01", "01", "26", "79"],  # 26 Vĩnh Phúc -> 25 Phú Thọ
            "code_34": ["01", "01", "01", "25", "79"],
            "fixed_d_mbps": [150.0, 25.0, nan, nan, 10.0],
            "fixed_u_mbps": [30.0, 3.0, nan, nan, 1.0],
            "fixed_lat_ms": [10.0, 30.0, nan, nan, 50.0],
            "fixed_tests": [4, 2, 0, 0, 1],
            "mobile_d_mbps": [nan, nan, 40.0, nan, nan],
            "mobile_u_mbps": [nan, nan, 8.0, nan, nan],
            "mobile_lat_ms": [nan, nan, 20.0, nan, nan],
            "mobile_tests": [0, 0, 3, 0, 0],
            "best_tech_rank": np.array([-1, 4, 3, -1, 2], np.int8),
        }
    )


def test_hand_computed_province_summary():
    s = summarise(_tiny(), by="34").set_index("code")
    hn = s.loc["01"]
    # cell 1 fixed 150/30 served; cell 2 fixed exactly 25/3 underserved, but 5G coverage -> served;
    # cell 3 mobile 40/8 served
    assert hn["population"] == 450 and hn["n_cells"] == 3
    assert hn["people_served"] == 450 and hn["people_unserved"] == 0
    assert hn["fixed_d_mbps"] == pytest.approx((100 * 150 + 300 * 25) / 400)
    assert hn["fixed_u_mbps"] == pytest.approx((100 * 30 + 300 * 3) / 400)
    assert hn["fixed_lat_ms"] == pytest.approx((100 * 10 + 300 * 30) / 400)
    assert hn["mobile_d_mbps"] == 40.0
    assert hn["share_measured_fixed"] == pytest.approx(400 / 450)
    assert hn["share_measured_mobile"] == pytest.approx(50 / 450)
    assert hn["pop_coverage_4g_plus"] == 350 and hn["pop_coverage_5g"] == 300
    assert hn["gini_fixed_down"] == pytest.approx(gini_weighted([150, 25], [100, 300]))
    # Phú Thọ: one cell with no tests and no coverage information -> no data, not unserved
    pt = s.loc["25"]
    assert pt["people_no_data"] == 50 and pt["people_unserved"] == 0 and pt["share_no_data"] == 1
    assert math.isnan(pt["fixed_d_mbps"]) and math.isnan(pt["gini_fixed_down"])
    # TP HCM: fixed 10/1 unserved, 3G only -> unserved
    hcm = s.loc["79"]
    assert hcm["people_unserved"] == 200 and hcm["share_unserved"] == 1 and hcm["rank"] == 1
    assert s.loc["01", "rank"] == 2 and s.loc["25", "rank"] == 3  # ties (share 0) by code
    assert (s["thresholds"] == DEFAULT_THRESHOLDS.name).all()
    nation = summarise(_tiny(), by="nation").iloc[0]
    assert nation["population"] == 700 and nation["people_unserved"] == 200
    assert nation["fixed_d_mbps"] == pytest.approx((100 * 150 + 300 * 25 + 200 * 10) / 600)
    assert summarise(_tiny(), by="63").set_index("code").loc["26", "people_no_data"] == 50


def test_summary_uses_the_given_thresholds():
    strict = thresholds_from_mapping({"fixed_served_down_mbps": 200})
    s = summarise(_tiny(), by="nation", thr=strict).iloc[0]
    assert s["thresholds"] == strict.name
    assert s["people_served"] == 350  # cell 1 (150 Mbps) is no longer served by fixed


# --- differential against a slow loop ----------------------------------------------------------


def slow_summary(cells, version):
    """One province at a time, one cell at a time."""
    from geodata.indicators.service import classify_cells

    c = classify_cells(cells)
    rows = {}
    for code in province_codes(version):
        sub = c[c[f"code_{version}"] == code]
        row = {"population": 0.0, "n_cells": len(sub)}
        row.update({f"people_{k}": 0.0 for k in SERVICE_CLASSES})
        sums = {col: [0.0, 0.0] for col in SPEED_COLS}
        for _, cell in sub.iterrows():
            row["population"] += cell["population"]
            row[f"people_{cell['service_class']}"] += cell["population"]
            for col in SPEED_COLS:
                kind = col.split("_")[0]
                if cell[f"{kind}_tests"] >= 1 and not math.isnan(cell[col]):
                    sums[col][0] += cell["population"] * cell[col]
                    sums[col][1] += cell["population"]
        for col, (num, den) in sums.items():
            row[col] = num / den if den > 0 else math.nan
        rows[code] = row
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize("version", ["63", "34"])
def test_summary_matches_slow_loop(version):
    cells = make_cells(300, seed=7)
    fast = summarise(cells, by=version).set_index("code")
    slow = slow_summary(cells, version)
    cols = list(slow.columns)
    pd.testing.assert_frame_equal(
        fast[cols].astype(float), slow[cols].astype(float), check_names=False, rtol=1e-10
    )


# --- errors ------------------------------------------------------------------------------------


def test_unknown_province_code_names_the_row():
    cells = make_cells(20, seed=4)
    cells["code_34"] = cells["code_34"].astype(object)
    cells.loc[5, "code_34"] = "99"
    with pytest.raises(InputError, match="'99' is not a province code") as exc:
        summarise(cells, by="34")
    assert exc.value.row == 6 and exc.value.column == "code_34"
    cells.loc[5, "code_34"] = None
    with pytest.raises(InputError):
        summarise(cells, by="34")
    # every view is built from sums per (code_63, code_34) pair, so a cell needs both codes
    with pytest.raises(InputError, match="row 6, column 'code_34'"):
        summarise(cells, by="63")


def test_bad_population_and_missing_columns():
    cells = make_cells(10, seed=5)
    bad = cells.assign(population=cells["population"].where(cells.index != 2, -1.0))
    with pytest.raises(InputError, match="population") as exc:
        summarise(bad, by="nation")
    assert exc.value.row == 3
    with pytest.raises(SchemaError):
        summarise(cells.drop(columns=["population"]), by="nation")
    with pytest.raises(ValueError, match="by must be"):
        summarise(cells, by="district")  # type: ignore[arg-type]


# --- change between periods --------------------------------------------------------------------


def test_change_since_deltas_and_rank_change():
    prev = summarise(make_cells(300, seed=11), by="34")
    cur = summarise(make_cells(300, seed=12), by="34")
    prev.insert(0, "period", "2025Q2")
    cur.insert(0, "period", "2025Q3")
    d = change_since(cur, prev)
    assert list(d["code"]) == list(cur["code"]) and len(d) == 34
    assert (d["period"] == "2025Q3").all() and (d["period_prev"] == "2025Q2").all()
    merged = cur.merge(prev, on="code", suffixes=("", "_p")).set_index("code")
    for col in [
        "share_unserved",
        "share_served",
        "share_coverage_5g",
        "fixed_d_mbps",
        "mobile_lat_ms",
    ]:
        want = (merged[col] - merged[f"{col}_p"]).to_numpy()
        np.testing.assert_allclose(d[f"delta_{col}"].to_numpy(), want, equal_nan=True)
    assert (d["rank_change"] == d["rank"] - d["rank_prev"]).all()
    same = change_since(cur, cur)
    assert (same["rank_change"] == 0).all()
    deltas = same.filter(like="delta_")
    assert ((deltas == 0) | deltas.isna()).all().all()


def test_change_since_regions_and_refusals():
    a = summarise(make_cells(100, seed=1), by="region")
    b = summarise(make_cells(100, seed=2), by="region")
    d = change_since(a, b, key="region_id")
    assert len(d) == 6 and "delta_share_unserved" in d
    with pytest.raises(ValueError, match="key column"):
        change_since(a, b)
    other = summarise(
        make_cells(100, seed=2),
        by="region",
        thr=thresholds_from_mapping({"fixed_served_up_mbps": 10}),
    )
    with pytest.raises(ValueError, match="different thresholds"):
        change_since(a, other, key="region_id")
    with pytest.raises(ValueError, match="duplicate"):
        change_since(pd.concat([a, a]), b, key="region_id")


# --- inequality --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["63", "34", "region"])
def test_inequality_table(version):
    cells = make_cells(400, seed=21)
    t = inequality_table(cells, version)
    fixed = cells["fixed_tests"] >= 1
    mobile = cells["mobile_tests"] >= 1
    assert t["gini_fixed_down"] == pytest.approx(
        gini_weighted(cells.loc[fixed, "fixed_d_mbps"], cells.loc[fixed, "population"])
    )
    assert t["gini_mobile_down"] == pytest.approx(
        gini_weighted(cells.loc[mobile, "mobile_d_mbps"], cells.loc[mobile, "population"])
    )
    assert math.isclose(
        t["theil_fixed_down"],
        t["theil_fixed_down_between"] + t["theil_fixed_down_within"],
        rel_tol=1e-12,
    )
    groups = (
        cells["code_63"].map(load_regions()["region_id"])
        if version == "region"
        else cells[f"code_{version}"]
    )
    ref = theil_t(cells.loc[fixed, "fixed_d_mbps"], cells.loc[fixed, "population"], groups[fixed])
    assert t["theil_fixed_down_between"] == pytest.approx(ref.between)
    assert 0 < t["theil_fixed_down_between_share"] < 1
    assert t["pop_measured_fixed"] == pytest.approx(cells.loc[fixed, "population"].sum())
    assert all(isinstance(v, float) for v in t.values())


def test_inequality_between_provinces_of_each_version_differs_consistently():
    # merging provinces can only move inequality from "between" to "within"
    cells = make_cells(600, seed=33, empty_frac=0.0)
    t63, t34 = inequality_table(cells, "63"), inequality_table(cells, "34")
    assert t63["theil_fixed_down"] == pytest.approx(t34["theil_fixed_down"])
    assert t34["theil_fixed_down_between"] <= t63["theil_fixed_down_between"] + 1e-12


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_groups=st.integers(1, 34),
    border=st.integers(0, 5),
)
def test_pieces_of_new_provinces_give_the_whole_bit_for_bit(seed, n_groups, border):
    """The cells of each group of new provinces summed apart, merged, give exactly the sums,
    Gini rows, summaries of every view and inequality of the whole table; also when, near a
    border, some cells' old province is not the one the crosswalk puts in their new one (the
    versions are assigned independently)."""
    cells = make_cells(300, seed=seed)
    rng = np.random.default_rng(seed)
    cells["code_63"] = cells["code_63"].astype(object)
    moved = rng.choice(len(cells), size=border, replace=False)
    cells.loc[moved, "code_63"] = rng.choice(province_codes("63"), size=border)
    codes = list(province_codes("34"))
    group_of = dict(zip(codes, rng.integers(0, n_groups, len(codes)), strict=True))
    owner = cells["code_34"].map(group_of).to_numpy()
    pieces = [cells.loc[owner == g] for g in range(n_groups) if (owner == g).any()]
    sums = merge_cell_sums([cell_sums(p) for p in pieces])
    rows = merge_gini_rows([gini_rows(p) for p in pieces])
    whole_sums, whole_rows = cell_sums(cells), gini_rows(cells)
    pd.testing.assert_frame_equal(sums, whole_sums, check_exact=True, check_dtype=False)
    pd.testing.assert_frame_equal(rows, whole_rows, check_exact=True)
    for view in ("63", "34", "region", "nation"):
        pd.testing.assert_frame_equal(
            summaries_from_sums(sums, rows, view), summarise(cells, by=view), check_exact=True
        )
    for version in ("63", "34", "region"):
        merged = pd.Series(inequality_from_sums(sums, rows, version))
        assert merged.equals(pd.Series(inequality_table(cells, version)))  # NaN == NaN here


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1e4) | st.just(0.0), min_size=1, max_size=40),
    seed=st.integers(0, 1000),
)
def test_theil_from_group_sums_equals_theil_on_the_values(values, seed):
    """Oracle: Theil T computed cell by cell (theil_t) against the sums W, Y, L per group."""
    from geodata.indicators.inequality import theil_sums, theil_t_from_sums

    rng = np.random.default_rng(seed)
    x = np.asarray(values)
    w = rng.integers(0, 5, len(x)).astype(float)
    g = rng.integers(0, 4, len(x))
    direct = theil_t(x, w, g)
    sums = theil_t_from_sums(np.arange(4), *theil_sums(x, w, g, 4))
    for a, b in ((direct.total, sums.total), (direct.between, sums.between)):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)
    if not math.isnan(sums.total):
        assert sums.total == pytest.approx(sums.between + sums.within, rel=1e-9, abs=1e-12)
