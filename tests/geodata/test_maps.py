"""Every national map shows Hoàng Sa and Trường Sa, named in Vietnamese, inside its extent."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.publishing import maps
from geodata.reference import load_provinces


@pytest.fixture(scope="module", params=[("34", False), ("34", True), ("63", True)])
def provinces(request):
    version, simplified = request.param  # the maps draw the simplified outlines
    g = load_provinces(version, simplified=simplified)
    g["share"] = np.linspace(0.0, 0.6, len(g))
    return g


def _archipelagos(provinces) -> dict[str, tuple[float, float, float, float]]:
    """Bounds of the island polygons far offshore: Hoàng Sa (north of 15 N) and Trường Sa."""
    parts = shapely.get_parts(provinces.geometry.to_numpy())
    b = shapely.bounds(parts)
    far = b[:, 0] > 110.5
    north = far & (b[:, 1] > 14.0)
    south = far & (b[:, 3] < 12.5)
    assert north.any() and south.any(), "the shipped boundaries hold both archipelagos"

    def box(m):
        return (b[m, 0].min(), b[m, 1].min(), b[m, 2].max(), b[m, 3].max())

    return {"Quần đảo Hoàng Sa": box(north), "Quần đảo Trường Sa": box(south)}


@pytest.fixture
def figures(monkeypatch):
    """Capture the figures the map functions finish (before they are closed)."""
    seen = []
    finish = maps._finish

    def capture(fig, source, **kw):
        seen.append(fig)
        fig.canvas.draw()
        return finish(fig, source, **kw)

    monkeypatch.setattr(maps, "_finish", capture)
    return seen


def _national_maps(provinces):
    rng = np.random.default_rng(0)
    lat = np.r_[rng.uniform(9, 22, 200), 16.83, 8.64]
    lng = np.r_[rng.uniform(103, 109, 200), 112.33, 111.92]
    classes = rng.choice(["served", "underserved", "unserved", "no_data"], lat.size)
    outlines = gpd.GeoDataFrame(
        {"rank": [1, 2]},
        geometry=[shapely.box(105.0, 21.0, 105.2, 21.2), shapely.box(112.2, 16.7, 112.4, 16.9)],
        crs=4326,
    )
    yield (
        "choropleth",
        lambda: maps.province_choropleth_png(
            provinces, "share", title="t", legend_label="share", sample=True
        ),
    )
    yield (
        "cells",
        lambda: maps.cell_class_map_png(lat, lng, classes, provinces, title="t", sample=False),
    )
    yield "priorities", lambda: maps.priority_map_png(outlines, provinces, title="t", sample=True)
    sites = pd.DataFrame(
        {"rank": [1, 2], "lat": [21.1, 16.83], "lng": [105.1, 112.33], "people_new": [900.0, 50.0]}
    )
    yield "sites", lambda: maps.site_plan_map_png(sites, provinces, title="t", sample=True)
    lines = [shapely.LineString([(105.0, 21.0), (105.3, 21.2)])]
    routes = pd.DataFrame({"rank": [1], "people": [500.0], "lat": [21.0], "lng": [105.0]})
    yield (
        "routes",
        lambda: maps.route_plan_map_png(routes, lines, provinces, title="t", sample=False),
    )
    status = provinces.copy()
    status["status_a"] = np.where(np.arange(len(status)) % 2, "met", "off track")
    status["status_b"] = "on track"
    yield (
        "targets",
        lambda: maps.target_status_map_png(
            status, [("a", "A"), ("b", "B")], title="t", sample=True
        ),
    )


def test_every_national_map_shows_both_archipelagos_named(provinces, figures):
    islands = _archipelagos(provinces)
    for name, render in _national_maps(provinces):
        png = render()
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        fig = figures[-1]
        axes = [*fig.axes, *(child for ax in fig.axes for child in ax.child_axes)]
        texts = " ".join(t.get_text() for ax in axes for t in ax.texts)
        for island, (w, s, e, n) in islands.items():
            assert island in texts, (name, island)
            shown = [
                ax
                for ax in axes
                if min(ax.get_xlim()) <= w
                and max(ax.get_xlim()) >= e
                and min(ax.get_ylim()) <= s
                and max(ax.get_ylim()) >= n
                and ax.get_visible()
            ]
            assert shown, (
                f"{name}: {island} ({w:.2f}-{e:.2f} E, {s:.2f}-{n:.2f} N) outside every panel"
            )
            # something is drawn there: the island polygons themselves
            assert any(ax.collections or ax.patches for ax in shown), (name, island)
