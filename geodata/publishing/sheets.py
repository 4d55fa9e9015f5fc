"""A printable A4 sheet of one province and quarter, as a one-page PDF (matplotlib).

Vietnamese first with the English beside it, everywhere on the sheet. The sheet holds a title
(province, boundary version, quarter), a red banner when the inputs are the synthetic sample, a
map of the province's H3 cells (coloured by service class, or by share unserved for aggregated
cells) over its neighbours' outlines with Hoàng Sa / Trường Sa in their own panel when the
province has parts there, the headline figures against the previous quarter, the province's
target statuses, the plan's first mobile sites, and a footer with sources, licence and time.

Text is set in matplotlib's bundled DejaVu Sans, which carries every Vietnamese diacritic, embedded
as TrueType subsets (``pdf.fonttype`` 42) so that the PDF prints and copies the same anywhere.
Nothing here imports dagster or the portal: callers pass plain data.

Examples
--------
>>> _people(1234567.4), _pct(0.12345), _signed(-1500, _people)
('1\\u202f234\\u202f567', '12.3 %', '\\u22121\\u202f500')
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import PercentFormatter

from geodata.indicators.targets import INDICATORS
from geodata.publishing.maps import ARCHIPELAGOS, CLASS_COLOURS, ISLANDS_FRAME
from geodata.reference import ATTRIBUTION

__all__ = ["A4_INCHES", "SHEET_FORMAT", "CLASS_LABELS", "province_sheet_pdf"]

#: A4 portrait in inches.
A4_INCHES = (8.27, 11.69)
#: Bumped whenever the layout changes, so that caches keyed on it render sheets anew.
SHEET_FORMAT = "1"

#: ``(Vietnamese, English)`` names of the service classes, worst first.
CLASS_LABELS: dict[str, tuple[str, str]] = {
    "unserved": ("Chưa được phục vụ", "Unserved"),
    "underserved": ("Phục vụ chưa đủ", "Underserved"),
    "served": ("Được phục vụ", "Served"),
    "no_data": ("Không có số liệu", "No data"),
}

_STATUS_LABELS: dict[str, tuple[str, str, str]] = {
    "met": ("Đã đạt", "met", "#1a9850"),
    "on track": ("Đúng lộ trình", "on track", "#66a61e"),
    "off track": ("Chậm lộ trình", "off track", "#d73027"),
    "not measurable": ("Không đánh giá được", "not measurable", "#777777"),
}

_VERSION_LABELS: dict[str, tuple[str, str]] = {
    "34": ("Hệ 34 tỉnh, thành phố (từ 01/07/2025)", "34-province system (since 1 July 2025)"),
    "63": ("Hệ 63 tỉnh, thành phố (đến 30/06/2025)", "63-province system (until 30 June 2025)"),
}

_RC = {
    "pdf.fonttype": 42,  # TrueType, embedded as a subset: Vietnamese prints and copies as text
    "pdf.compression": 6,
    "font.family": "DejaVu Sans",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "text.usetex": False,
    "axes.unicode_minus": True,
    "path.simplify": True,
}
#: rcParams are global: one sheet at a time (the portal renders in worker threads).
_LOCK = threading.Lock()

_INK = "#222222"
_GREY = "#666666"
_RED = "#c62828"
_NEIGHBOUR = "#efefef"
_SEA = "#eef4f8"
_SHARE_CMAP = matplotlib.colormaps["OrRd"]
#: Resolution of the rasterised cells layer (the text stays vector).
_RASTER_DPI = 150
#: Layout (page fractions): footer line step, heading, table row.
_STEP = 0.0098
_HEADING = 0.019
_ROW = 0.0142
_THIN = "\u202f"
_MINUS = "\u2212"
_EMPTY = "—"


# --- numbers -------------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    """A finite float, or None (None, NaN, '', text)."""
    if isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _people(x: Any) -> str:
    v = _num(x)
    return _EMPTY if v is None else f"{v:,.0f}".replace(",", _THIN)


def _pct(x: Any) -> str:
    """A share 0-1 in percent with one decimal."""
    v = _num(x)
    return _EMPTY if v is None else f"{100 * v:.1f} %"


def _mbps(x: Any) -> str:
    v = _num(x)
    return _EMPTY if v is None else f"{v:,.1f}".replace(",", _THIN)


def _signed(x: Any, fmt: Callable[[Any], str]) -> str:
    """A change with its sign (``+1 200``, ``−3.4``); no sign when it rounds to zero."""
    v = _num(x)
    if v is None:
        return _EMPTY
    text = fmt(abs(v))
    if not any(c.isdigit() and c != "0" for c in text):
        return text
    return ("+" if v > 0 else _MINUS) + text


def _points(x: Any) -> str:
    """A change of a share in percentage points (``+1.2 điểm % / pp``)."""
    v = _num(x)
    if v is None:
        return _EMPTY
    return _signed(100 * v, lambda a: f"{a:.1f}") + " đ.% / pp"


def _get(row: Mapping[str, Any] | None, key: str) -> Any:
    return None if row is None else row.get(key)


def _diff(cur: Mapping[str, Any] | None, prev: Mapping[str, Any] | None, key: str) -> float | None:
    a, b = _num(_get(cur, key)), _num(_get(prev, key))
    return None if a is None or b is None else a - b


# --- drawing helpers -----------------------------------------------------------------------------


def _polygon_paths(geoms: Iterable[object]) -> list[MplPath]:
    """Matplotlib paths of the polygons (parts of multi-polygons included)."""
    paths: list[MplPath] = []
    arr = np.asarray(list(geoms), dtype=object)
    if not len(arr):
        return paths
    for poly in shapely.get_parts(arr).tolist():
        if poly is None or poly.is_empty or poly.geom_type != "Polygon":
            continue
        verts, codes = [], []
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords)
            if len(c) < 3:
                continue
            verts.append(c)
            codes.append(
                np.r_[MplPath.MOVETO, np.full(len(c) - 2, MplPath.LINETO), MplPath.CLOSEPOLY]
            )
        if verts:
            paths.append(MplPath(np.vstack(verts), np.concatenate(codes).astype(np.uint8)))
    return paths


def _collection(geoms: Iterable[object], **style: Any) -> PathCollection | PolyCollection:
    """The polygons as one collection; hexagons (one ring of equal length each) in one call."""
    arr = np.asarray(list(geoms), dtype=object)
    if len(arr):
        kinds = shapely.get_type_id(arr)
        if (kinds == 3).all() and (shapely.get_num_interior_rings(arr) == 0).all():
            n = shapely.get_num_coordinates(arr)
            if (n == n[0]).all() and n[0] >= 4:
                verts = shapely.get_coordinates(arr).reshape(len(arr), int(n[0]), 2)
                return PolyCollection(verts, closed=True, **style)
    return PathCollection(_polygon_paths(arr), **style)


def _cell_colours(cells: gpd.GeoDataFrame) -> tuple[str, np.ndarray, Normalize | None]:
    """How the cells are coloured: ``("class", rgba, None)`` by service class, or
    ``("share", rgba, norm)`` by share unserved (aggregated cells), or ``("none", ...)``."""
    grey = to_rgba(CLASS_COLOURS["no_data"])
    if "service_class" in cells.columns:
        table = {k: to_rgba(v) for k, v in CLASS_COLOURS.items()}
        return "class", np.array([table.get(c, grey) for c in cells["service_class"]]), None
    share = None
    for col in ("share_unserved", "unserved_share"):
        if col in cells.columns:
            share = pd.to_numeric(cells[col], errors="coerce").to_numpy(float)
            break
    if share is None and {"people_unserved", "population"} <= set(cells.columns):
        pop = pd.to_numeric(cells["population"], errors="coerce").to_numpy(float)
        unserved = pd.to_numeric(cells["people_unserved"], errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(pop > 0, unserved / pop, np.nan)
    if share is None:
        return "none", np.array([grey] * len(cells)).reshape(-1, 4), None
    norm = Normalize(vmin=0.0, vmax=1.0)
    rgba = np.asarray(_SHARE_CMAP(norm(np.nan_to_num(share, nan=0.0))))
    rgba[~np.isfinite(share)] = grey
    return "share", rgba.reshape(-1, 4), norm


def _far_mask(geoms: np.ndarray) -> np.ndarray:
    """Which geometries lie in Hoàng Sa / Trường Sa (east of 110.2 E, and Trường Sa's
    westernmost islets south of 9 N): drawn in their own panel, as on the national maps."""
    if not len(geoms):
        return np.zeros(0, dtype=bool)
    b = shapely.bounds(np.asarray(geoms, dtype=object))
    return (b[:, 0] >= ISLANDS_FRAME[0]) | ((b[:, 3] < 9.0) & (b[:, 0] > 108.5))


def _fill_frame(
    w: float, s: float, e: float, n: float, box_w: float, box_h: float
) -> tuple[float, float, float, float]:
    """``(w, s, e, n)`` grown around its centre to the shape of a ``box_w`` x ``box_h`` inch
    box at the local scale (a degree of longitude is cos(lat) of a degree of latitude)."""
    k = 1.0 / math.cos(math.radians((s + n) / 2.0))
    want = box_h / box_w  # (n - s) * k / (e - w)
    have = (n - s) * k / max(e - w, 1e-9)
    if have < want:  # too wide: grow north-south
        grow = ((e - w) * want / k - (n - s)) / 2
        s, n = s - grow, n + grow
    else:
        grow = ((n - s) * k / want - (e - w)) / 2
        w, e = w - grow, e + grow
    return w, s, e, n


def _frame_axes(ax: Any, w: float, s: float, e: float, n: float) -> None:
    ax.set_xlim(w, e)
    ax.set_ylim(s, n)
    ax.set_aspect(1.0 / math.cos(math.radians((s + n) / 2.0)), adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])


def _box(ax: Any, colour: str = "#999999", width: float = 0.5) -> None:
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def _draw_map(
    fig: Figure,
    rect: tuple[float, float, float, float],
    code: str,
    outline: gpd.GeoDataFrame,
    others: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    colours: np.ndarray,
) -> None:
    """The province (its mainland part) in ``rect`` (figure fraction): cells over the
    province, its neighbours' outlines and names."""
    ax = fig.add_axes(rect)
    _box(ax)
    parts = shapely.get_parts(outline.geometry.to_numpy())
    far = _far_mask(parts)
    near = parts[~far] if (~far).any() else parts
    cell_geoms = cells.geometry.to_numpy() if len(cells) else np.zeros(0, dtype=object)
    main = ~_far_mask(cell_geoms)
    if len(near):
        w, s, e, n = shapely.total_bounds(near)
    elif main.any():
        w, s, e, n = shapely.total_bounds(cell_geoms[main])
    else:
        w, s, e, n = _VIETNAM
    pad = 0.05 * max(e - w, n - s, 0.05)
    fig_w, fig_h = fig.get_size_inches()
    w, s, e, n = _fill_frame(w - pad, s - pad, e + pad, n + pad, rect[2] * fig_w, rect[3] * fig_h)
    ax.set_facecolor(_SEA)
    ax.add_collection(
        _collection(others.geometry, facecolor=_NEIGHBOUR, edgecolor="#aaaaaa", linewidths=0.4)
    )
    ax.add_collection(_collection(near, facecolor="#ffffff", edgecolor="none"))
    if main.any():
        ax.add_collection(
            _collection(
                cell_geoms[main], facecolors=colours[main], edgecolors="none", linewidths=0,
                rasterized=True,
            )
        )  # fmt: skip
    ax.add_collection(_collection(near, facecolor="none", edgecolor="#222222", linewidths=0.9))
    if "name" in others.columns and len(others):
        pts = shapely.get_coordinates(others.geometry.representative_point().to_numpy())
        inset_w, inset_s = w + 0.04 * (e - w), s + 0.04 * (n - s)
        for name, (x, y) in zip(others["name"].tolist(), pts, strict=True):
            if inset_w < x < e - 0.04 * (e - w) and inset_s < y < n - 0.04 * (n - s):
                ax.text(
                    x, y, str(name), fontsize=6, color="#777777", ha="center", va="center",
                    clip_on=True,
                )  # fmt: skip
    _frame_axes(ax, w, s, e, n)


def _draw_islands(
    fig: Figure,
    rect: tuple[float, float, float, float],
    outline: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    colours: np.ndarray,
) -> bool:
    """The province's parts in Hoàng Sa / Trường Sa in a panel framed and named as on the
    national maps (``geodata.publishing.maps.islands_panel``); False when it has none."""
    parts = shapely.get_parts(outline.geometry.to_numpy())
    far = _far_mask(parts)
    if not far.any():
        return False
    panel = fig.add_axes(rect)
    panel.set_facecolor(_SEA)
    _box(panel, "#555555", 0.6)
    islands = parts[far]
    panel.add_collection(
        _collection(islands, facecolor="#ffffff", edgecolor="#222222", linewidths=0.5)
    )
    cell_geoms = cells.geometry.to_numpy() if len(cells) else np.zeros(0, dtype=object)
    cell_far = _far_mask(cell_geoms)
    if cell_far.any():
        panel.add_collection(
            _collection(
                cell_geoms[cell_far], facecolors=colours[cell_far], edgecolors="none",
                rasterized=True,
            )
        )  # fmt: skip
    # islets are specks at this scale: a dot on each keeps them in sight
    dots = shapely.get_coordinates(shapely.centroid(islands))
    panel.scatter(dots[:, 0], dots[:, 1], s=1.2, c="#222222", linewidths=0)
    fig_w, fig_h = fig.get_size_inches()
    _frame_axes(panel, *_fill_frame(*ISLANDS_FRAME, rect[2] * fig_w, rect[3] * fig_h))
    for name, owner, x, y in ARCHIPELAGOS:
        panel.text(
            x, y, f"{name}\n({owner})", fontsize=6, ha="center", va="top", color=_INK,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 0.8},
        )  # fmt: skip
    return True


def _draw_locator(
    fig: Figure,
    rect: tuple[float, float, float, float],
    outline: gpd.GeoDataFrame,
    others: gpd.GeoDataFrame,
) -> None:
    """Where the province lies in Vietnam: every province pale, this one dark, on a national
    frame that holds Hoàng Sa and Trường Sa, named as on the national maps."""
    ax = fig.add_axes(rect)
    ax.set_facecolor(_SEA)
    _box(ax)
    ax.add_collection(
        _collection(others.geometry, facecolor="#d9d9d9", edgecolor="#ffffff", linewidths=0.2)
    )
    ax.add_collection(
        _collection(outline.geometry, facecolor="#333333", edgecolor="#333333", linewidths=0.3)
    )
    parts = shapely.get_parts(pd.concat([others.geometry, outline.geometry]).to_numpy())
    far = parts[_far_mask(parts)]
    if len(far):  # islets are specks at this scale: a dot on each keeps them in sight
        dots = shapely.get_coordinates(shapely.centroid(far))
        ax.scatter(dots[:, 0], dots[:, 1], s=0.6, c="#888888", linewidths=0)
    for name, _owner, x, y in ARCHIPELAGOS:
        ax.text(x, y, name, fontsize=5, ha="center", va="top", color=_GREY)
    fig_w, fig_h = fig.get_size_inches()
    _frame_axes(ax, *_fill_frame(*_NATIONAL, rect[2] * fig_w, rect[3] * fig_h))


#: lon/lat frame of the locator: the mainland and both archipelagos.
_NATIONAL = (102.1, 6.5, ISLANDS_FRAME[2], 23.45)
_VIETNAM = (102.1, 8.3, 109.6, 23.45)


def _fit(text: Any, width: float, renderer: Any, smallest: float = 4.5) -> None:
    """Shrink a text until it is at most ``width`` (figure fraction) wide."""
    fig_w = text.figure.get_figwidth() * text.figure.dpi
    size = text.get_fontsize()
    while size > smallest and text.get_window_extent(renderer).width > width * fig_w:
        size -= 0.25
        text.set_fontsize(size)


class _Flow:
    """Blocks stacked down the page in figure fraction, from ``top``."""

    def __init__(self, fig: Figure, top: float, left: float, right: float) -> None:
        self.fig, self.y, self.left, self.right = fig, top, left, right
        self.renderer = FigureCanvasAgg(fig).get_renderer()

    def heading(self, vi: str, en: str, size: float = 9.0) -> None:
        self.fig.text(
            self.left, self.y, f"{vi} / {en}", fontsize=size, weight="bold", va="top", color=_INK
        )
        self.y -= _HEADING

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        xs: Sequence[float],
        aligns: Sequence[str],
        *,
        size: float = 6.8,
        row_h: float = _ROW,
        colours: Sequence[Sequence[str | None]] | None = None,
        widths: Sequence[float | None] | None = None,
    ) -> None:
        """A table with a bold header, thin rules and zebra rows. ``xs`` are the columns'
        anchors (left edge for ``left``, right edge for ``right``) as page fractions; the first
        texts of a column shrink to its ``widths`` entry (page fraction) when one is given."""
        fig = self.fig
        two_lines = any("\n" in h for h in header)
        for x, text, al in zip(xs, header, aligns, strict=True):
            fig.text(
                x, self.y, text, fontsize=size - 0.6, weight="bold", ha=al, va="top",
                linespacing=1.15, color=_INK,
            )  # fmt: skip
        self.y -= row_h * (1.75 if two_lines else 1.0)
        fig.add_artist(_rule(self.left, self.right, self.y + 0.0025, fig, lw=0.6, colour="#555555"))
        for i, row in enumerate(rows):
            if i % 2 == 0:
                fig.add_artist(
                    Rectangle(
                        (self.left, self.y - row_h + 0.0025), self.right - self.left, row_h,
                        transform=fig.transFigure, facecolor="#f2f2f2", edgecolor="none",
                        zorder=-1,
                    )
                )  # fmt: skip
            for j, (x, text, al) in enumerate(zip(xs, row, aligns, strict=True)):
                colour = colours[i][j] if colours is not None else None
                t = fig.text(
                    x, self.y - 0.002, text, fontsize=size, ha=al, va="top",
                    color=colour or _INK, weight="bold" if colour else "normal",
                )  # fmt: skip
                if widths is not None and widths[j] is not None:
                    _fit(t, widths[j], self.renderer)
            self.y -= row_h
        fig.add_artist(_rule(self.left, self.right, self.y + 0.0025, fig, lw=0.4))
        self.y -= 0.011

    def note(self, text: str, size: float = 7.0, colour: str = _GREY) -> None:
        self.fig.text(self.left, self.y, text, fontsize=size, va="top", color=colour)
        self.y -= 0.018


def _rule(x0: float, x1: float, y: float, fig: Figure, lw: float = 0.5, colour: str = "#999999"):
    return Line2D([x0, x1], [y, y], transform=fig.transFigure, color=colour, linewidth=lw)


# --- content -------------------------------------------------------------------------------------


def _headline_rows(
    cur: Mapping[str, Any] | None, prev: Mapping[str, Any] | None, n_provinces: int | None
) -> list[tuple[str, str, str, str, str]]:
    """``(Vietnamese, English, this quarter, previous quarter, change)`` of each figure."""

    def people_share(row: Mapping[str, Any] | None, kind: str) -> str:
        people, share = _get(row, f"people_{kind}"), _get(row, f"share_{kind}")
        if _num(people) is None and _num(share) is None:
            return _EMPTY
        return f"{_people(people)} ({_pct(share)})"

    def change_people_share(kind: str) -> str:
        d_people = _diff(cur, prev, f"people_{kind}")
        d_share = _diff(cur, prev, f"share_{kind}")
        if d_people is None and d_share is None:
            return _EMPTY
        return f"{_signed(d_people, _people)}; {_points(d_share)}"

    of = f" / {n_provinces}" if n_provinces else ""

    def rank(row: Mapping[str, Any] | None) -> str:
        v = _num(_get(row, "rank"))
        return _EMPTY if v is None else f"{int(v)}{of}"

    d_rank = _diff(cur, prev, "rank")
    rows = [
        ("Dân số", "Population", _people(_get(cur, "population")),
         _people(_get(prev, "population")), _signed(_diff(cur, prev, "population"), _people)),
    ]  # fmt: skip
    for kind in ("unserved", "underserved", "served"):
        vi, en = CLASS_LABELS[kind]
        rows.append(
            (
                f"Người dân {vi.lower()}",
                f"People {en.lower()}",
                people_share(cur, kind),
                people_share(prev, kind),
                change_people_share(kind),
            )
        )
    rows += [
        ("Xếp hạng (1 = tỷ lệ chưa phục vụ cao nhất)", "Rank (1 = largest share unserved)",
         rank(cur), rank(prev), _signed(d_rank, lambda a: f"{a:.0f}")),
        ("Dân số được phủ 4G trở lên", "People covered by 4G or better",
         _pct(_get(cur, "share_coverage_4g_plus")), _pct(_get(prev, "share_coverage_4g_plus")),
         _points(_diff(cur, prev, "share_coverage_4g_plus"))),
        ("Dân số được phủ 5G", "People covered by 5G",
         _pct(_get(cur, "share_coverage_5g")), _pct(_get(prev, "share_coverage_5g")),
         _points(_diff(cur, prev, "share_coverage_5g"))),
        ("Tải xuống cố định trung bình (Mb/s)", "Mean fixed download (Mbps)",
         _mbps(_get(cur, "fixed_d_mbps")), _mbps(_get(prev, "fixed_d_mbps")),
         _signed(_diff(cur, prev, "fixed_d_mbps"), _mbps)),
        ("Tải xuống di động trung bình (Mb/s)", "Mean mobile download (Mbps)",
         _mbps(_get(cur, "mobile_d_mbps")), _mbps(_get(prev, "mobile_d_mbps")),
         _signed(_diff(cur, prev, "mobile_d_mbps"), _mbps)),
    ]  # fmt: skip
    return rows


def _records(data: pd.DataFrame | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    if data is None:
        return []
    if isinstance(data, pd.DataFrame):
        return [dict(r) for r in data.to_dict("records")]
    return [dict(r) for r in data]


def _indicator_label(row: Mapping[str, Any]) -> tuple[str, str]:
    ind = str(row.get("indicator", ""))
    if ind in INDICATORS:
        _, _, en, vi = INDICATORS[ind]
        return vi, en
    text = ind.replace("_", " ")
    return text, text


def _value(x: Any, unit: str = "") -> str:
    v = _num(x)
    if v is None:
        return _EMPTY
    digits = 0 if abs(v) >= 100 else 1
    text = f"{v:,.{digits}f}".replace(",", _THIN)
    return f"{text} {unit}".strip() if unit in ("%",) else text


def _short_sha(sha: Any) -> str:
    return str(sha or "")[:12] or "?"


def _inputs_lines(inputs: Mapping[str, Any]) -> list[str]:
    """The pipeline's inputs, compact: a folder of more than three files as one entry with its
    count and a digest of its files' sha256 (in name order), else each file with its sha256."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, sha in sorted(inputs.items()):
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        groups.setdefault(folder, []).append((name, str(sha)))
    out = []
    for folder, files in groups.items():
        if len(files) > 3:
            digest = hashlib.sha256("".join(f"{n}:{s}\n" for n, s in files).encode()).hexdigest()
            out.append(f"{folder}/ ({len(files)} tệp / files, Σ {digest[:12]})")
        else:
            out += [f"{n} {_short_sha(s)}" for n, s in files]
    return out


def _wrap_items(items: Sequence[str], width: int) -> list[str]:
    """``items`` joined by `` · `` into lines of at most ``width`` characters."""
    lines: list[str] = []
    cur = ""
    for item in items:
        cand = f"{cur} · {item}" if cur else item
        if len(cand) > width and cur:
            lines.append(cur)
            cur = item
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines


# --- the sheet -----------------------------------------------------------------------------------


def province_sheet_pdf(
    *,
    code: str,
    version: str,
    quarter: str,
    summary: Mapping[str, Any] | None,
    cells: gpd.GeoDataFrame,
    provinces: gpd.GeoDataFrame,
    provenance: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
    previous_quarter: str | None = None,
    n_provinces: int | None = None,
    sites: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    targets: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    sources: Sequence[tuple[str, str]] = (),
    name: str | None = None,
    generated_at: datetime | None = None,
    top_sites: int = 5,
) -> bytes:
    """The one-page A4 PDF of province ``code`` (boundary ``version``) in ``quarter``.

    Parameters
    ----------
    summary, previous : the province's row of ``tables/summary_{version}_{quarter}.csv`` for
        this quarter and for ``previous_quarter``, as mappings of column to value (strings or
        numbers; empty or missing values print as a dash).
    cells : the province's H3 cells (hexagon polygons, EPSG:4326) with ``service_class``, or
        ``share_unserved`` (or ``people_unserved`` and ``population``) for aggregated cells.
    provinces : every province of ``version`` (``load_provinces(version, simplified=True)``,
        indexed by code, with ``name``): the province's outline and its neighbours'.
    provenance : the cells GeoJSON's ``provenance`` member (``sample``, ``licence``,
        ``attribution``, ``inputs_sha256``, ``thresholds``, ``period``, ...).
    n_provinces : how many provinces the rank is among.
    sites : the province's mobile-site plan (``rank, place, people_new, cost``), in plan order.
    targets : the province's rows of ``tables/targets_{version}_{quarter}.csv``.
    sources : ``(path, sha256)`` of the published files the sheet was made from.
    name : the province's name (default: the summary's, else the outlines').
    generated_at : the time printed in the footer (default now): the only varying content.
    """
    provenance = dict(provenance or {})
    if code in provinces.index:
        outline = provinces.loc[[code]]
    elif "code" in provinces.columns:
        outline = provinces.loc[provinces["code"] == code]
    else:
        outline = provinces.iloc[:0]
    others = provinces.drop(index=outline.index)
    if name is None:
        name = str(
            _get(summary, "name")
            or (outline["name"].iloc[0] if len(outline) and "name" in outline else "")
            or code
        )
    when = generated_at or datetime.now(UTC)
    with _LOCK, matplotlib.rc_context(_RC):
        fig = Figure(figsize=A4_INCHES, dpi=100)
        _draw_sheet(
            fig,
            code=code,
            version=version,
            quarter=quarter,
            name=name,
            sample=bool(provenance.get("sample")),
            summary=summary,
            previous=previous,
            previous_quarter=previous_quarter,
            n_provinces=n_provinces,
            cells=cells,
            outline=outline,
            others=others,
            sites=_records(sites)[:top_sites],
            targets=_records(targets),
            provenance=provenance,
            sources=sources,
            generated_at=when,
        )
        buf = io.BytesIO()
        fig.savefig(
            buf,
            format="pdf",
            dpi=_RASTER_DPI,
            metadata={
                "Title": f"{name} {quarter}: bản in A4 / printable A4 sheet",
                "Subject": "digital-gap-monitor province sheet",
                "CreationDate": None,  # deterministic bytes; the time is printed on the sheet
            },
        )
    return buf.getvalue()


def _key_figures(
    summary: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    previous_quarter: str | None,
    n_provinces: int | None,
) -> list[tuple[str, str, str]]:
    """``(label, big number, note)`` of the three figures the sheet opens with."""
    rank = _num(_get(summary, "rank"))
    out = [
        ("Người dân chưa được phục vụ / People unserved",
         _people(_get(summary, "people_unserved")),
         f"{_pct(_get(summary, 'share_unserved'))} dân số / of people"),
        ("Xếp hạng trong các tỉnh / Rank among provinces",
         _EMPTY if rank is None else f"{int(rank)}" + (f" / {n_provinces}" if n_provinces else ""),
         "1 = tỷ lệ chưa được phục vụ cao nhất / largest share unserved"),
    ]  # fmt: skip
    if previous_quarter and previous is not None:
        out.append(
            (f"So với {previous_quarter} / Since {previous_quarter}",
             _signed(_diff(summary, previous, "people_unserved"), _people),
             f"người / people; {_points(_diff(summary, previous, 'share_unserved'))}")
        )  # fmt: skip
    else:
        out.append(
            ("So với quý trước / Since the previous quarter", _EMPTY,
             "chưa có quý trước / no previous quarter")
        )  # fmt: skip
    return out


def _draw_sheet(
    fig: Figure,
    *,
    code: str,
    version: str,
    quarter: str,
    name: str,
    sample: bool,
    summary: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    previous_quarter: str | None,
    n_provinces: int | None,
    cells: gpd.GeoDataFrame,
    outline: gpd.GeoDataFrame,
    others: gpd.GeoDataFrame,
    sites: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    provenance: dict[str, Any],
    sources: Sequence[tuple[str, str]],
    generated_at: datetime,
) -> None:
    left, right = 0.05, 0.95
    vi_version, en_version = _VERSION_LABELS.get(version, (f"Hệ {version}", f"{version} system"))

    # --- title, sample banner
    fig.text(left, 0.972, name, fontsize=20, weight="bold", va="top", color=_INK)
    fig.text(
        right, 0.972, f"Quý {quarter}\nQuarter {quarter}", fontsize=10.5, weight="bold",
        ha="right", va="top", color=_INK, linespacing=1.3,
    )  # fmt: skip
    fig.text(
        left, 0.936,
        f"Mã / Code {code} · {vi_version} / {en_version}\n"
        "Khoảng cách số: ai chưa có băng rộng đạt chuẩn / The digital gap: who lacks adequate "
        "broadband",
        fontsize=7.5, va="top", color=_GREY, linespacing=1.45,
    )  # fmt: skip
    y = 0.903
    if sample:
        fig.add_artist(
            Rectangle(
                (left, y - 0.029), right - left, 0.029, transform=fig.transFigure,
                facecolor=_RED, edgecolor="none",
            )
        )  # fmt: skip
        fig.text(
            0.5, y - 0.0145, "DỮ LIỆU MẪU TỔNG HỢP / SYNTHETIC SAMPLE DATA — not measurements",
            fontsize=11.5, weight="bold", color="white", ha="center", va="center",
        )  # fmt: skip
        y -= 0.037

    renderer = FigureCanvasAgg(fig).get_renderer()
    # --- three key figures across the page
    for i, (label, big, note) in enumerate(
        _key_figures(summary, previous, previous_quarter, n_provinces)
    ):
        x = left + i * (right - left) / 3
        room = (right - left) / 3 - 0.015
        for text in (
            fig.text(x, y, label, fontsize=6.8, color=_GREY, va="top"),
            fig.text(x, y - 0.012, big, fontsize=15, weight="bold", color=_INK, va="top"),
            fig.text(x, y - 0.035, note, fontsize=6.2, color=_GREY, va="top"),
        ):
            _fit(text, room, renderer)
    y -= 0.054

    # --- map (left); legend and the archipelagos or a locator (right)
    footer = _footer_lines(provenance, sources, generated_at, sample)
    need = _HEADING + _table_height(9)
    need += _HEADING + _table_height(len(targets)) if targets else 0.0
    need += _HEADING + (_table_height(len(sites)) if sites else 0.018)
    map_bottom = min(_footer_top(len(footer)) + need + 0.016, y - 0.25)
    col = 0.655
    mode, colours, norm = _cell_colours(cells)
    _draw_map(fig, (left, map_bottom, col - 0.02 - left, y - map_bottom), code, outline, others,
              cells, colours)  # fmt: skip
    ry = y
    if mode == "class":
        fig.text(col, ry, "Lớp dịch vụ (% dân số)\nService class (% of people)", fontsize=7.2,
                 weight="bold", va="top", linespacing=1.2)  # fmt: skip
        ry -= 0.03
        for cls in ("unserved", "underserved", "served", "no_data"):
            vi, en = CLASS_LABELS[cls]
            fig.add_artist(
                Rectangle(
                    (col, ry - 0.0095), 0.02, 0.0095, transform=fig.transFigure,
                    facecolor=CLASS_COLOURS[cls], edgecolor="#555555", linewidth=0.3,
                )
            )  # fmt: skip
            fig.text(col + 0.026, ry - 0.0005, f"{vi} / {en}", fontsize=6.8, va="top")
            fig.text(right, ry - 0.0005, _pct(_get(summary, f"share_{cls}")), fontsize=6.8,
                     va="top", ha="right", weight="bold")  # fmt: skip
            ry -= 0.0152
    elif mode == "share" and norm is not None:
        fig.text(col, ry, "Tỷ lệ dân chưa được phục vụ (%)\nShare of people unserved (%)",
                 fontsize=7.2, weight="bold", va="top", linespacing=1.2)  # fmt: skip
        ry -= 0.033
        cax = fig.add_axes((col, ry - 0.011, right - col, 0.011))
        bar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=_SHARE_CMAP),
            cax=cax,
            orientation="horizontal",
            format=PercentFormatter(xmax=1.0, decimals=0),
        )
        bar.ax.tick_params(labelsize=6.3, length=2, width=0.4)
        bar.outline.set_linewidth(0.4)
        ry -= 0.032
        fig.add_artist(
            Rectangle(
                (col, ry - 0.0095), 0.02, 0.0095, transform=fig.transFigure,
                facecolor=CLASS_COLOURS["no_data"], edgecolor="#555555", linewidth=0.3,
            )
        )  # fmt: skip
        fig.text(col + 0.026, ry - 0.0005, "Không có số liệu / No data", fontsize=6.8, va="top")
        ry -= 0.0152
    res = provenance.get("h3_resolution")
    n_cells = f"{len(cells):,}".replace(",", _THIN)
    fig.text(
        col, ry - 0.003,
        f"{n_cells} ô lục giác H3{f', độ phân giải {res}' if res else ''}\n"
        f"{n_cells} H3 hexagons{f', resolution {res}' if res else ''}",
        fontsize=6.2, va="top", color=_GREY, linespacing=1.25,
    )  # fmt: skip
    ry -= 0.038
    panel = (col, map_bottom, right - col, ry - 0.016 - map_bottom)
    if _draw_islands(fig, panel, outline, cells, colours):
        caption = "Quần đảo của tỉnh / The province's archipelagos"
    else:
        _draw_locator(fig, panel, outline, others)
        caption = "Vị trí trong cả nước / Location in Vietnam"
    fig.text(col, ry - 0.004, caption, fontsize=6.5, va="top", color=_GREY)

    # --- tables below the map
    flow = _Flow(fig, map_bottom - 0.013, left, right)
    prev_label = previous_quarter or _EMPTY
    flow.heading("Số liệu chính", "Headline figures")
    rows = _headline_rows(summary, previous, n_provinces)
    flow.table(
        ["Chỉ tiêu / Figure", f"Quý {quarter}\nQuarter {quarter}",
         f"Quý {prev_label}\nQuarter {prev_label}", "Thay đổi\nChange"],
        [(f"{vi} / {en}", a, b, c) for vi, en, a, b, c in rows],
        [left + 0.005, 0.63, 0.77, right - 0.004],
        ["left", "right", "right", "right"],
        widths=[0.45, None, None, None],
    )  # fmt: skip

    if targets:
        flow.heading("Mục tiêu hạ tầng số", "Digital-infrastructure targets")
        body, colour_rows = [], []
        for r in targets:
            vi, en = _indicator_label(r)
            status = str(r.get("status", "") or "")
            s_vi, s_en, s_col = _STATUS_LABELS.get(status, (status or _EMPTY, "", _INK))
            year = _num(r.get("target_year"))
            body.append(
                (
                    f"{vi} / {en}",
                    _value(r.get("value")),
                    _value(r.get("target")),
                    _EMPTY if year is None else f"{int(year)}",
                    f"{s_vi} / {s_en}" if s_en else s_vi,
                )
            )
            colour_rows.append([None, None, None, None, s_col])
        flow.table(
            ["Chỉ tiêu / Indicator", "Giá trị\nValue", "Mục tiêu\nTarget", "Năm\nYear",
             "Tình trạng / Status"],
            body,
            [left + 0.005, 0.625, 0.695, 0.745, 0.762],
            ["left", "right", "right", "right", "left"],
            colours=colour_rows,
            widths=[0.51, None, None, None, right - 0.766],
        )  # fmt: skip

    flow.heading("Trạm di động ưu tiên trong kế hoạch", "First mobile sites of the plan")
    if sites:
        flow.table(
            ["Hạng\nRank", "Gần\nNear", "Người được phủ mới\nPeople newly reached",
             "Chi phí\nCost (USD)"],
            [
                (
                    _EMPTY if _num(s.get("rank")) is None else f"{_num(s.get('rank')):.0f}",
                    str(s.get("place", "") or _EMPTY),
                    _people(s.get("people_new")),
                    _people(s.get("cost")),
                )
                for s in sites
            ],
            [left + 0.06, left + 0.085, 0.72, right - 0.004],
            ["right", "left", "right", "right"],
        )  # fmt: skip
    else:
        flow.note("Không có trạm trong kế hoạch quý này / No site planned in this quarter")

    _footer(fig, left, right, footer, renderer)


def _table_height(rows: int, two_lines: bool = True) -> float:
    """Height (page fraction) :meth:`_Flow.table` takes for ``rows`` rows."""
    return _ROW * (1.75 if two_lines else 1.0) + rows * _ROW + 0.011


def _footer_top(n_lines: int) -> float:
    return 0.014 + _STEP * (n_lines - 1) + 0.0115


def _footer_lines(
    provenance: Mapping[str, Any],
    sources: Sequence[tuple[str, str]],
    generated_at: datetime,
    sample: bool,
) -> list[tuple[str, float, str]]:
    """``(text, font size, colour)`` of the footer's lines: sources, licence, time."""
    small, width = 5.4, 185
    lines: list[tuple[str, float, str]] = []
    files = [f"{p} {_short_sha(s)}" for p, s in sources]
    if files:
        lines += [
            (t, small, _GREY)
            for t in _wrap_items(["Tệp đã dùng / Files used (sha256):", *files], width)
        ]
    inputs = provenance.get("inputs_sha256")
    if isinstance(inputs, Mapping) and inputs:
        lines += [
            (t, small, _GREY)
            for t in _wrap_items(
                ["Dữ liệu đầu vào / Pipeline inputs (sha256):", *_inputs_lines(inputs)], width
            )
        ]
    thresholds = provenance.get("thresholds")
    t_name = thresholds.get("name") if isinstance(thresholds, Mapping) else thresholds
    bits = []
    if t_name:
        bits.append(f"Ngưỡng / Thresholds: {t_name}")
    if provenance.get("period"):
        bits.append(f"kỳ / period {provenance['period']}")
    if provenance.get("boundary_version"):
        bits.append(f"ranh giới / boundaries: {provenance['boundary_version']} tỉnh / provinces")
    if provenance.get("generator"):
        bits.append(str(provenance["generator"]))
    if bits:
        lines.append((" · ".join(bits), small, _GREY))
    if sample:
        note = provenance.get("sample_note") or "SYNTHETIC sample inputs, not measurements"
        lines.append((f"Dữ liệu mẫu tổng hợp, không phải số đo / {note}", 5.8, _RED))
    lines.append(
        (
            "Giấy phép / Licence: CC BY-SA 4.0, ranh giới / boundaries © Open Development Vietnam /"
            " Dept. of Survey and Mapping; dân số / population WorldPop 2020 CC BY 4.0",
            6.0,
            _INK,
        )
    )
    lines.append((ATTRIBUTION, small, _GREY))
    stamp = generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines.append((f"Tạo lúc / Generated at {stamp}", 6.0, _INK))
    return lines


def _footer(
    fig: Figure, left: float, right: float, lines: list[tuple[str, float, str]], renderer: Any
) -> None:
    """The footer's lines at the bottom of the page, above a rule."""
    y = _footer_top(len(lines)) - 0.0115
    fig.add_artist(_rule(left, right, y + 0.0115, fig, lw=0.5))
    for text, size, colour in lines:
        t = fig.text(left, y, text, fontsize=size, color=colour, va="bottom")
        _fit(t, right - left, renderer)
        y -= _STEP
