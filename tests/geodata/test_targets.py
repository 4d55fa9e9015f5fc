"""The targets scorecard: status logic on hand-made series, the projection against a hand
computation, every target's source, and scorecard values equal to the summaries they come from."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata.indicators.summaries import summarise
from geodata.indicators.targets import (
    INDICATORS,
    MIN_QUARTERS,
    SCORECARD_COLUMNS,
    STATUSES,
    assess,
    furthest_behind,
    indicator_values,
    load_published_figures,
    load_targets,
    most_improved,
    quarter_index,
    quarter_label,
    scorecard,
    theil_sen,
)
from geodata.reference import load_regions, province_codes

Q = ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1"]


def test_met():
    a = assess(Q[:3], [30.0, 35.0, 41.0], target=40, target_year=2025)
    assert a.status == "met" and a.gap == 0.0 and a.quarters_used == 3


def test_on_track_and_projection_by_hand():
    # +5 per quarter from 20 in 2025Q1: 35 in 2025Q4 ... 40 in 2026Q1, 50 in 2026Q3
    a = assess(Q[:3], [20.0, 25.0, 30.0], target=50, target_year=2026)
    assert a.trend_per_quarter == pytest.approx(5.0)
    assert a.projected_quarter == "2026Q3"  # 30 + 5 * 4 = 50, four quarters after 2025Q3
    assert a.status == "on track" and a.gap == pytest.approx(20.0)


def test_off_track_when_the_pace_is_too_slow():
    a = assess(Q[:3], [20.0, 25.0, 30.0], target=50, target_year=2025)
    assert a.status == "off track" and a.projected_quarter == "2026Q3"


def test_projection_rounds_up_to_the_quarter_that_reaches_the_target():
    # 10, 13, 16: slope 3; 16 + 3 * 3 = 25 >= 24 in the third quarter after 2025Q3 -> 2026Q2
    a = assess(Q[:3], [10.0, 13.0, 16.0], target=24, target_year=2030)
    assert a.projected_quarter == "2026Q2"
    assert math.ceil((24 - 16) / 3) == 3


def test_falling_series_is_off_track_with_no_projection():
    a = assess(Q[:4], [40.0, 35.0, 33.0, 30.0], target=50, target_year=2030)
    assert a.status == "off track" and a.projected_quarter == ""
    assert a.trend_per_quarter < 0


def test_flat_series_is_off_track():
    a = assess(Q[:3], [30.0, 30.0, 30.0], target=50, target_year=2030)
    assert a.status == "off track" and a.projected_quarter == ""


def test_too_few_quarters_is_not_measurable_but_keeps_the_projection():
    a = assess(Q[:2], [20.0, 25.0], target=50, target_year=2030)
    assert a.status == "not measurable"
    assert str(MIN_QUARTERS) in a.reason and a.quarters_used == 2
    assert a.projected_quarter == "2026Q3"  # 25 + 5 * 5 = 50, five quarters after 2025Q2


def test_missing_quarters_are_skipped_and_counted():
    a = assess(Q[:4], [20.0, np.nan, 30.0, 35.0], target=50, target_year=2030)
    assert a.quarters_used == 3 and a.status == "on track"
    assert a.trend_per_quarter == pytest.approx(5.0)


def test_no_value_now_is_not_measurable():
    a = assess(Q[:3], [20.0, 25.0, np.nan], target=50, target_year=2030)
    assert a.status == "not measurable" and math.isnan(a.gap)


def test_target_year_over_is_off_track_even_when_rising():
    a = assess(["2026Q1", "2026Q2", "2026Q3"], [20.0, 30.0, 39.0], target=40, target_year=2025)
    assert a.status == "off track" and "2025" in a.reason


def test_not_measurable_target():
    a = assess(Q[:3], [np.nan] * 3, target=100, target_year=2025, measurable=False)
    assert a.status == "not measurable"


def test_one_odd_quarter_does_not_swing_the_fit():
    slope, _ = theil_sen([0, 1, 2, 3, 4], [10.0, 12.0, 14.0, 100.0, 18.0])
    assert slope == pytest.approx(2.0)


@given(
    a=st.floats(-100, 100),
    b=st.floats(-10, 10),
    n=st.integers(2, 12),
)
def test_theil_sen_recovers_an_exact_line(a, b, n):
    x = np.arange(n, dtype=float)
    slope, intercept = theil_sen(x, a + b * x)
    assert slope == pytest.approx(b, abs=1e-9)
    assert intercept == pytest.approx(a, abs=1e-6)


@given(st.integers(2000 * 4, 2100 * 4))
def test_quarter_index_round_trip(i):
    assert quarter_index(quarter_label(i)) == i


def test_every_target_has_its_source_and_measurable_ones_an_indicator():
    t = load_targets()
    assert len(t) >= 5
    for _, row in t.iterrows():
        for col in ("decision", "decision_date", "article", "wording_vi", "wording_en"):
            assert row[col].strip(), (row["target_id"], col)
        assert row["source_url"].startswith("https://"), row["target_id"]
        assert row["verification"].strip()
        if row["measurable"] == "yes":
            assert row["indicator"] in INDICATORS and row["measured_as"].strip()
        else:
            assert row["not_measurable_because"].strip()
    decisions = " ".join(t["decision"])
    assert "36/QĐ-TTg" in decisions and "1132/QĐ-TTg" in decisions
    assert {"mobile_download_4g_mbps", "population_5g_coverage_pct"} <= set(t["indicator"])


def test_published_figures_are_cited():
    f = load_published_figures()
    assert f["source_url"].str.startswith("https://").all()
    assert {"fixed_download", "mobile_download", "population_4g_coverage"} <= set(f["metric"])


def _cells(quarter_shift: float) -> pd.DataFrame:
    """A tiny cell table: one cell per 63-province, speeds rising with ``quarter_shift``."""
    from geodata.reference import load_crosswalk

    cw = load_crosswalk()
    n = len(cw)
    rng = np.random.default_rng(7)
    tech = np.where(np.arange(n) % 3 == 0, 4, 3).astype(np.int8)
    return pd.DataFrame(
        {
            "cell": np.arange(1, n + 1, dtype=np.uint64),
            "population": rng.uniform(1e3, 1e5, n),
            "code_63": cw["old_code"].astype(str).to_numpy(),
            "code_34": cw["new_code"].astype(str).to_numpy(),
            "fixed_d_mbps": rng.uniform(50, 150, n) + 10 * quarter_shift,
            "fixed_u_mbps": rng.uniform(20, 100, n),
            "fixed_lat_ms": rng.uniform(5, 30, n),
            "fixed_tests": np.full(n, 5),
            "mobile_d_mbps": rng.uniform(20, 60, n) + 3 * quarter_shift,
            "mobile_u_mbps": rng.uniform(5, 20, n),
            "mobile_lat_ms": rng.uniform(20, 60, n),
            "mobile_tests": np.full(n, 5),
            "best_tech_rank": tech,
        }
    )


@pytest.fixture(scope="module")
def history():
    out = {}
    for i, q in enumerate(Q[:4]):
        cells = _cells(i)
        out[q] = {v: summarise(cells, by=v) for v in ("63", "34", "region", "nation")}
    return out


def test_scorecard_rows_columns_and_values_equal_the_summaries(history):
    region_of_63 = load_regions()["region_id"].to_dict()
    targets = load_targets()
    measurable = targets[targets["measurable"] == "yes"]["indicator"].tolist()
    for view in ("63", "34"):
        card = scorecard(history, view, "2025Q4", region_of_63=region_of_63, thresholds="X")
        assert tuple(card.columns) == SCORECARD_COLUMNS
        assert list(card.columns[:10]) == [
            "code", "name", "indicator", "value", "target", "target_year", "status",
            "projected_quarter", "quarters_used", "source",
        ]  # fmt: skip
        assert set(card["status"]) <= set(STATUSES)
        per_unit = card.groupby("code")["indicator"].nunique()
        assert set(per_unit.index) == set(province_codes(view))
        assert (per_unit == len(measurable)).all()
        summary = history["2025Q4"][view]
        for indicator in measurable:
            want = pd.Series(indicator_values(summary, indicator, view), index=summary["code"])
            got = card[card["indicator"] == indicator].set_index("code")["value"]
            pd.testing.assert_series_equal(
                got.sort_index(), want.reindex(got.index).sort_index(), check_names=False
            )
        assert (card["quarters_used"] <= 4).all()
        assert (card["thresholds"] == "X").all()
    nation = scorecard(history, "nation", "2025Q4", region_of_63=region_of_63)
    assert len(nation) == len(targets)  # not measurable targets listed for the nation
    nm = nation[nation["target_id"].isin(targets.loc[targets["measurable"] == "no", "target_id"])]
    assert (nm["status"] == "not measurable").all()
    fixed = nation[nation["indicator"] == "fixed_download_mbps"].iloc[0]
    assert fixed["value"] == pytest.approx(history["2025Q4"]["nation"]["fixed_d_mbps"].iloc[0])
    assert fixed["trend_per_quarter"] > 0 and fixed["quarters_used"] == 4


def test_provinces_with_5g_share(history):
    region_of_63 = load_regions()["region_id"].to_dict()
    nation = scorecard(history, "nation", "2025Q4", region_of_63=region_of_63)
    card34 = scorecard(history, "34", "2025Q4", region_of_63=region_of_63)
    p = card34[card34["indicator"] == "provinces_with_5g_pct"]
    assert set(p["value"].dropna()) <= {0.0, 100.0}
    want = p["value"].mean()
    got = nation.loc[nation["indicator"] == "provinces_with_5g_pct", "value"].iloc[0]
    assert got == pytest.approx(want)


def test_most_improved_and_furthest_behind(history):
    region_of_63 = load_regions()["region_id"].to_dict()
    card = scorecard(history, "34", "2025Q4", region_of_63=region_of_63)
    mi = most_improved(card, top=3)
    for _, part in mi.groupby("indicator"):
        assert part["trend_per_quarter"].is_monotonic_decreasing
        assert part["rank"].tolist() == list(range(1, len(part) + 1))
    fb = furthest_behind(card, top=5)
    assert len(fb) == 5 and fb["mean_attainment"].is_monotonic_increasing
    assert (fb["mean_attainment"] <= 1.0).all()


def test_publish_scorecards_writes_the_contract_files(history, tmp_path):
    import pyogrio

    from geodata.publishing.scorecard import build_scorecards, publish_scorecards

    cards = build_scorecards(history, thresholds="X")

    def file(*parts):
        path = tmp_path.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    written = publish_scorecards(
        cards, file, sample=True, source="Source: test.", provenance={"sample": True}
    )
    for q in history:
        for v in ("63", "34", "region", "nation"):
            table = pd.read_csv(tmp_path / "tables" / f"targets_{v}_{q}.csv", dtype={"code": str})
            assert list(table.columns[:10]) == list(SCORECARD_COLUMNS[:10])
    latest = max(history)
    for v in ("63", "34"):
        gj = pyogrio.read_dataframe(tmp_path / "geojson" / f"targets_{v}_{latest}.geojson")
        assert sorted(gj["code"]) == sorted(province_codes(v))
        assert "status_fixed_download_mbps" in gj.columns
        assert (tmp_path / "tables" / f"targets_most_improved_{v}_{latest}.csv").exists()
        assert written["maps"][v][1][:8] == b"\x89PNG\r\n\x1a\n"
    assert set(written["charts"]) == {
        i for i in load_targets().query("measurable == 'yes'")["indicator"]
    }


def test_met_series_keeps_its_trend():
    a = assess(Q[:3], [36.0, 38.0, 41.0], target=40, target_year=2025)
    assert a.status == "met" and a.trend_per_quarter == pytest.approx(2.5)
    assert a.projected_quarter == ""


def test_a_projection_beyond_the_horizon_is_not_a_quarter():
    a = assess(Q[:3], [1.0, 1.01, 1.02], target=99, target_year=2030)
    assert a.status == "off track" and a.projected_quarter == ""
    assert "not before 2040Q4" in a.reason
