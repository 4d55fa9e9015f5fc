"""Modelled vs official (Resolution 202/2025) population: reported per province, never rescaled."""

import pandas as pd

from geodata.indicators.official_population import population_vs_official
from geodata.reference import load_official_population_34, province_codes


def test_ratio_per_province_and_plausibility():
    official = load_official_population_34()
    summary = pd.DataFrame({"code": list(province_codes("34")), "population": 1.0})
    summary.loc[summary["code"] == "01", "population"] = official.loc["01", "population"] * 0.9
    out = population_vs_official(summary)
    assert len(out) == 34
    row = out.set_index("code").loc["01"]
    assert abs(row["ratio"] - 0.9) < 1e-12 and row["plausible"]
    assert not out.set_index("code").loc["79", "plausible"]  # 1 person for HCMC: implausible
