"""What changed between two quarters' plans: the last plan's sites now served, what the new
plan adds, and the fibre units connected since.

Mobile, one row per site of either plan (``status``):

- ``now served``: a site of the previous plan around which no person is below 4G any more
  (no target of the current quarter within its radius);
- ``still needed``: a previous site with people still below 4G around it
  (``people_in_need_now``); ``rank_current`` names the current plan's site within the radius,
  if there is one (the new plan may have moved it a few cells or left it out);
- ``new in plan``: a current site with no previous site within its radius.

Fixed, one row per unit of either plan (key: res-6 parent and 34-province code): ``connected``
(no longer a gap: not in the current plan), ``still in plan`` (with both ranks), ``new in plan``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from geodata.kernels.coverage import cells_within
from geodata.kernels.sphere import km_to_chord, unit_vectors
from geodata.writers import write_csv

__all__ = ["site_plan_changes", "route_plan_changes", "write_plan_changes"]

_SITE_COLUMNS = ["h3", "lat", "lng", "place", "province_34_name", "province_63_name"]


def _h3_ints(h3: pd.Series) -> npt.NDArray[np.uint64]:
    return np.array([int(x, 16) for x in h3.astype(str)], dtype=np.uint64)


def site_plan_changes(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    targets: npt.ArrayLike,
    people: npt.ArrayLike,
    radius_km: float,
) -> pd.DataFrame:
    """Rows for every site of ``previous`` and the new sites of ``current`` (labelled site
    tables, :data:`geodata.publishing.plans.SITE_COLUMNS`); ``targets``/``people`` are the
    current quarter's targets."""
    t = np.asarray(targets, dtype=np.uint64)
    p = np.asarray(people, dtype=np.float64)
    order = np.argsort(t)
    t, p = t[order], p[order]
    chord = float(km_to_chord(radius_km))
    # people still below 4G around each previous site
    need = np.zeros(len(previous))
    if len(previous) and t.size:
        origin, cell = cells_within(_h3_ints(previous["h3"]), radius_km * 1000.0)
        pos = np.clip(np.searchsorted(t, cell), 0, t.size - 1)
        hit = t[pos] == cell
        need = np.bincount(origin[hit], weights=p[pos[hit]], minlength=len(previous))
    # the current site within the radius of each previous site, and the other way round
    rank_now = pd.array([pd.NA] * len(previous), dtype="Int64")
    new = np.ones(len(current), dtype=bool)
    if len(previous) and len(current):
        cur_tree = cKDTree(unit_vectors(current["lat"], current["lng"]))
        d, j = cur_tree.query(
            unit_vectors(previous["lat"], previous["lng"]), distance_upper_bound=chord
        )
        near = np.isfinite(d)
        ranks = current["rank"].to_numpy()
        rank_now = pd.array(
            np.where(near, ranks[np.minimum(j, len(current) - 1)], 0), dtype="Int64"
        )
        rank_now[~near] = pd.NA
        prev_tree = cKDTree(unit_vectors(previous["lat"], previous["lng"]))
        d2, _ = prev_tree.query(
            unit_vectors(current["lat"], current["lng"]), distance_upper_bound=chord
        )
        new = ~np.isfinite(d2)
    old = previous[_SITE_COLUMNS].copy()
    old.insert(0, "status", np.where(need > 0, "still needed", "now served"))
    old.insert(1, "rank_previous", previous["rank"].astype("Int64").to_numpy())
    old.insert(2, "rank_current", rank_now)
    old["people_previous"] = previous["people_new"].to_numpy()
    old["people_in_need_now"] = np.round(need, 1)
    added = current.loc[new, _SITE_COLUMNS].copy()
    added.insert(0, "status", "new in plan")
    added.insert(1, "rank_previous", pd.array([pd.NA] * int(new.sum()), dtype="Int64"))
    added.insert(2, "rank_current", current.loc[new, "rank"].astype("Int64").to_numpy())
    added["people_previous"] = np.nan
    added["people_in_need_now"] = current.loc[new, "people_new"].to_numpy()
    return pd.concat([old, added], ignore_index=True)


def route_plan_changes(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Rows for every fibre unit of either plan (labelled route tables), keyed by res-6 parent
    and 34-province code."""
    key = ["h3_res6", "province_34"]
    cols = [*key, "province_34_name", "place", "rank", "people", "km"]
    both = previous[cols].merge(
        current[cols], on=key, how="outer", suffixes=("_previous", "_current"), indicator=True
    )
    status = both["_merge"].map(
        {"left_only": "connected", "both": "still in plan", "right_only": "new in plan"}
    )
    both.insert(0, "status", status.astype(str))
    for col in ("province_34_name", "place"):
        both[col] = both[f"{col}_current"].fillna(both[f"{col}_previous"])
        both = both.drop(columns=[f"{col}_previous", f"{col}_current"])
    both = both.drop(columns="_merge")
    for col in ("rank_previous", "rank_current"):
        both[col] = both[col].astype("Int64")
    return both.sort_values(["status", "rank_current", "rank_previous"], kind="stable").reset_index(
        drop=True
    )


def write_plan_changes(
    sites: pd.DataFrame, routes: pd.DataFrame, previous: str, current: str, out_root
) -> dict[str, str]:
    """``priorities/{mobile_sites|fixed_routes}_changes_{previous}_to_{current}.csv``."""
    from pathlib import Path

    root = Path(out_root)
    paths = {
        "mobile_sites": f"priorities/mobile_sites_changes_{previous}_to_{current}.csv",
        "fixed_routes": f"priorities/fixed_routes_changes_{previous}_to_{current}.csv",
    }
    write_csv(sites, root / paths["mobile_sites"])
    write_csv(routes, root / paths["fixed_routes"])
    return paths
