"""The bilingual field dictionary: every column of the published cells, summary, site and route
files, with its meaning in Vietnamese and English, its unit, its source and its short name.

The dictionary is ``geodata/data/field_dictionary.csv`` (UTF-8), one row per field and meaning::

    name, layers, short, meaning_vi, meaning_en, unit, source

``layers`` lists, ``;``-separated, the files the row describes: ``cells``, ``summary``,
``mobile_sites``, ``fixed_routes`` and ``cells_csv`` (columns the portal's CSV export of cells
adds: ``lat``, ``lon``, ``period``, ``boundary_version``, ``sample``). A name means one thing per
layer, but may mean another in another layer (``rank`` of a province summary is the rank by share
unserved; in a plan it is the build order). ``short`` is the Shapefile name (at most 10
characters, unique within a layer).

Examples
--------
>>> row = field_info("share_unserved", "cells")
>>> row["short"], row["unit"]
('share_uns', 'fraction')
>>> short_names(["share_unserved", "a_very_long_unknown_field", "a_very_long_unknown_other"], "cells")
['share_uns', 'a_very_lon', 'a_very_l_1']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = [
    "FIELD_DICTIONARY_PATH",
    "DICTIONARY_COLUMNS",
    "LAYERS",
    "SHORT_MAX",
    "load_field_dictionary",
    "layer_fields",
    "field_info",
    "short_names",
]

#: The dictionary shipped with the package.
FIELD_DICTIONARY_PATH = Path(__file__).resolve().parents[1] / "data" / "field_dictionary.csv"
DICTIONARY_COLUMNS = ("name", "layers", "short", "meaning_vi", "meaning_en", "unit", "source")
#: Layers the dictionary describes.
LAYERS = ("cells", "summary", "mobile_sites", "fixed_routes", "cells_csv")
#: Longest field name a dBase (Shapefile) table holds.
SHORT_MAX = 10


@lru_cache(maxsize=1)
def _dictionary() -> pd.DataFrame:
    table = pd.read_csv(
        FIELD_DICTIONARY_PATH, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    missing = set(DICTIONARY_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{FIELD_DICTIONARY_PATH}: missing columns {sorted(missing)}")
    return table[list(DICTIONARY_COLUMNS)]


def load_field_dictionary() -> pd.DataFrame:
    """The dictionary, one row per field and meaning (a copy; columns :data:`DICTIONARY_COLUMNS`)."""
    return _dictionary().copy()


def layer_fields(layer: str) -> pd.DataFrame:
    """The rows describing ``layer`` (one per field name), indexed by name."""
    table = _dictionary()
    mask = table["layers"].str.split(";").apply(lambda names: layer in names)
    return table.loc[mask].set_index("name", drop=False)


def field_info(name: str, layer: str) -> dict[str, str] | None:
    """The dictionary row of field ``name`` in ``layer`` (the ``cells_csv`` extras count for
    ``cells``); an unknown ``<indicator>__period`` is described from its indicator; else None."""
    layers = (layer, "cells_csv") if layer in ("cells", "cells_csv") else (layer,)
    for lay in layers:
        rows = layer_fields(lay)
        if name in rows.index:
            return {k: str(v) for k, v in rows.loc[name].to_dict().items()}
    if name.endswith("__period"):
        base = name.removesuffix("__period")
        return {
            "name": name,
            "layers": layer,
            "short": "",
            "meaning_vi": f"Kỳ của số liệu mới nhất dùng cho {base}",
            "meaning_en": f"Period of the latest statistic used for {base}",
            "unit": "period",
            "source": "provincial adoption statistics",
        }
    return None


def _fallback_short(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "field"
    return text[:SHORT_MAX]


def short_names(names: Iterable[str], layer: str) -> list[str]:
    """Shapefile names of ``names`` in ``layer``: the dictionary's short name, else the name cut
    to 10 characters; made unique (case-insensitively, as dBase compares) with ``_1``, ``_2`` ...
    """
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        info = field_info(name, layer)
        short = (info or {}).get("short") or _fallback_short(name)
        short = short[:SHORT_MAX]
        candidate, i = short, 0
        while candidate.lower() in taken:
            i += 1
            suffix = f"_{i}"
            candidate = short[: SHORT_MAX - len(suffix)] + suffix
        taken.add(candidate.lower())
        out.append(candidate)
    return out
