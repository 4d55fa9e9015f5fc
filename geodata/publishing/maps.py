"""PNG gap maps and charts (matplotlib, Agg): choropleths with legend, title and source line.

Every figure states its data source and, for synthetic sample inputs, says so in the title. Every
national map shows Vietnam's two archipelagos, Hoàng Sa (Đà Nẵng) and Trường Sa (Khánh Hòa), in
a framed panel beside the mainland, drawn with the same layers and named in Vietnamese: a
Vietnamese public body cannot publish a national map without them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from geodata.reference import ATTRIBUTION  # noqa: E402

__all__ = [
    "CLASS_COLOURS",
    "province_choropleth_png",
    "cell_class_map_png",
    "unserved_by_region_chart_png",
    "inequality_chart_png",
    "priority_map_png",
    "site_plan_map_png",
    "cost_curve_chart_png",
    "route_plan_map_png",
    "province_plan_map_png",
    "source_line",
    "ARCHIPELAGOS",
    "ISLANDS_FRAME",
    "STATUS_COLOURS",
    "target_status_map_png",
    "target_trend_chart_png",
]

#: Colours of the service classes, worst to best (colour-blind-safe orange/blue scheme).
CLASS_COLOURS = {
    "no_data": "#d9d9d9",
    "unserved": "#d7301f",
    "underserved": "#fdae61",
    "served": "#2c7bb6",
}


#: lon/lat frame of the national maps' main panel: the mainland and near islands.
_MAINLAND = (101.8, 8.2, 110.0, 23.6)
#: lon/lat frame of the archipelagos' panel beside it (in the shipped boundaries Hoàng Sa spans
#: 111.19-112.74 E, 15.77-17.12 N; Trường Sa 110.44-116.95 E, 6.95-12.05 N).
ISLANDS_FRAME = (110.2, 6.5, 117.4, 17.5)
#: The two archipelagos: Vietnamese name, the province they belong to, and where the name goes.
ARCHIPELAGOS: tuple[tuple[str, str, float, float], ...] = (
    ("Quần đảo Hoàng Sa", "TP Đà Nẵng", 112.9, 15.55),
    ("Quần đảo Trường Sa", "tỉnh Khánh Hòa", 114.3, 12.6),
)


def source_line(sample: bool) -> str:
    """The data-source sentence of a figure: synthetic sample inputs say so."""
    return (
        "Source: SYNTHETIC sample inputs (geodata.sample)."
        if sample
        else "Source: input files, see provenance."
    )


def _title(text: str, sample: bool) -> str:
    return f"DỮ LIỆU MẪU TỔNG HỢP / SYNTHETIC SAMPLE DATA\n{text}" if sample else text


def _finish(fig: plt.Figure, source: str, *, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    if tight:
        # below the axes (and their labels); bbox_inches="tight" grows the image to hold it
        fig.text(0.01, -0.02, source, fontsize=6, color="#444444", ha="left", va="top", wrap=True)
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    else:  # a fixed layout drawn once (tight draws the figure twice): for the many small maps
        fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.1)
        fig.text(0.01, 0.01, source, fontsize=6, color="#444444", ha="left", va="bottom", wrap=True)
        fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _mainland(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The part of ``gdf`` in the main panel (the archipelagos are drawn in their own panel)."""
    return gdf.clip(_MAINLAND)


def _islands(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The part of ``gdf`` in the archipelagos' panel."""
    return gdf.clip(ISLANDS_FRAME)


def islands_panel(ax: plt.Axes, draw: Callable[[plt.Axes], None]) -> plt.Axes:
    """Add the archipelagos' panel to the right of the national map ``ax``: ``draw`` paints the
    map's own layers on it, then the frame is set and both archipelagos are named."""
    w, s, e, n = ISLANDS_FRAME
    width = 0.62  # of the main panel's width; the height keeps both panels' scale alike
    height = (
        width * (n - s) / (e - w) * (_MAINLAND[2] - _MAINLAND[0]) / (_MAINLAND[3] - _MAINLAND[1])
    )
    panel = ax.inset_axes((1.03, 0.0, width, height))
    draw(panel)
    panel.set_xlim(ISLANDS_FRAME[0], ISLANDS_FRAME[2])
    panel.set_ylim(ISLANDS_FRAME[1], ISLANDS_FRAME[3])
    panel.set_aspect("equal")
    panel.set_xticks([])
    panel.set_yticks([])
    panel.set_xlabel("")
    panel.set_ylabel("")
    panel.set_facecolor("#f4f8fb")
    for spine in panel.spines.values():
        spine.set_edgecolor("#555555")
        spine.set_linewidth(0.6)
    for name, province, x, y in ARCHIPELAGOS:
        panel.text(
            x, y, f"{name}\n({province})", fontsize=6.5, ha="center", va="top", color="#222222"
        )
    return panel


def _frame_mainland(ax: plt.Axes) -> None:
    ax.set_xlim(_MAINLAND[0], _MAINLAND[2])
    ax.set_ylim(_MAINLAND[1], _MAINLAND[3])
    ax.set_aspect("equal")
    ax.set_axis_off()


def _finish_map(fig: plt.Figure, ax: plt.Axes, title: str, sample: bool, source: str) -> bytes:
    """Frame a national map on the mainland, title it and add the source line."""
    _frame_mainland(ax)
    ax.set_title(_title(title, sample), fontsize=10)
    return _finish(fig, f"{source} {ATTRIBUTION}".strip())


def province_choropleth_png(
    provinces: gpd.GeoDataFrame,
    column: str,
    *,
    title: str,
    legend_label: str,
    sample: bool,
    source: str = "",
    cmap: str = "OrRd",
    vmax: float | None = None,
    percent: bool = False,
) -> bytes:
    """Choropleth of one numeric column over province polygons; returns PNG bytes.
    ``percent``: the column is a share (0-1), the colour bar reads in %."""
    fig, ax = plt.subplots(figsize=(5.5, 8))
    values = provinces[column].to_numpy(dtype=float)
    top = vmax
    if top is None and np.isfinite(values).any():  # one scale for both panels
        top = float(np.nanmax(values))
    style = {
        "column": column,
        "cmap": cmap,
        "vmin": 0,
        "vmax": top,
        "edgecolor": "white",
        "linewidth": 0.3,
        "missing_kwds": {"color": CLASS_COLOURS["no_data"], "label": "no data"},
    }
    _mainland(provinces).plot(
        ax=ax,
        legend=True,
        legend_kwds={
            "label": legend_label,
            "shrink": 0.5,
            "location": "left",
            **({"format": PercentFormatter(xmax=1.0)} if percent else {}),
        },
        **style,
    )
    islands = _islands(provinces)
    islands_panel(ax, lambda panel: islands.plot(ax=panel, **{**style, "edgecolor": "#555555"}))
    return _finish_map(fig, ax, title, sample, source)


def cell_class_map_png(
    lat: np.ndarray,
    lng: np.ndarray,
    classes: np.ndarray,
    provinces: gpd.GeoDataFrame,
    *,
    title: str,
    sample: bool,
    source: str = "",
) -> bytes:
    """Map of H3 cell centres coloured by service class, over province outlines."""
    fig, ax = plt.subplots(figsize=(5.5, 8))
    order = ["no_data", "served", "underserved", "unserved"]  # gaps drawn last, on top
    classes = np.asarray(classes)
    lat, lng = np.asarray(lat), np.asarray(lng)

    def draw(target: plt.Axes, outlines: gpd.GeoDataFrame, size: float) -> None:
        outlines.boundary.plot(ax=target, color="#888888", linewidth=0.3)
        for name in order:
            m = classes == name
            if m.any():
                target.scatter(
                    lng[m], lat[m], s=size, c=CLASS_COLOURS[name], linewidths=0, rasterized=True
                )

    draw(ax, _mainland(provinces), 0.15)
    islands_panel(ax, lambda panel: draw(panel, _islands(provinces), 0.6))
    handles = [Patch(color=CLASS_COLOURS[n], label=n.replace("_", " ")) for n in CLASS_COLOURS]
    ax.legend(
        handles=handles, loc="lower left", fontsize=7, title="service class", title_fontsize=7
    )
    return _finish_map(fig, ax, title, sample, source)


def unserved_by_region_chart_png(
    table: pd.DataFrame, *, periods: Sequence[str], sample: bool, source: str = ""
) -> bytes:
    """Grouped bars of people unserved per region (columns ``period, region, people_unserved``)."""
    pivot = table.pivot_table(
        index="region", columns="period", values="people_unserved", aggfunc="sum"
    )
    pivot = pivot.reindex(columns=list(periods))
    fig, ax = plt.subplots(figsize=(8, 4))
    (pivot / 1e6).plot.barh(ax=ax, width=0.8)
    ax.set_xlabel("people unserved (millions)")
    ax.set_ylabel("")
    ax.legend(title="period", fontsize=7)
    ax.set_title(
        _title("Người chưa được phục vụ theo vùng / People unserved by region and period", sample),
        fontsize=10,
    )
    return _finish(fig, f"{source} {ATTRIBUTION}".strip())


def inequality_chart_png(table: pd.DataFrame, *, sample: bool, source: str = "") -> bytes:
    """Lines of inequality indices by period (columns ``period`` and one column per index)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    cols = [c for c in table.columns if c != "period" and not c.endswith("_share")]
    for col in cols:
        ax.plot(table["period"], table[col], marker="o", label=col)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("index (0 = equal)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(
        _title(
            "Khoảng cách có thu hẹp? Bất bình đẳng tiếp cận / Is the gap closing? Inequality of "
            "access by period",
            sample,
        ),
        fontsize=10,
    )
    return _finish(fig, f"{source} {ATTRIBUTION}".strip())


def priority_map_png(
    outlines: gpd.GeoDataFrame,
    provinces: gpd.GeoDataFrame,
    *,
    title: str,
    sample: bool,
    source: str = "",
    top: int = 20,
) -> bytes:
    """Gap clusters over province outlines: every cluster pale, the first ``top`` by ``rank``
    in red and numbered at a point inside each, so the ranked table can be read off the map."""
    fig, ax = plt.subplots(figsize=(5.5, 8))
    _mainland(provinces).plot(ax=ax, color="#f2f2f2", edgecolor="#999999", linewidth=0.3)
    islands = _islands(provinces)
    island_gaps = _islands(outlines) if len(outlines) else outlines

    def draw_islands(panel: plt.Axes) -> None:
        islands.plot(ax=panel, color="#f2f2f2", edgecolor="#555555", linewidth=0.5)
        if len(island_gaps):
            island_gaps.plot(ax=panel, color="#fdae61", linewidth=0)

    islands_panel(ax, draw_islands)
    if len(outlines):
        outlines.plot(ax=ax, color="#fdae61", linewidth=0)
        # a dot per cluster too: most clusters are a few hexagons, too small to see as areas
        dots = outlines.geometry.representative_point()
        ax.scatter(dots.x, dots.y, s=1.5, c="#f46d43", linewidths=0, rasterized=True)
        best = outlines[outlines["rank"] <= top]
        best.plot(ax=ax, color=CLASS_COLOURS["unserved"], edgecolor="black", linewidth=0.4)
        points = best.geometry.representative_point()
        for rank, pt in zip(best["rank"].tolist(), points, strict=True):
            ax.annotate(
                str(rank),
                (pt.x, pt.y),
                fontsize=6,
                ha="center",
                va="center",
                color="white",
                fontweight="bold",
                bbox={
                    "boxstyle": "circle,pad=0.2",
                    "fc": CLASS_COLOURS["unserved"],
                    "ec": "black",
                    "lw": 0.4,
                },
            )
    handles = [
        Patch(color=CLASS_COLOURS["unserved"], label=f"top {top} gap clusters (numbered by rank)"),
        Patch(color="#fdae61", label="other gap clusters"),
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=7)
    return _finish_map(fig, ax, title, sample, source)


#: Label offsets (degrees) tried in turn for a numbered site, nearest first.
_LABEL_OFFSETS = tuple(
    (r * np.cos(a), r * np.sin(a))
    for r in (0.3, 0.55, 0.8)
    for a in np.radians([45, 135, 225, 315, 0, 90, 180, 270])
)


def _place_labels(
    x: np.ndarray, y: np.ndarray, half: float = 0.13, scale: float = 1.0
) -> list[tuple[float, float]]:
    """Label positions near each point that overlap no other label nor another point: each
    label takes the first offset whose box (``2 * half`` degrees square) is free."""
    boxes: list[tuple[float, float]] = []
    out: list[tuple[float, float]] = []
    half *= scale
    offsets = [(dx * scale, dy * scale) for dx, dy in _LABEL_OFFSETS]
    for px, py in zip(x.tolist(), y.tolist(), strict=True):
        spot = (px + offsets[0][0], py + offsets[0][1])
        for dx, dy in offsets:
            cx, cy = px + dx, py + dy
            clear = all(abs(cx - bx) > 2 * half or abs(cy - by) > 2 * half for bx, by in boxes)
            clear &= bool(np.all((np.abs(cx - x) > half) | (np.abs(cy - y) > half)))
            if clear:
                spot = (cx, cy)
                break
        boxes.append(spot)
        out.append(spot)
    return out


def _numbered(
    ax: plt.Axes, x: np.ndarray, y: np.ndarray, ranks: list[int], colour: str, scale: float = 1.0
) -> None:
    """Numbered circles for the top entries, placed by :func:`_place_labels` (offsets for a
    national frame, times ``scale``), each tied to its point by a thin line."""
    for (lx, ly), px, py, rank in zip(
        _place_labels(x, y, scale=scale), x.tolist(), y.tolist(), ranks, strict=True
    ):
        ax.annotate(
            str(rank),
            (px, py),
            xytext=(lx, ly),
            fontsize=6,
            ha="center",
            va="center",
            color="white",
            fontweight="bold",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "black"},
            bbox={"boxstyle": "circle,pad=0.2", "fc": colour, "ec": "black", "lw": 0.4},
        )


def site_plan_map_png(
    sites: pd.DataFrame,
    provinces: gpd.GeoDataFrame,
    *,
    title: str,
    sample: bool,
    source: str = "",
    top: int = 10,
) -> bytes:
    """The planned mobile sites over province outlines: every site a dot sized by the people it
    first reaches, the first ``top`` numbered, their labels placed so that none overlap."""
    fig, ax = plt.subplots(figsize=(5.5, 8))
    _mainland(provinces).plot(ax=ax, color="#f2f2f2", edgecolor="#999999", linewidth=0.3)
    lng, lat = sites["lng"].to_numpy(float), sites["lat"].to_numpy(float)
    people = sites["people_new"].to_numpy(float)
    size = 2.0 + 40.0 * people / people.max() if len(people) and people.max() > 0 else 2.0
    ax.scatter(lng, lat, s=size, c="#d7301f", alpha=0.6, linewidths=0, rasterized=True)
    best = sites.head(top)
    bx, by = best["lng"].to_numpy(float), best["lat"].to_numpy(float)
    _numbered(ax, bx, by, best["rank"].tolist(), "#d7301f")
    islands = _islands(provinces)
    on_islands = (lng >= ISLANDS_FRAME[0]) & (lat <= ISLANDS_FRAME[3])

    def draw_islands(panel: plt.Axes) -> None:
        islands.plot(ax=panel, color="#f2f2f2", edgecolor="#555555", linewidth=0.5)
        if on_islands.any():
            panel.scatter(lng[on_islands], lat[on_islands], s=6, c="#d7301f", linewidths=0)

    islands_panel(ax, draw_islands)
    handles = [
        Patch(color="#d7301f", label=f"planned site (top {top} numbered; dot size: people reached)")
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=7)
    return _finish_map(fig, ax, title, sample, source)


def route_plan_map_png(
    routes: pd.DataFrame,
    lines: Sequence[object],
    provinces: gpd.GeoDataFrame,
    *,
    title: str,
    sample: bool,
    source: str = "",
    top: int = 10,
) -> bytes:
    """The planned fibre extensions: every route a line, every unit a dot sized by its people,
    the first ``top`` numbered with labels placed so that none overlap."""
    fig, ax = plt.subplots(figsize=(5.5, 8))
    _mainland(provinces).plot(ax=ax, color="#f2f2f2", edgecolor="#999999", linewidth=0.3)
    if len(routes):
        gpd.GeoSeries(list(lines), crs=4326).plot(ax=ax, color="#2c7bb6", linewidth=0.6)
        people = routes["people"].to_numpy(float)
        size = 2.0 + 30.0 * people / max(people.max(), 1e-9)
        ax.scatter(routes["lng"], routes["lat"], s=size, c="#fdae61", linewidths=0, alpha=0.8)
        best = routes.head(top)
        bx, by = best["lng"].to_numpy(float), best["lat"].to_numpy(float)
        _numbered(ax, bx, by, best["rank"].tolist(), "#2c7bb6")
    islands = _islands(provinces)
    islands_panel(
        ax, lambda panel: islands.plot(ax=panel, color="#f2f2f2", edgecolor="#555555", lw=0.5)
    )
    handles = [
        Patch(color="#2c7bb6", label=f"new fibre (top {top} numbered)"),
        Patch(color="#fdae61", label="gap unit (dot size: people)"),
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=7)
    return _finish_map(fig, ax, title, sample, source)


def cost_curve_chart_png(
    curve: pd.DataFrame, *, title: str, sample: bool, source: str = ""
) -> bytes:
    """People reached against sites built (mobile) and km of fibre (fixed), with the cost on
    each top axis, for the national plans."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    specs = (
        ("mobile_sites", "built", "sites built, in the plan's order", "#d7301f", 1.0),
        ("fibre_routes", "km", "km of new fibre, in the plan's order", "#2c7bb6", 1.0),
    )
    for ax, (plan, x, xlabel, colour, _) in zip(axes, specs, strict=True):
        nation = curve[(curve["scope"] == "nation") & (curve["plan"] == plan)]
        ax.set_xlabel(xlabel)
        ax.set_ylabel("people newly reached (millions)")
        ax.grid(alpha=0.3)
        if nation.empty:
            ax.text(0.5, 0.5, "no gap", transform=ax.transAxes, ha="center")
            continue
        xs = nation[x].to_numpy(float)
        ax.plot(np.r_[0.0, xs], np.r_[0.0, nation["people"].to_numpy(float) / 1e6], color=colour)
        ax.set_ylim(bottom=0)
        per_unit = float(nation["cost"].iloc[-1]) / max(float(xs[-1]), 1e-9)
        top = ax.secondary_xaxis(
            "top", functions=(lambda v, k=per_unit: v * k / 1e6, lambda c, k=per_unit: c * 1e6 / k)
        )
        top.set_xlabel("cost (USD million)")
        need = float(nation["people_in_need"].iloc[0])
        last = float(nation["people"].iloc[-1])
        if need > 0:
            ax.text(
                0.98,
                0.04,
                f"{last / 1e6:,.2f} M of {need / 1e6:,.2f} M people in need ({last / need:.0%})",
                transform=ax.transAxes,
                ha="right",
                fontsize=7,
                color="#444444",
            )
    fig.suptitle(_title(title, sample), fontsize=10)
    fig.tight_layout()
    return _finish(fig, f"{source} {ATTRIBUTION}".strip())


def _polygon_collection(geoms: Sequence[object], **style: object) -> PathCollection:
    """Polygons as one matplotlib collection (GeoDataFrame.plot redraws the whole figure on every
    call: 3 calls per map cost more than the map)."""
    paths = []
    for poly in shapely.get_parts(np.asarray(list(geoms), dtype=object)).tolist():
        if poly is None or poly.is_empty or poly.geom_type != "Polygon":
            continue
        verts, codes = [], []
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords)
            verts.append(c)
            codes.append(
                np.r_[MplPath.MOVETO, np.full(len(c) - 2, MplPath.LINETO), MplPath.CLOSEPOLY]
            )
        paths.append(MplPath(np.vstack(verts), np.concatenate(codes).astype(np.uint8)))
    return PathCollection(paths, **style)


def province_plan_map_png(
    province: gpd.GeoDataFrame,
    neighbours: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    routes: pd.DataFrame,
    lines: Sequence[object],
    *,
    title: str,
    sample: bool,
    source: str = "",
    top: int = 10,
) -> bytes:
    """One province's share of the national plans: planned sites (dots sized by people reached,
    the province's first ``top`` numbered by national rank) and fibre routes, over the province
    and its neighbours' outlines."""
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    parts = shapely.get_parts(province.geometry.to_numpy())
    b = shapely.bounds(parts)
    # Hoàng Sa, Trường Sa (east of 110.2 E, and Trường Sa's westernmost islets south of 9 N):
    # their own panel, so the mainland frame stays readable
    far = (b[:, 0] >= ISLANDS_FRAME[0]) | ((b[:, 3] < 9.0) & (b[:, 0] > 108.5))
    w, s, e, n = shapely.total_bounds(parts[~far]) if (~far).any() else province.total_bounds
    pad = 0.08 * max(e - w, n - s, 0.05)
    ax.add_collection(
        _polygon_collection(
            neighbours.geometry, facecolor="#f7f7f7", edgecolor="#bbbbbb", linewidths=0.4
        )
    )
    ax.add_collection(
        _polygon_collection(parts, facecolor="#eeeeee", edgecolor="#555555", linewidths=0.8)
    )
    if len(routes):
        segs = [np.asarray(g.coords) for g in lines if g is not None and not g.is_empty]
        ax.add_collection(LineCollection(segs, colors="#2c7bb6", linewidths=1.0))
    if len(sites):
        people = sites["people_new"].to_numpy(float)
        size = 4.0 + 60.0 * people / max(people.max(), 1e-9)
        ax.scatter(sites["lng"], sites["lat"], s=size, c="#d7301f", alpha=0.7, linewidths=0)
        best = sites.head(top)
        _numbered(
            ax,
            best["lng"].to_numpy(float),
            best["lat"].to_numpy(float),
            best["rank"].tolist(),
            "#d7301f",
            scale=max(e - w, n - s) / (_MAINLAND[3] - _MAINLAND[1]) * 1.6,
        )
    if far.any():
        islands = parts[far]
        islands_panel(
            ax,
            lambda panel: panel.add_collection(
                _polygon_collection(
                    islands, facecolor="#eeeeee", edgecolor="#555555", linewidths=0.5
                )
            ),
        )
    ax.set_xlim(w - pad, e + pad)
    ax.set_ylim(s - pad, n + pad)
    ax.set_aspect(1.0 / np.cos(np.radians((s + n) / 2.0)))
    ax.set_axis_off()
    handles = [
        Patch(color="#d7301f", label=f"planned site (national rank; top {top} of the province)"),
        Patch(color="#2c7bb6", label="planned fibre"),
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=6)
    ax.set_title(_title(title, sample), fontsize=9)
    # the archipelagos' panel sits right of the axes: only then does the image need to grow
    return _finish(fig, f"{source} {ATTRIBUTION}".strip(), tight=bool(far.any()))


#: Colours of the scorecard's statuses (geodata.indicators.targets.STATUSES).
STATUS_COLOURS = {
    "met": "#1a9850",
    "on track": "#a6d96a",
    "off track": "#d73027",
    "not measurable": "#bdbdbd",
}


def target_status_map_png(
    provinces: gpd.GeoDataFrame,
    panels: Sequence[tuple[str, str]],
    *,
    title: str,
    sample: bool,
    source: str = "",
) -> bytes:
    """Small multiples: one national map per target, provinces coloured by status.

    ``provinces`` holds one ``status_<indicator>`` column per panel; ``panels`` are
    ``(indicator, panel title)``. Every panel carries the archipelagos' panel."""
    ncols = 3
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(15, 7.2 * nrows), squeeze=False)
    main = _mainland(provinces)
    islands = _islands(provinces)
    for ax, (indicator, label) in zip(axes.ravel(), panels, strict=False):
        col = f"status_{indicator}"

        def paint(target: plt.Axes, gdf: gpd.GeoDataFrame, edge: str, col: str = col) -> None:
            colours = gdf[col].map(STATUS_COLOURS).fillna(STATUS_COLOURS["not measurable"])
            gdf.plot(ax=target, color=colours.tolist(), edgecolor=edge, linewidth=0.3)

        paint(ax, main, "white")
        islands_panel(ax, lambda panel, paint=paint: paint(panel, islands, "#555555"))
        _frame_mainland(ax)
        ax.set_title(label, fontsize=9, loc="left")
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    handles = [Patch(color=c, label=s) for s, c in STATUS_COLOURS.items()]
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.955), ncol=4, fontsize=9,
        frameon=False,
    )  # fmt: skip
    fig.suptitle(_title(title, sample), fontsize=12, y=0.985)
    return _finish(fig, f"{source} {ATTRIBUTION}".strip())


def target_trend_chart_png(
    series: pd.DataFrame,
    *,
    label: str,
    target: float,
    target_year: int,
    title: str,
    sample: bool,
    source: str = "",
) -> bytes:
    """Lines per unit over the quarters (columns ``quarter, unit, value``; the unit named
    ``nation`` is drawn bold) with the target as a dashed line."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    quarters = sorted(series["quarter"].unique())
    pivot = series.pivot_table(index="quarter", columns="unit", values="value").reindex(quarters)
    x = np.arange(len(quarters))
    for unit in pivot.columns:
        bold = unit == "nation"
        ax.plot(
            x,
            pivot[unit].to_numpy(dtype=float),
            marker="o" if bold else ".",
            linewidth=2.4 if bold else 1.0,
            color="black" if bold else None,
            label=unit,
            zorder=3 if bold else 2,
        )
    ax.axhline(target, color="#d73027", linestyle="--", linewidth=1.2)
    ax.text(
        x[0],
        target,
        f" target {target:g} by {target_year}",
        color="#d73027",
        va="bottom",
        fontsize=8,
    )
    ax.set_xticks(x, quarters, fontsize=7, rotation=45)
    ax.set_ylabel(label)
    ax.set_ylim(bottom=0)
    if len(pivot.columns):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.text(0.5, 0.5, "no value in any quarter", transform=ax.transAxes, ha="center")
    ax.set_title(_title(title, sample), fontsize=10)
    return _finish(fig, f"{source} {ATTRIBUTION}".strip())
