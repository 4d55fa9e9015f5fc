"""Mobile radio technologies, ordered once.

Every merge of coverage sources takes the higher rank; no per-source CASE strings.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["TECH_RANK", "RADIO_TO_TECH", "RADIO_ALIASES", "tech_rank", "tech_name"]

#: Technologies from worst to best; the index is the rank.
TECH_RANK: tuple[str, ...] = ("none", "2G", "3G", "4G", "5G")

#: OpenCelliD / MLS ``radio`` values to technology generation.
#: CDMA is counted as 2G: OpenCelliD's CDMA rows are cdmaOne/CDMA2000 1x networks (Vietnam's
#: S-Fone, closed in 2012), not EV-DO broadband.
RADIO_TO_TECH: dict[str, str] = {"GSM": "2G", "CDMA": "2G", "UMTS": "3G", "LTE": "4G", "NR": "5G"}

#: Other spellings met in exports and hand-made files, read as the canonical radio (upper case,
#: spaces and hyphens removed first): a generation written as text, WCDMA/HSPA for UMTS, ...
RADIO_ALIASES: dict[str, str] = {
    "2G": "GSM",
    "3G": "UMTS",
    "WCDMA": "UMTS",
    "HSPA": "UMTS",
    "4G": "LTE",
    "LTEA": "LTE",
    "5G": "NR",
    "5GNR": "NR",
    "NR5G": "NR",
}


def tech_rank(names: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Ranks of technology names (``"none"``, ``"2G"`` ... ``"5G"``); unknown names raise."""
    arr = np.asarray(names, dtype=object)
    codes = pd.Categorical(arr.ravel(), categories=TECH_RANK).codes
    if (codes < 0).any():
        unknown = sorted({str(v) for v in arr.ravel()[codes < 0]})
        raise ValueError(f"unknown technology {unknown}; known: {TECH_RANK}")
    return codes.astype(np.int8).reshape(arr.shape)


def tech_name(ranks: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Technology names of ranks (inverse of :func:`tech_rank`)."""
    return np.asarray(TECH_RANK)[np.asarray(ranks, dtype=np.intp)]
