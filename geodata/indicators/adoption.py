"""Adoption statistics as province indicators: the latest value of each indicator at a date."""

from __future__ import annotations

import pandas as pd

__all__ = ["latest_adoption"]


def latest_adoption(adoption: pd.DataFrame, version: str, as_of: str) -> pd.DataFrame:
    """Wide table, one row per province code of ``version``: each indicator's latest value with a
    period starting on or before ``as_of``, and that period (``<indicator>__period``).

    Rows carry ``code_63`` and/or ``code_34`` (from the adoption reader); a value reported on the
    63 codes is shown on the 63 view, one on the 34 codes on the 34 view: figures of merged
    provinces are never summed or averaged here.
    """
    key = f"code_{version}"
    if adoption.empty or key not in adoption:
        return pd.DataFrame(columns=["code"])
    df = adoption[adoption["boundary_version"].astype(str) == version].copy()
    df = df[pd.to_datetime(df["period_start"]) <= pd.Timestamp(as_of)]
    df = df.dropna(subset=[key])
    if df.empty:
        return pd.DataFrame(columns=["code"])
    df = df.sort_values([key, "indicator", "period_start"]).groupby([key, "indicator"]).tail(1)
    values = df.pivot(index=key, columns="indicator", values="value")
    periods = df.pivot(index=key, columns="indicator", values="period").add_suffix("__period")
    wide = values.join(periods).reset_index().rename(columns={key: "code"})
    return wide
