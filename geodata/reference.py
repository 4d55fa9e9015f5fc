"""Shipped reference data, loaded by function call and keyed by official code.

Both province boundary sets (63 provinces until 30 June 2025, 34 since 1 July 2025, Resolution
202/2025/QH15), the 63 -> 34 crosswalk, official codes and names (with and without diacritics), the
six socio-economic regions (defined on the 63 codes), the WorldPop 2020 1 km population grid, the
GeoNames settlements and the main roads. Origins and licences: ``geodata/data/ATTRIBUTION.md``.

Examples
--------
>>> provinces = load_provinces("34")
>>> provinces.loc["79", "name"]
'Hồ Chí Minh'
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = [
    "BoundaryVersion",
    "BOUNDARY_VERSIONS",
    "BOUNDARY_VALID_FROM",
    "DATA_DIR",
    "ATTRIBUTION",
    "fold_name",
    "load_provinces",
    "load_crosswalk",
    "provinces_within",
    "in_provinces",
    "load_regions",
    "province_codes",
    "province_names",
    "boundary_version_for_period",
    "population_raster_path",
    "load_settlements",
    "load_roads",
    "load_dti_2022",
    "load_official_population_34",
]

BoundaryVersion = Literal["63", "34"]
#: The two official province systems, oldest first.
BOUNDARY_VERSIONS: tuple[BoundaryVersion, ...] = ("63", "34")
#: First day each boundary version is in force (ISO dates).
BOUNDARY_VALID_FROM: dict[str, str] = {"63": "2008-08-01", "34": "2025-07-01"}

DATA_DIR = Path(str(resources.files("geodata") / "data"))

#: Short attribution line for maps and file metadata.
ATTRIBUTION = (
    "Boundaries: Open Development Vietnam / Dept. of Survey and Mapping, CC BY-SA 4.0; "
    "population: WorldPop 2020 (doi:10.5258/SOTON/WP00671), CC BY 4.0; "
    "codes: General Statistics Office of Vietnam"
)


def fold_name(name: str) -> str:
    """Fold a Vietnamese name for matching: no diacritics, đ -> d, lower case, no prefixes/spaces.

    >>> fold_name("Thành phố Hồ Chí Minh") == fold_name("Ho Chi Minh")
    True
    """
    s = unicodedata.normalize("NFD", str(name).strip().lower().replace("đ", "d"))
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    for prefix in ("thanh pho ", "tp. ", "tp ", "tinh "):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    return "".join(ch for ch in s if ch.isalnum())


def _check_version(version: str) -> BoundaryVersion:
    if version not in BOUNDARY_VERSIONS:
        raise ValueError(f"boundary version must be one of {BOUNDARY_VERSIONS}, got {version!r}")
    return version  # type: ignore[return-value]


@lru_cache(maxsize=8)
def _provinces(version: BoundaryVersion, simplified: bool) -> gpd.GeoDataFrame:
    stem = "vn_provinces_63_pre2025" if version == "63" else "vn_provinces_34_since2025"
    path = DATA_DIR / "boundaries" / f"{stem}{'_simplified' if simplified else ''}.geojson"
    gdf = gpd.read_file(path, engine="pyogrio")
    gdf["code"] = gdf["code"].astype(str).str.zfill(2)
    return gdf.set_index("code", drop=False).sort_index()


def load_provinces(version: str, *, simplified: bool = False) -> gpd.GeoDataFrame:
    """Province polygons of one boundary version, indexed by official 2-digit code (EPSG:4326).

    Columns: ``code, name, name_ascii, type, geometry`` and, for ``"63"``, ``iso_3166_2`` and
    ``new_code``/``new_name`` (the province it belongs to since 1 July 2025); for ``"34"``,
    ``merged_from_old_codes``. ``simplified=True`` gives the ~500 m topology-preserving version.
    """
    return _provinces(_check_version(version), simplified).copy()


@lru_cache(maxsize=1)
def _crosswalk() -> pd.DataFrame:
    return pd.read_csv(
        DATA_DIR / "admin_codes" / "province_crosswalk_63_to_34.csv",
        dtype=str,
        keep_default_na=False,
    ).set_index("old_code", drop=False)


def load_crosswalk() -> pd.DataFrame:
    """63 -> 34 crosswalk, one row per old province, indexed by ``old_code``.

    Columns: ``old_code, old_name, old_name_ascii, old_iso_3166_2, new_code, new_name,
    new_name_ascii, new_type``. Every old province maps to exactly one new province.
    """
    return _crosswalk().drop(columns=["wards_in_conversion_table"]).copy()


def load_regions() -> pd.DataFrame:
    """The six socio-economic regions, one row per old (63) code, indexed by ``old_code``.

    Columns: ``old_code, old_name, region_id, region_name_vi, region_name_en, new_code, new_name``.
    Regions are defined on the 63 codes (seven new provinces span two regions).
    """
    return pd.read_csv(
        DATA_DIR / "admin_codes" / "regions_6_by_code63.csv", dtype=str, keep_default_na=False
    ).set_index("old_code", drop=False)


def provinces_within(codes_34: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The provinces of both versions that lie in the 34-version provinces ``codes_34``: each
    old province lies in exactly one new one (Resolution 202/2025), so a set of new provinces
    holds its old ones whole. ``{"34": codes_34 sorted, "63": their old provinces sorted}``."""
    wanted = set(codes_34)
    unknown = sorted(wanted - set(province_codes("34")))
    if unknown:
        raise ValueError(f"not 34-version province codes: {unknown}")
    cw = _crosswalk()
    return {
        "34": tuple(sorted(wanted)),
        "63": tuple(sorted(cw.loc[cw["new_code"].isin(wanted), "old_code"])),
    }


def in_provinces(table: pd.DataFrame, codes_34: Iterable[str], column: str = "code") -> np.ndarray:
    """Whether each row of ``table`` lies in the 34-version provinces ``codes_34`` or in an old
    province lying in them (columns ``{column}_34``, ``{column}_63``): the rows the files of
    those provinces of both versions are made of. Either version counts, because the two are
    assigned independently (each from its own boundaries), so near a border a row's old province
    need not lie in its new one."""
    within = provinces_within(codes_34)
    keep = table[f"{column}_34"].isin(within["34"]) | table[f"{column}_63"].isin(within["63"])
    return keep.to_numpy(bool)


def province_codes(version: str) -> tuple[str, ...]:
    """Official codes of one boundary version, sorted."""
    if _check_version(version) == "63":
        return tuple(sorted(_crosswalk()["old_code"]))
    return tuple(sorted(set(_crosswalk()["new_code"])))


@lru_cache(maxsize=2)
def _names(version: BoundaryVersion) -> pd.DataFrame:
    cw = _crosswalk()
    if version == "63":
        out = cw[["old_code", "old_name", "old_name_ascii"]]
    else:
        out = cw[["new_code", "new_name", "new_name_ascii"]].drop_duplicates()
    out = out.set_axis(["code", "name", "name_ascii"], axis=1)
    return out.set_index("code", drop=False).sort_index()


def province_names(version: str) -> pd.DataFrame:
    """``code, name, name_ascii`` of one boundary version, indexed by code."""
    return _names(_check_version(version)).copy()


def boundary_version_for_period(period_start: str | pd.Timestamp) -> BoundaryVersion:
    """The boundary version in force on ``period_start`` (34 from 1 July 2025, else 63)."""
    ts = pd.Timestamp(period_start)
    return "34" if ts >= pd.Timestamp(BOUNDARY_VALID_FROM["34"]) else "63"


def population_raster_path() -> Path:
    """WorldPop 2020 1 km UN-adjusted population GeoTIFF of Vietnam (97,338,584 people, CC BY 4.0).

    Used as shipped: never rescaled.
    """
    return DATA_DIR / "population" / "worldpop_vnm_ppp_2020_1km_Aggregated_UNadj.tif"


def load_settlements() -> pd.DataFrame:
    """GeoNames populated places of Vietnam (cities500 extract, CC BY 4.0).

    Columns include ``name, latitude, longitude, population, admin1code`` (a 34-system code).
    """
    return pd.read_csv(
        DATA_DIR / "settlements" / "geonames_vn_cities500.csv",
        dtype={"admin1code": str},
        keep_default_na=False,
        na_values={"population": [""], "latitude": [""], "longitude": [""]},
    )


def load_roads() -> gpd.GeoDataFrame:
    """National and provincial main roads and railways (CC BY-SA 4.0), EPSG:4326."""
    return gpd.read_file(
        DATA_DIR / "settlements" / "roads_national_provincial_giaothong.geojson", engine="pyogrio"
    )


def load_dti_2022() -> pd.DataFrame:
    """Real provincial Digital Transformation Index 2022 ranking (63 provinces), by ``old_code``.

    Source: dti.gov.vn/xep-hang-2022 (Ministry of Information and Communications).
    """
    df = pd.read_csv(DATA_DIR / "adoption" / "dti_2022_provincial_ranking.csv", dtype=str)
    for col in df.columns:
        if col.startswith(("idx_", "pdti_", "pillar_")) or col in ("rank", "year"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df.set_index("old_code", drop=False)


def load_official_population_34() -> pd.DataFrame:
    """Population and area of the 34 provinces as published with Resolution 202/2025/QH15.

    These count registered residents (national sum ~113.6 M) and differ from WorldPop by design;
    compare, never rescale.
    """
    df = pd.read_csv(
        DATA_DIR / "population" / "provinces_34_area_population_res202_2025.csv",
        dtype={"code": str},
    )
    df["population"] = df["population"].astype(np.int64)
    return df.set_index("code", drop=False)
