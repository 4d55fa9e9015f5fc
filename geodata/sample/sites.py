"""Synthetic cell sites in the OpenCelliD / MLS CSV layout, for three synthetic operators.

Sites are drawn from the real population surface: many in cities and along main roads, few in the
uplands. 5G (NR) only in and near big cities, LTE widespread, remote areas only GSM/UMTS. Operators
are "Operator A/B/C" with the unassigned MNCs 91/92/93 of MCC 452: never a real operator's name or
MNC. Each row is one cell (one technology on one site), with a realistic range per technology.

Examples
--------
>>> table = synthetic_cells(surface, np.random.default_rng(1), n_cells=500)   # doctest: +SKIP
>>> write_cells_csv(table, "cell_sites/sample_cell_towers_452.csv")           # doctest: +SKIP
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import numpy.typing as npt
import pandas as pd

from geodata.sample.surface import PopulationSurface

__all__ = [
    "MCC",
    "OPERATORS",
    "RADIOS",
    "RADIO_RANGE_M",
    "OPENCELLID_COLUMNS",
    "synthetic_cells",
    "write_cells_csv",
]

MCC = 452
#: Synthetic operators: (short key, display name, MNC). MNCs 91-93 are not assigned in Vietnam.
OPERATORS: tuple[tuple[str, str, int], ...] = (
    ("opa", "Operator A", 91),
    ("opb", "Operator B", 92),
    ("opc", "Operator C", 93),
)
_OPERATOR_SHARE = np.array([0.45, 0.33, 0.22])
#: OpenCelliD radio values, worst to best.
RADIOS: tuple[str, ...] = ("GSM", "UMTS", "LTE", "NR")
#: Cell range (metres) per radio: rural cells reach the upper end, dense urban cells the lower.
RADIO_RANGE_M: dict[str, tuple[int, int]] = {
    "GSM": (3000, 8000),
    "UMTS": (2000, 5000),
    "LTE": (1000, 4000),
    "NR": (300, 1000),
}
OPENCELLID_COLUMNS: tuple[str, ...] = (
    "radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range",
    "samples", "changeable", "created", "updated", "averageSignal",
)  # fmt: skip

# first day a radio could have been observed in Vietnam, and the snapshot's last day (unix seconds)
_LAUNCH = {"GSM": 1325376000, "UMTS": 1325376000, "LTE": 1491004800, "NR": 1728950400}
SNAPSHOT_END = 1790812799  # 2026-09-30 23:59:59 UTC, the end of the sample's last quarter
_SIGNAL_DBM = {"GSM": (-100, -60), "UMTS": (-105, -70), "LTE": (-115, -80), "NR": (-110, -75)}
_UNIT_MAX = {"GSM": 0, "UMTS": 512, "LTE": 504, "NR": 1008}


_COARSE_PX = 8  # coverage layer: at most one site per block of 8 x 8 WorldPop pixels (~8 km)
_COVERAGE_SHARE = 0.3  # share of the cells that go to the rural coverage layer


def _coverage_sites(
    surface: PopulationSurface, rng: np.random.Generator, n_max: int
) -> npt.NDArray[np.int64]:
    """Pixels of rural coverage sites: one per populated ~8 km block, on a populous pixel.

    The pixel inside a block is drawn with probability proportional to its population (Gumbel-max
    trick, all blocks at once); blocks are kept with probability growing with their population.
    """
    block = (surface.rows // _COARSE_PX) * (
        surface.shape[1] // _COARSE_PX + 1
    ) + surface.cols // _COARSE_PX
    key = np.log(surface.pop) + rng.gumbel(size=surface.pop.size)
    order = np.lexsort((key, block))
    last = np.flatnonzero(np.r_[block[order][1:] != block[order][:-1], True])
    chosen = order[last]  # the pixel with the largest key of each block
    uniq, inv = np.unique(block, return_inverse=True)
    block_pop = np.bincount(inv, weights=surface.pop)[np.searchsorted(uniq, block[chosen])]
    keep = rng.random(chosen.size) < np.clip(block_pop / 8000.0, 0.0, 1.0) ** 0.7
    chosen = chosen[keep]
    if chosen.size > n_max:
        chosen = np.sort(rng.choice(chosen, size=n_max, replace=False))
    return chosen


def _radio_flags(
    surface: PopulationSurface,
    idx: npt.NDArray[np.int64],
    rural: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> npt.NDArray[np.bool_]:
    """Which radios each site carries: shape (n_sites, 4) in :data:`RADIOS` order."""
    u = surface.urban[idx]
    big_city = (u > 0.9) & (surface.settlement[idx] > 5.7)
    draws = rng.random((idx.size, 4))
    gsm = draws[:, 0] < np.where(rural, np.where(u < 0.2, 0.9, 0.6), np.where(u < 0.25, 0.6, 0.2))
    umts = draws[:, 1] < np.where(rural, 0.7, 0.3 + 0.3 * (1.0 - u))
    lte = draws[:, 2] < np.where(
        rural, np.clip((u - 0.03) / 0.15, 0.0, 0.9), np.clip((u - 0.05) / 0.2, 0.0, 0.95)
    )
    nr = big_city & ~rural & (draws[:, 3] < 0.6)
    none = ~(gsm | umts | lte | nr)
    gsm |= none & (u < 0.3)
    umts |= none & (u >= 0.3)
    return np.column_stack([gsm, umts, lte, nr])


def synthetic_cells(
    surface: PopulationSurface,
    rng: np.random.Generator,
    n_cells: int,
    snapshot_end: int = SNAPSHOT_END,
) -> pd.DataFrame:
    """Draw ``n_cells`` synthetic cells on the population surface, OpenCelliD columns.

    Two layers of sites: a rural coverage layer (one site per populated ~8 km block, long ranges,
    mostly GSM/UMTS) and a capacity layer drawn in proportion to ``pop**0.8 * (0.1 + urban) *
    (0.3 + road)`` (dense in cities and along roads). Sites are jittered inside their pixel and
    carry one to four radios. The result has the :data:`OPENCELLID_COLUMNS` plus ``operator``
    (index into :data:`OPERATORS`), sorted by radio, net, area, cell.
    """
    n_cells = max(int(n_cells), 0)
    rural_idx = _coverage_sites(surface, rng, int(_COVERAGE_SHARE * n_cells / 1.8))
    n_capacity = n_cells  # at least one cell per site: enough sites, truncated below
    w = surface.pop**0.8 * (0.1 + surface.urban) * (0.3 + surface.road)
    cap_idx = (
        rng.choice(surface.pop.size, size=n_capacity, p=w / w.sum())
        if n_capacity
        else np.zeros(0, np.int64)
    )
    idx = np.concatenate([rural_idx, cap_idx]).astype(np.int64)
    rural = np.arange(idx.size) < rural_idx.size
    n_sites = idx.size
    px = surface.pixel_deg
    lon = surface.lon[idx] + (rng.random(n_sites) - 0.5) * px
    lat = surface.lat[idx] + (rng.random(n_sites) - 0.5) * px
    operator = rng.choice(len(OPERATORS), size=n_sites, p=_OPERATOR_SHARE)
    flags = _radio_flags(surface, idx, rural, rng)
    site_of_cell, radio_of_cell = np.nonzero(flags)  # row-major: site order, then radio order
    site_of_cell, radio_of_cell = site_of_cell[:n_cells], radio_of_cell[:n_cells]

    n = site_of_cell.size
    u = surface.urban[idx][site_of_cell]
    radio = np.asarray(RADIOS)[radio_of_cell]
    lo = np.array([RADIO_RANGE_M[r][0] for r in RADIOS])[radio_of_cell]
    hi = np.array([RADIO_RANGE_M[r][1] for r in RADIOS])[radio_of_cell]
    reach = np.where(rural[site_of_cell], 0.6 + 0.4 * (1.0 - u), 0.1 + 0.8 * (1.0 - u))
    frac = np.clip(reach + rng.normal(0.0, 0.12, n), 0.0, 1.0)
    rng_m = np.round((lo + (hi - lo) * frac) / 10.0).astype(np.int64) * 10

    op = operator[site_of_cell]
    net = np.array([o[2] for o in OPERATORS])[op]
    c_lat, c_lon = lat[site_of_cell], lon[site_of_cell]
    # location / tracking areas: a 0.3 degree grid, numbered per operator family of radios
    area_grid = np.floor((c_lat - 8.0) / 0.3).astype(np.int64) * 30 + np.floor(
        (c_lon - 102.0) / 0.3
    ).astype(np.int64)
    area = np.where(radio_of_cell >= 2, 20000, 1000) + np.clip(area_grid, 0, 9999)

    # cell identities, unique per (radio, net): a running number per group, shuffled
    group = radio_of_cell * 10 + op
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], group[order])
    running = np.empty(n, dtype=np.int64)
    running[order] = np.arange(n) - starts
    sector = rng.integers(1, 4, n)
    cell = np.select(
        [radio_of_cell == 0, radio_of_cell == 1, radio_of_cell == 2],
        [
            1 + running % 65535,  # GSM CID (16 bit)
            (100 + running // 3000) * 65536 + 1 + running % 3000,  # UMTS RNC << 16 | CID
            (100000 + running) * 256 + sector,  # LTE ECI = eNB << 8 | sector
        ],
        default=(200000 + running) * 4096 + sector,  # NR NCI = gNB << 12 | cell
    )
    unit_max = np.array([_UNIT_MAX[r] for r in RADIOS])[radio_of_cell]
    unit = pd.array(
        np.where(unit_max > 0, rng.integers(0, 1 << 20, n) % np.maximum(unit_max, 1), 0),
        dtype="Int64",
    )
    unit[radio_of_cell == 0] = pd.NA

    samples = 1 + rng.poisson(rng.gamma(1.2, (15.0 + 250.0 * u) / 1.2))
    changeable = (rng.random(n) < 0.93).astype(np.int64)
    launch = np.array([_LAUNCH[r] for r in RADIOS])[radio_of_cell]
    end = max(int(snapshot_end), int(launch.max(initial=0)) + 1)
    created = launch + (rng.random(n) * (end - launch)).astype(np.int64)
    updated = created + (rng.random(n) * (end - created)).astype(np.int64)
    s_lo = np.array([_SIGNAL_DBM[r][0] for r in RADIOS])[radio_of_cell]
    s_hi = np.array([_SIGNAL_DBM[r][1] for r in RADIOS])[radio_of_cell]
    signal = np.where(
        rng.random(n) < 0.6, 0, s_lo + (rng.random(n) * (s_hi - s_lo)).astype(np.int64)
    )

    df = pd.DataFrame(
        {
            "radio": radio,
            "mcc": np.full(n, MCC, dtype=np.int64),
            "net": net.astype(np.int64),
            "area": area.astype(np.int64),
            "cell": cell.astype(np.int64),
            "unit": unit,
            "lon": np.round(c_lon, 7),
            "lat": np.round(c_lat, 7),
            "range": rng_m,
            "samples": samples.astype(np.int64),
            "changeable": changeable,
            "created": created.astype(np.int64),
            "updated": updated.astype(np.int64),
            "averageSignal": signal.astype(np.int64),
            "operator": op.astype(np.int64),
        }
    )
    df["_r"] = radio_of_cell
    df = df.sort_values(["_r", "net", "area", "cell"], kind="stable").drop(columns="_r")
    return df.reset_index(drop=True)


def write_cells_csv(cells: pd.DataFrame, path: str | PathLike[str]) -> None:
    """Write cells as an OpenCelliD CSV (header, ``\\n`` line ends, empty field for no value)."""
    cells.loc[:, list(OPENCELLID_COLUMNS)].to_csv(
        path, index=False, lineterminator="\n", float_format="%.7f", encoding="utf-8"
    )
