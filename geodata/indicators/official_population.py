"""Compare modelled population per province with the figures of Resolution 202/2025/QH15.

The shipped WorldPop grid (97.3 M, UN-adjusted 2020) and the resolution's figures (113.6 M,
registered residents) count different things, so they differ by design. This comparison reports
the difference per province; nothing is ever rescaled to make them agree.
"""

from __future__ import annotations

import pandas as pd

from geodata.reference import load_official_population_34

__all__ = ["PLAUSIBLE_RATIO", "population_vs_official"]

#: Ratios of modelled to official population outside this range point at a broken input
#: (a wrong raster, a province assignment error), not at the known difference of definitions.
PLAUSIBLE_RATIO = (0.4, 2.5)


def population_vs_official(summary_34: pd.DataFrame) -> pd.DataFrame:
    """One row per 34-system province: ``code, name, population_model, population_res202,
    ratio, plausible``, sorted by ratio.

    >>> import pandas as pd
    >>> df = population_vs_official(pd.DataFrame({"code": ["01"], "population": [8.0e6]}))
    >>> round(float(df["ratio"].iloc[0]), 2)
    0.91
    """
    official = load_official_population_34().reset_index(drop=True)[["code", "name", "population"]]
    model = summary_34[["code", "population"]].rename(columns={"population": "population_model"})
    out = official.rename(columns={"population": "population_res202"}).merge(model, on="code")
    out["ratio"] = out["population_model"] / out["population_res202"]
    lo, hi = PLAUSIBLE_RATIO
    out["plausible"] = out["ratio"].between(lo, hi)
    cols = ["code", "name", "population_model", "population_res202", "ratio", "plausible"]
    return out[cols].sort_values("ratio").reset_index(drop=True)
