"""Generate the deterministic synthetic sample input directory (the pipeline's embedded default).

Real Vietnam speed tiles, cell sites and coverage rasters are not available, so the sample makes
them in the field's exact formats, shaped by the real data the package ships (WorldPop 2020 1 km
population, GeoNames settlements, main roads, 34-province boundaries). Adoption tables are synthetic
per province plus the real DTI 2022 ranking. Layout of ``out_dir``::

    SAMPLE.json                 marker: seed, scale, provinces, periods, sha256 of every file
    speed_tiles/sample_{YYYY-MM-DD}_performance_{fixed|mobile}_tiles.parquet   per kind and period
    cell_sites/sample_cell_towers_452.csv          OpenCelliD layout, operators A/B/C (MNC 91-93)
    coverage/sample_{opa|opb|opc}_{4g|5g}_coverage.tif   covered 0/1, nodata 255
    adoption/sample_{code34}_{slug}.csv            one per province (synthetic)
    adoption/real_dti_2022_provincial_ranking.csv  real DTI 2022 ranking (63-system codes)
    population/worldpop_vnm_2020_1km_clip.tif      real WorldPop window, only for a province slice
    population/synthetic_pop_3arcsec_from_worldpop_2020_1km.tif   national mode only (SYNTHETIC)

``national=True`` makes the national-size benchmark input (``python -m geodata.sample --national``):
~1 M speed tiles per quarter, 500 k cells, coverage at 250 m, population at ~100 m.

The same arguments give byte-identical files (no wall-clock time is written anywhere). The
directory is built next to ``out_dir`` and moved into place whole.

Examples
--------
>>> manifest = generate_sample("/tmp/sample", provinces_34=["79"], scale=0.1)  # doctest: +SKIP
>>> manifest.counts["cells"] > 0                                                # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from geodata.inputs import quarter_end_unix, quarter_start
from geodata.provenance import sha256_file
from geodata.reference import population_raster_path
from geodata.sample.adoption import (
    adoption_rows,
    dti_2022_rows,
    province_slug,
    write_adoption_csv,
)
from geodata.sample.coverage import CoverageGrid, best_rank_grid, covered_mask, write_coverage_tif
from geodata.sample.population import fine_population_name, write_fine_population
from geodata.sample.sites import MCC, OPERATORS, RADIOS, synthetic_cells, write_cells_csv
from geodata.sample.speeds import synthetic_tiles, write_ookla_parquet
from geodata.sample.surface import PopulationSurface, build_surface
from geodata.technology import RADIO_TO_TECH, TECH_RANK

__all__ = [
    "SampleManifest",
    "generate_sample",
    "DEFAULT_SEED",
    "DEFAULT_PERIODS",
    "TARGET_COUNTS",
    "SAMPLE_NOTE",
    "NATIONAL_COUNTS",
    "national_grids",
    "ensure_sample",
]

DEFAULT_SEED = 20250701
#: Eight quarters: the scorecard's trends need a history (the first quarter after 5G launched in
#: October 2024, to the latest); only the latest quarters are published in full (see run.py).
DEFAULT_PERIODS: tuple[str, ...] = (
    "2024Q4",
    "2025Q1",
    "2025Q2",
    "2025Q3",
    "2025Q4",
    "2026Q1",
    "2026Q2",
    "2026Q3",
)
#: National counts at ``scale=1.0``: tiles per period (first period) and cells.
TARGET_COUNTS: dict[str, int] = {"fixed": 80_000, "mobile": 60_000, "cells": 15_000}
#: National-size input (``national=True``) at ``scale=1.0``: ~1 M tiles per quarter, 500 k cells;
#: population at 3 arc-seconds (~100 m) and coverage at 0.0025 degrees / 250 m (see national_grids).
NATIONAL_COUNTS: dict[str, int] = {"fixed": 600_000, "mobile": 450_000, "cells": 500_000}
SAMPLE_NOTE = "SYNTHETIC sample data shaped by real WorldPop/GeoNames/roads; not measurements"
GENERATOR = "geodata.sample"
#: Bumped when the generator's output changes for the same arguments (a cached sample with an
#: older number is regenerated): 2 = eight quarters, sites switching on by ``created``.
SAMPLE_FORMAT = 4

_STREAMS = {"cells": 1, "fixed": 2, "mobile": 3, "adoption": 4, "population": 5}
_COVERAGE_RES_DEG = 0.01
_UTM_EPSG, _UTM_RES_M = 32648, 1000.0
#: The sample's coverage maps: ~280 m pixels, fine enough beside 0.74 km² hexagons that a map
#: dated at the last quarter adds no coverage the sites do not already give (a 1 km pixel would
#: spread a 1 km 5G circle over up to twice its area).
_RASTER_RES_DEG, _RASTER_UTM_M = 0.0025, 250.0
_PROJECTED = ("opc", "4G")  # one raster in UTM 48N, to exercise "any CRS"
_TECH_RADIO = {"4G": "LTE", "5G": "NR"}
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


@dataclass(frozen=True)
class SampleManifest:
    """What :func:`generate_sample` wrote.

    Attributes
    ----------
    out_dir : the sample directory
    files : relative POSIX paths of every file (SAMPLE.json included), sorted
    counts : rows or files per kind (``speed_tiles_fixed_2026Q2``, ``cells``, ``cells_LTE``, ...)
    seed, scale, provinces_34, periods : the arguments
    """

    out_dir: Path
    files: list[str]
    counts: dict[str, int]
    seed: int
    scale: float
    provinces_34: tuple[str, ...] | None = None
    periods: tuple[str, ...] = DEFAULT_PERIODS
    sha256: dict[str, str] = field(default_factory=dict)


def national_grids(scale: float) -> tuple[int, float, float]:
    """Raster sizes of the national input at ``scale``: (population split of each 1 km pixel,
    coverage resolution in degrees, in UTM metres). Pixel counts scale with ``scale`` too:
    1.0 -> (10, 0.0025, 250), 0.5 -> (7, 0.00354, 354), 0.25 -> (5, 0.005, 500).
    """
    root = float(np.sqrt(scale))
    split = max(2, int(round(10 * root)))
    return split, round(0.0025 / root, 5), float(round(250.0 / root))


def _check_periods(periods: Sequence[str]) -> tuple[str, ...]:
    out = tuple(str(p).strip().upper() for p in periods)
    bad = [p for p in out if not _QUARTER.match(p)]
    if not out or bad:
        raise ValueError(f"periods must be quarters like '2026Q2', got {list(periods)}")
    if list(out) != sorted(set(out)):
        raise ValueError(f"periods must be distinct and in time order, got {list(periods)}")
    return out


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAMS[stream]])


def _write_cells_and_coverage(
    tmp: Path,
    surface: PopulationSurface,
    seed: int,
    n_cells: int,
    counts: dict[str, int],
    res: tuple[float, float] = (_COVERAGE_RES_DEG, _UTM_RES_M),
    periods: tuple[str, ...] = DEFAULT_PERIODS,
) -> tuple[CoverageGrid, list[np.ndarray]]:
    """Cell sites CSV (created up to the end of the last period) and coverage GeoTIFFs at ``res``
    (degrees, UTM metres) as of that date; returns the best-technology grid of each period (from
    the sites created by its end; always at ``_COVERAGE_RES_DEG``) the mobile tiles are drawn
    with."""
    end = quarter_end_unix(periods[-1])
    cells = synthetic_cells(surface, _rng(seed, "cells"), n_cells, snapshot_end=end)
    (tmp / "cell_sites").mkdir()
    write_cells_csv(cells, tmp / "cell_sites" / f"sample_cell_towers_{MCC}.csv")
    counts["cells"] = len(cells)
    for radio in RADIOS:
        counts[f"cells_{radio}"] = int((cells["radio"] == radio).sum())

    geo = CoverageGrid.geographic(surface.bbox, res[0])
    geo_inside = geo.inside_mask(surface.codes)
    (tmp / "coverage").mkdir()
    for op_index, (key, name, mnc) in enumerate(OPERATORS):  # three operators
        for tech, radio in _TECH_RADIO.items():  # two technologies
            sel = (cells["operator"] == op_index).to_numpy() & (cells["radio"] == radio).to_numpy()
            if (key, tech) == _PROJECTED:
                grid = CoverageGrid.projected(surface.bbox, _UTM_EPSG, res[1])
                inside = grid.inside_mask(surface.codes)
            else:
                grid, inside = geo, geo_inside
            covered = covered_mask(grid, cells["lon"][sel], cells["lat"][sel], cells["range"][sel])
            tags = {
                "GAP_MONITOR_SAMPLE": "true",
                "SYNTHETIC": "true",
                "GENERATOR": GENERATOR,
                "OPERATOR": name,
                "MCC_MNC": f"{MCC}-{mnc}",
                "TECHNOLOGY": tech,
                "VALUES": "1 covered, 0 not covered, 255 nodata (outside the area)",
                "NOTE": SAMPLE_NOTE,
                # the coverage map's date (TIFF DateTime): the pipeline uses it from then on
                "TIFFTAG_DATETIME": datetime.fromtimestamp(end, UTC).strftime("%Y:%m:%d 00:00:00"),
            }
            write_coverage_tif(
                tmp / "coverage" / f"sample_{key}_{tech.lower()}_coverage.tif",
                grid,
                covered,
                inside,
                tags,
            )
            counts[f"coverage_{key}_{tech.lower()}_pixels"] = int((covered & inside).sum())
    counts["coverage_rasters"] = len(OPERATORS) * len(_TECH_RADIO)
    radio_index = cells["radio"].map({r: i for i, r in enumerate(RADIOS)}).to_numpy(dtype=np.int64)
    rank = np.array([TECH_RANK.index(RADIO_TO_TECH[r]) for r in RADIOS])[radio_index]
    if res[0] != _COVERAGE_RES_DEG:  # the tiles only need the technology on a ~1 km grid
        geo = CoverageGrid.geographic(surface.bbox, _COVERAGE_RES_DEG)
        geo_inside = geo.inside_mask(surface.codes)
    created = cells["created"].to_numpy(np.int64)
    bests = []
    for period in periods:
        on = created <= quarter_end_unix(period)
        best = best_rank_grid(geo, cells["lon"][on], cells["lat"][on], cells["range"][on], rank[on])
        bests.append(np.where(geo_inside, best, 0).astype(np.uint8))
    return geo, bests


def _write_speed_tiles(
    tmp: Path,
    surface: PopulationSurface,
    seed: int,
    share: float,
    scale: float,
    periods: tuple[str, ...],
    tech: tuple[CoverageGrid, list[np.ndarray]],
    counts: dict[str, int],
    targets: dict[str, int] = TARGET_COUNTS,
) -> None:
    grid, bests = tech
    (tmp / "speed_tiles").mkdir()
    for kind in ("fixed", "mobile"):  # two kinds
        tables = synthetic_tiles(
            surface,
            _rng(seed, kind),
            kind=kind,  # type: ignore[arg-type]
            n_tiles=targets[kind] * scale * share,
            n_periods=len(periods),
            tech_at=lambda lon, lat, j: grid.lookup(bests[j], lon, lat),
        )
        for period, table in zip(periods, tables, strict=True):  # a handful of periods
            meta = {
                b"gap_monitor:sample": b"true",
                b"gap_monitor:synthetic": b"true",
                b"gap_monitor:generator": GENERATOR.encode(),
                b"gap_monitor:seed": str(seed).encode(),
                b"gap_monitor:period": period.encode(),
                b"gap_monitor:note": SAMPLE_NOTE.encode(),
            }
            name = f"sample_{quarter_start(period)}_performance_{kind}_tiles.parquet"
            write_ookla_parquet(table, tmp / "speed_tiles" / name, meta)
            counts[f"speed_tiles_{kind}_{period}"] = table.num_rows
            counts[f"tests_{kind}_{period}"] = int(np.asarray(table["tests"]).sum())


def _write_adoption(
    tmp: Path,
    surface: PopulationSurface,
    seed: int,
    periods: tuple[str, ...],
    subset: bool,
    counts: dict[str, int],
) -> None:
    (tmp / "adoption").mkdir()
    rows = adoption_rows(surface, _rng(seed, "adoption"), periods)
    for code in surface.codes:  # one file per province
        # odd codes come "from a spreadsheet": BOM and CRLF; even codes plain UTF-8
        write_adoption_csv(
            rows[rows["file_code"] == code],
            tmp / "adoption" / f"sample_{code}_{province_slug(code)}.csv",
            bom=int(code) % 2 == 1,
        )
    counts["adoption_files"] = len(surface.codes)
    dti = dti_2022_rows(surface.codes if subset else None)
    write_adoption_csv(dti, tmp / "adoption" / "real_dti_2022_provincial_ranking.csv")
    counts["dti_rows"] = len(dti)


def _population_window(surface: PopulationSurface) -> Window:
    """Window of the WorldPop grid covering the selection's bbox."""
    west, south, east, north = surface.bbox
    with rasterio.open(population_raster_path()) as src:
        t = src.transform
        col0 = max(int(np.floor((west - t.c) / t.a)), 0)
        row0 = max(int(np.floor((north - t.f) / t.e)), 0)
        col1 = min(int(np.ceil((east - t.c) / t.a)), src.width)
        row1 = min(int(np.ceil((south - t.f) / t.e)), src.height)
    return Window(col0, row0, col1 - col0, row1 - row0)


def _write_population_fine(
    tmp: Path, surface: PopulationSurface, seed: int, split: int, subset: bool
) -> dict[str, float]:
    """National mode: the WorldPop grid split ``split x split`` (SYNTHETIC inside each 1 km pixel)."""
    (tmp / "population").mkdir()
    area = f"provinces {','.join(surface.codes)}" if subset else "Vietnam"
    return write_fine_population(
        tmp / "population" / fine_population_name(split),
        split=split,
        seed=seed,
        window=_population_window(surface) if subset else None,
        tags={
            "GAP_MONITOR_SAMPLE": "true",
            "SYNTHETIC": "true",
            "GENERATOR": GENERATOR,
            "SOURCE": "WorldPop 2020 1 km UN-adjusted population counts, Vietnam (doi:10.5258/SOTON/WP00671)",
            "LICENSE": "CC BY 4.0",
            "ATTRIBUTION": "WorldPop (www.worldpop.org, University of Southampton)",
            "NOTE": f"SYNTHETIC: each 1 km WorldPop pixel over {area} split into {split}x{split} "
            "pixels with random weights that keep its sum (national benchmark input)",
        },
    )


def _write_population_clip(tmp: Path, surface: PopulationSurface) -> None:
    """The real WorldPop grid, windowed to the selection's bbox, values unchanged."""
    window = _population_window(surface)
    col0, row0 = int(window.col_off), int(window.row_off)
    with rasterio.open(population_raster_path()) as src:
        t = src.transform
        data = src.read(1, window=window)
        profile = {
            "driver": "GTiff",
            "dtype": src.dtypes[0],
            "count": 1,
            "width": window.width,
            "height": window.height,
            "crs": src.crs,
            "transform": Affine(t.a, 0.0, t.c + col0 * t.a, 0.0, t.e, t.f + row0 * t.e),
            "nodata": src.nodata,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "LZW",
        }
    (tmp / "population").mkdir()
    with rasterio.open(
        tmp / "population" / "worldpop_vnm_2020_1km_clip.tif", "w", **profile
    ) as dst:
        dst.write(data, 1)
        dst.update_tags(
            SOURCE="WorldPop 2020 1 km UN-adjusted population counts, Vietnam (doi:10.5258/SOTON/WP00671)",
            LICENSE="CC BY 4.0",
            ATTRIBUTION="WorldPop (www.worldpop.org, University of Southampton)",
            SYNTHETIC="false",
            NOTE=f"real data: window of the shipped grid over provinces {','.join(surface.codes)}; values unchanged",
        )
        dst.set_band_description(1, "persons per pixel")


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` directory to ``out``, replacing a previous one whole."""
    if not out.exists():
        os.replace(tmp, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    aside.rmdir()
    os.replace(out, aside)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def generate_sample(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    provinces_34: Sequence[str] | None = None,
    periods: Sequence[str] = DEFAULT_PERIODS,
    national: bool = False,
) -> SampleManifest:
    """Write the synthetic sample input directory (layout in the module docstring).

    Parameters
    ----------
    out_dir : directory to create or replace (it must be absent, empty, or a previous sample:
        a directory holding other files and no ``SAMPLE.json`` is never deleted)
    seed : seed of every random draw; equal arguments give byte-identical files
    scale : multiplies tile and cell counts (1.0: ~80k fixed and ~60k mobile tiles per period and
        ~15k cells nationally; a province slice gets its population share of these)
    provinces_34 : 34-system province codes to generate only that area (fast, for tests), or None
        for the whole country; a slice also gets the clipped real WorldPop grid
    periods : quarters (``"2026Q2"``), in time order; the later ones are a little better
    national : national-size benchmark input: :data:`NATIONAL_COUNTS` x ``scale`` tiles and
        cells, coverage rasters at 250 m and a SYNTHETIC ~100 m population grid split from the
        1 km WorldPop one (``population/``); ``scale`` also shrinks the raster pixel counts
        (:func:`national_grids`), so a fraction of the input is a fraction of every kind

    Returns
    -------
    SampleManifest

    Raises
    ------
    ValueError
        Bad ``scale``, ``periods`` or province codes.
    FileExistsError
        ``out_dir`` holds files that are not a previous sample.
    """
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    seed = int(seed)
    period_t = _check_periods(periods)
    out = Path(out_dir).absolute()
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / "SAMPLE.json").exists())
    ):
        raise FileExistsError(
            f"{out}: exists and is not a previous sample (no SAMPLE.json); not replacing it"
        )
    surface = build_surface(provinces_34)
    subset = provinces_34 is not None
    share = float(surface.pop.sum() / surface.national_pop)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the sample is an ordinary directory
    counts: dict[str, int] = {}
    targets = NATIONAL_COUNTS if national else TARGET_COUNTS
    split, res_deg, res_m = (
        national_grids(scale) if national else (1, _RASTER_RES_DEG, _RASTER_UTM_M)
    )
    try:
        tech = _write_cells_and_coverage(
            tmp,
            surface,
            seed,
            round(targets["cells"] * scale * share),
            counts,
            (res_deg, res_m),
            period_t,
        )
        _write_speed_tiles(tmp, surface, seed, share, scale, period_t, tech, counts, targets)
        _write_adoption(tmp, surface, seed, period_t, subset, counts)
        if national:
            pop = _write_population_fine(tmp, surface, seed, split, subset)
            counts["population_pixels"] = int(pop["pixels"])
            counts["population_valid_pixels"] = int(pop["valid_pixels"])
        elif subset:
            _write_population_clip(tmp, surface)
        counts["population_rasters"] = int(subset or national)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        sha = {f: sha256_file(tmp / f) for f in files}
        marker = {
            "sample": True,
            "synthetic": True,
            "generator": GENERATOR,
            "format": SAMPLE_FORMAT,
            "seed": seed,
            "scale": scale,
            "provinces_34": list(surface.codes) if subset else None,
            "periods": list(period_t),
            **(
                {
                    "national": True,
                    "population_split": split,
                    "coverage_res_deg": res_deg,
                    "coverage_res_utm_m": res_m,
                }
                if national
                else {}
            ),
            "note": SAMPLE_NOTE,
            "real_data_included": [
                "adoption/real_dti_2022_provincial_ranking.csv (DTI 2022, dti.gov.vn)",
                *(
                    ["population/worldpop_vnm_2020_1km_clip.tif (WorldPop 2020, CC BY 4.0)"]
                    if subset and not national
                    else []
                ),
            ],
            "counts": counts,
            "files": sha,
        }
        (tmp / "SAMPLE.json").write_text(
            json.dumps(marker, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SampleManifest(
        out_dir=out,
        files=sorted([*files, "SAMPLE.json"]),
        counts=counts,
        seed=seed,
        scale=scale,
        provinces_34=surface.codes if subset else None,
        periods=period_t,
        sha256=sha,
    )


def ensure_sample(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    provinces_34: Sequence[str] | None = None,
    periods: Sequence[str] = DEFAULT_PERIODS,
    national: bool = False,
) -> tuple[Path, bool]:
    """The sample of these arguments in ``out_dir``: reused when its ``SAMPLE.json`` marker
    records the same arguments, generated (replacing it) otherwise. Returns (path, generated).
    """
    out = Path(out_dir).absolute()
    marker = out / "SAMPLE.json"
    if marker.exists():
        m = json.loads(marker.read_text(encoding="utf-8"))
        codes = None if provinces_34 is None else sorted({str(c).zfill(2) for c in provinces_34})
        same = (
            m.get("generator") == GENERATOR
            and m.get("format") == SAMPLE_FORMAT
            and m.get("seed") == int(seed)
            and m.get("scale") == scale
            and m.get("provinces_34") == codes
            and m.get("periods") == list(_check_periods(periods))
            and bool(m.get("national", False)) == bool(national)
        )
        if same and all((out / f).is_file() for f in m.get("files", {})):
            return out, False
    generate_sample(
        out, seed=seed, scale=scale, provinces_34=provinces_34, periods=periods, national=national
    )
    return out, True
