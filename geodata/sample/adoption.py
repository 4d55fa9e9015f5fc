"""Adoption tables as provinces would submit them (synthetic), and the real DTI 2022 ranking.

Both use the long format ``province_code,province_name,period,indicator,value,unit,source``. The
synthetic per-province files follow each province's urbanisation and population density measured
on the real WorldPop surface; they are labelled synthetic in every row's ``source``. The DTI 2022
ranking is real and carries its own source.

Examples
--------
>>> rows = adoption_rows(surface, rng, ["2026Q2", "2026Q3"])     # doctest: +SKIP
>>> write_adoption_csv(rows[rows.province_code == "79"], "sample_79_ho_chi_minh.csv", bom=True)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike

import numpy as np
import pandas as pd

from geodata.inputs import quarter_start
from geodata.reference import (
    boundary_version_for_period,
    fold_name,
    load_crosswalk,
    load_dti_2022,
    province_names,
)
from geodata.sample.surface import PopulationSurface

__all__ = [
    "ADOPTION_COLUMNS",
    "ADOPTION_INDICATORS",
    "SAMPLE_SOURCE",
    "DTI_URL",
    "adoption_rows",
    "dti_2022_rows",
    "province_slug",
    "write_adoption_csv",
]

ADOPTION_COLUMNS: tuple[str, ...] = (
    "province_code", "province_name", "period", "indicator", "value", "unit", "source",
)  # fmt: skip
#: indicator -> (unit, base, slope on the urbanisation score, noise sd, gain per period, lo, hi)
ADOPTION_INDICATORS: dict[str, tuple[str, float, float, float, float, float, float]] = {
    "household_internet_share": ("%", 50.0, 44.0, 3.0, 1.2, 20.0, 99.0),
    "fixed_broadband_subscriptions_per_100": ("per 100 people", 8.0, 30.0, 2.0, 0.7, 2.0, 60.0),
    "mobile_broadband_subscriptions_per_100": ("per 100 people", 66.0, 58.0, 4.0, 1.5, 40.0, 160.0),
    "smartphone_share": ("%", 68.0, 27.0, 2.5, 0.8, 40.0, 99.0),
}
SAMPLE_SOURCE = "SYNTHETIC sample (geodata.sample), not an official statistic"
DTI_URL = "https://dti.gov.vn/xep-hang-2022"


def province_slug(code_34: str) -> str:
    """ASCII file-name slug of a 34-system province name: ``"79"`` -> ``"ho_chi_minh"``."""
    ascii_name = str(province_names("34").loc[code_34, "name_ascii"])
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_") or fold_name(ascii_name)


def _province_scores(surface: PopulationSurface) -> tuple[np.ndarray, np.ndarray]:
    """Per selected province: urbanisation score in [0, 1] and WorldPop population."""
    k = len(surface.codes)
    inside = surface.province >= 0
    prov = surface.province[inside]
    pop = np.bincount(prov, weights=surface.pop[inside], minlength=k)
    urban_pop = np.bincount(prov, weights=(surface.pop * surface.urban)[inside], minlength=k)
    area = np.bincount(prov, weights=(surface.pop / surface.density)[inside], minlength=k)
    urban_share = urban_pop / np.maximum(pop, 1.0)
    dens = np.clip((np.log10(pop / np.maximum(area, 1e-9) + 1.0) - 1.8) / 1.6, 0.0, 1.0)
    return 0.75 * urban_share + 0.25 * dens, pop


def adoption_rows(
    surface: PopulationSurface, rng: np.random.Generator, periods: Sequence[str]
) -> pd.DataFrame:
    """Synthetic adoption indicators for every province of ``surface.codes`` and every period.

    Values follow the province's urbanisation score (population-weighted urbanness and density),
    with a persistent province effect and a small gain per period; one decimal.
    """
    score, _ = _province_scores(surface)
    names = province_names("34")
    k = len(surface.codes)
    frames = []
    for name, (
        unit,
        base,
        slope,
        sd,
        gain,
        lo,
        hi,
    ) in ADOPTION_INDICATORS.items():  # four indicators
        effect = rng.normal(0.0, sd, k)
        for j, period in enumerate(periods):  # a handful of periods
            value = base + slope * score + effect + gain * j + rng.normal(0.0, 0.3 * sd, k)
            frames.append(
                pd.DataFrame(
                    {
                        "province_code": list(surface.codes),
                        "province_name": names.loc[list(surface.codes), "name"].to_numpy(),
                        "period": period,
                        "indicator": name,
                        "value": np.round(np.clip(value, lo, hi), 1),
                        "unit": unit,
                        "source": SAMPLE_SOURCE,
                    }
                )
            )
    df = pd.concat(frames, ignore_index=True)
    df["file_code"] = df["province_code"]
    # before 1 July 2025 statistics were published for the 63 provinces: those periods carry the
    # 63-system codes and names of the merged province's predecessors (in its own file)
    old = np.array(
        [boundary_version_for_period(quarter_start(p)) == "63" for p in df["period"]], dtype=bool
    )
    if old.any():
        cw = load_crosswalk()
        pred = cw[["old_code", "old_name", "new_code"]].rename(columns={"new_code": "file_code"})
        expanded = (
            df[old]
            .drop(columns=["province_code", "province_name"])
            .merge(pred, on="file_code", how="inner")
        )
        expanded = expanded.rename(
            columns={"old_code": "province_code", "old_name": "province_name"}
        )
        df = pd.concat([df[~old], expanded[df.columns]], ignore_index=True)
    df["_i"] = df["indicator"].map({n: i for i, n in enumerate(ADOPTION_INDICATORS)})
    df = df.sort_values(["file_code", "period", "province_code", "_i"], kind="stable").drop(
        columns="_i"
    )
    df["value"] = np.char.mod("%.1f", df["value"].to_numpy(dtype=np.float64))
    return df.reset_index(drop=True)


def dti_2022_rows(codes_34: Sequence[str] | None = None) -> pd.DataFrame:
    """The real DTI 2022 provincial ranking in the long adoption format (63-system codes).

    ``dti_rank`` (unit ``rank``) for every province and ``pdti_score`` (unit ``index``) where
    published; ``source`` is the ranking's own source. ``codes_34`` keeps the old provinces that
    merged into those new provinces.
    """
    dti = load_dti_2022().reset_index(drop=True).sort_values("old_code")
    if codes_34 is not None:
        dti = dti[dti["new_code_2025"].astype(str).str.zfill(2).isin(set(codes_34))]
    src = (
        dti["score_source"]
        .fillna(DTI_URL)
        .astype(str)
        .str.replace(r"(?<![/\w])dti\.gov\.vn/", "https://dti.gov.vn/", regex=True)
    )
    base = pd.DataFrame(
        {
            "province_code": dti["old_code"].astype(str).str.zfill(2).to_numpy(),
            "province_name": dti["old_name"].astype(str).to_numpy(),
            "period": "2022",
            "source": src.to_numpy(),
        }
    )
    rank = base.assign(
        indicator="dti_rank", value=dti["rank"].astype("Int64").astype(str).to_numpy(), unit="rank"
    )
    has = dti["pdti_score"].notna().to_numpy()
    score = base[has].assign(
        indicator="pdti_score",
        value=np.char.mod("%.4f", dti["pdti_score"].to_numpy(dtype=np.float64)[has]),
        unit="index",
    )
    out = pd.concat([rank, score], ignore_index=True).sort_values(
        ["province_code", "indicator"], kind="stable"
    )
    return out.loc[:, list(ADOPTION_COLUMNS)].reset_index(drop=True)


def write_adoption_csv(rows: pd.DataFrame, path: str | PathLike[str], *, bom: bool = False) -> None:
    """Write adoption rows as UTF-8 CSV; ``bom=True`` writes a BOM and CRLF (as spreadsheet tools do)."""
    rows.loc[:, list(ADOPTION_COLUMNS)].to_csv(
        path,
        index=False,
        encoding="utf-8-sig" if bom else "utf-8",
        lineterminator="\r\n" if bom else "\n",
    )
