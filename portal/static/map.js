/* Offline map of the download portal: province summaries coloured by share of people unserved,
 * click a province for its figures and its H3 cells. Uses only the vendored Leaflet and files of
 * this server (no basemap, no CDN). Configuration comes from <script id="map-config">. */
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("map-config").textContent);
  const statusEl = document.getElementById("status");

  // Share unserved classes (upper bounds) and colours (ColorBrewer YlOrRd, 6 classes).
  const BREAKS = [0.01, 0.05, 0.1, 0.2, 0.4];
  const COLOURS = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"];
  const NO_DATA = "#c8ccd0";
  // Service class of a base cell: the colours of geodata.maps.CLASS_COLOURS (checked by a test).
  const CLASS_COLOURS = {
    no_data: "#d9d9d9",
    unserved: "#d7301f",
    underserved: "#fdae61",
    served: "#2c7bb6",
  };
  const CLASS_LABELS = {
    served: "được phục vụ / served",
    underserved: "phục vụ chưa đủ / underserved",
    unserved: "chưa được phục vụ / unserved",
    no_data: "không có số liệu / no data",
  };
  const num = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 0 });
  const dec = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 1 });

  function setStatus(state, vi, en) {
    statusEl.dataset.state = state;
    document.body.dataset.mapState = state;
    statusEl.textContent = vi + " ";
    const span = document.createElement("span");
    span.lang = "en";
    span.textContent = "/ " + en;
    statusEl.appendChild(span);
  }

  function shareUnserved(p) {
    if (typeof p.share_unserved === "number" && isFinite(p.share_unserved)) return p.share_unserved;
    if (typeof p.people_unserved === "number" && typeof p.population === "number" && p.population > 0) {
      return p.people_unserved / p.population;
    }
    return null;
  }

  function colour(share) {
    if (share === null) return NO_DATA;
    for (let i = 0; i < BREAKS.length; i++) if (share < BREAKS[i]) return COLOURS[i];
    return COLOURS[COLOURS.length - 1];
  }

  // A base cell has a service class; a coarse cell (aggregated children) has shares.
  function cellColour(p) {
    if (typeof p.service_class === "string") return CLASS_COLOURS[p.service_class] || NO_DATA;
    return colour(shareUnserved(p));
  }

  function serviceClass(x) { return typeof x === "string" ? CLASS_LABELS[x] || x : "—"; }
  function text(x) { return typeof x === "string" ? x : "—"; }

  function pct(x) { return typeof x === "number" && isFinite(x) ? dec.format(100 * x) + " %" : "—"; }
  function int(x) { return typeof x === "number" && isFinite(x) ? num.format(x) : "—"; }
  function mbps(x) { return typeof x === "number" && isFinite(x) ? dec.format(x) + " Mbps" : "—"; }

  // Figures shown in a popup: [Vietnamese, English, property, formatter].
  const PROVINCE_ROWS = [
    ["Dân số", "Population", "population", int],
    ["Người chưa được phục vụ", "People unserved", "people_unserved", int],
    ["Tỷ lệ chưa được phục vụ", "Share unserved", "share_unserved", pct],
    ["Tỷ lệ phục vụ chưa đủ", "Share underserved", "share_underserved", pct],
    ["Tỷ lệ được phục vụ", "Share served", "share_served", pct],
    ["Tỷ lệ không có số liệu", "Share without data", "share_no_data", pct],
    ["Cố định, tải xuống", "Fixed download", "fixed_d_mbps", mbps],
    ["Cố định, tải lên", "Fixed upload", "fixed_u_mbps", mbps],
    ["Di động, tải xuống", "Mobile download", "mobile_d_mbps", mbps],
    ["Di động, tải lên", "Mobile upload", "mobile_u_mbps", mbps],
    ["Số ô H3", "H3 cells", "n_cells", int],
  ];
  const CELL_ROWS = [
    ["Dân số", "Population", "population", int],
    ["Mức phục vụ", "Service class", "service_class", serviceClass],
    ["Công nghệ di động tốt nhất", "Best mobile technology", "best_tech", text],
    ["Người chưa được phục vụ", "People unserved", "people_unserved", int],
    ["Tỷ lệ chưa được phục vụ", "Share unserved", "share_unserved", pct],
    ["Cố định, tải xuống", "Fixed download", "fixed_d_mbps", mbps],
    ["Cố định, tải lên", "Fixed upload", "fixed_u_mbps", mbps],
    ["Di động, tải xuống", "Mobile download", "mobile_d_mbps", mbps],
    ["Di động, tải lên", "Mobile upload", "mobile_u_mbps", mbps],
  ];

  function figures(title, p, rows) {
    const box = document.createElement("div");
    const h = document.createElement("h3");
    h.textContent = title;
    box.appendChild(h);
    const table = document.createElement("table");
    table.className = "figures";
    for (const [vi, en, key, fmt] of rows) {
      const value = p[key];
      if (value === undefined) continue;
      const tr = table.insertRow();
      const th = document.createElement("th");
      th.textContent = vi + " / " + en;
      tr.appendChild(th);
      tr.insertCell().textContent = fmt(value);
    }
    box.appendChild(table);
    return box;
  }

  const map = L.map("map", { zoomSnap: 0.25, minZoom: 4, maxZoom: 13 }).setView([16.0, 106.0], 5);
  map.attributionControl.addAttribution(
    "Ranh giới / Boundaries: Open Development Vietnam (CC BY-SA 4.0); dân số / population: WorldPop 2020"
  );
  map.createPane("cells").style.zIndex = 450;

  const legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    const div = L.DomUtil.create("div", "legend");
    function block(title, entries) {
      const head = document.createElement("strong");
      head.textContent = title;
      div.appendChild(head);
      for (const [colour, label] of entries) {
        const row = document.createElement("div");
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = colour;
        row.appendChild(sw);
        row.appendChild(document.createTextNode(label));
        div.appendChild(row);
      }
    }
    const ranges = ["< 1 %", "1–5 %", "5–10 %", "10–20 %", "20–40 %", "≥ 40 %"];
    block("Tỷ lệ chưa được phục vụ / Share unserved", [
      ...ranges.map(function (label, i) { return [COLOURS[i], label]; }),
      [NO_DATA, "không có số liệu / no data"],
    ]);
    block("Ô H3 / H3 cells", Object.keys(CLASS_LABELS).map(function (k) { return [CLASS_COLOURS[k], CLASS_LABELS[k]]; }));
    return div;
  };
  legend.addTo(map);

  const layers = L.control.layers(null, null, { collapsed: false }).addTo(map);
  const cellsCache = new Map();
  let provinces = null;
  let cellsLayer = null;
  let selected = null;

  function provinceStyle(feature) {
    return {
      color: "#4a4a4a",
      weight: 0.8,
      fillColor: colour(shareUnserved(feature.properties)),
      fillOpacity: 0.85,
    };
  }

  async function fetchJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/geo+json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  // Investment plan layers (national, this quarter): overlays the user switches on.
  const SITE_ROWS = [
    ["Hạng", "Rank", "rank", int],
    ["Gần", "Near", "place", text],
    ["Tỉnh (34)", "Province (34)", "province_34_name", text],
    ["Tỉnh (63)", "Province (63)", "province_63_name", text],
    ["Người được phủ sóng mới", "People newly reached", "people_new", int],
    ["Cộng dồn", "Cumulative people", "people_cumulative", int],
    ["Chi phí cộng dồn (USD)", "Cumulative cost (USD)", "cost_cumulative", int],
  ];
  const ROUTE_ROWS = [
    ["Hạng", "Rank", "rank", int],
    ["Gần", "Near", "place", text],
    ["Tỉnh (34)", "Province (34)", "province_34_name", text],
    ["Số người", "People", "people", int],
    ["Km cáp quang mới", "km of new fibre", "km", function (x) { return dec.format(x) + " km"; }],
    ["Người trên km", "People per km", "people_per_km", int],
    ["Tuyến", "Route", "route", text],
    ["Chi phí cộng dồn (USD)", "Cumulative cost (USD)", "cost_cumulative", int],
  ];

  async function addPlans() {
    const plans = cfg.plans || {};
    if (plans.mobile_sites) {
      const geo = await fetchJSON(plans.mobile_sites);
      const top = Math.max(1, ...geo.features.map(function (f) { return f.properties.people_new || 0; }));
      const sites = L.geoJSON(geo, {
        pointToLayer: function (f, latlng) {
          const r = 1.5 + 5.5 * Math.sqrt((f.properties.people_new || 0) / top);
          return L.circleMarker(latlng, { radius: r, color: "#7f0000", weight: 0.6, fillColor: "#d7301f", fillOpacity: 0.75 });
        },
        onEachFeature: function (f, layer) {
          layer.bindPopup(function () { return figures("Trạm đề xuất / Planned site", f.properties, SITE_ROWS); });
        },
      });
      layers.addOverlay(sites, "Trạm di động đề xuất / Planned mobile sites");
      if ((cfg.show || []).includes("sites")) sites.addTo(map);
    }
    if (plans.fixed_routes) {
      const geo = await fetchJSON(plans.fixed_routes);
      const routes = L.geoJSON(geo, {
        style: function () { return { color: "#2c7bb6", weight: 2, opacity: 0.9 }; },
        onEachFeature: function (f, layer) {
          layer.bindPopup(function () { return figures("Tuyến cáp quang / Fibre extension", f.properties, ROUTE_ROWS); });
        },
      });
      layers.addOverlay(routes, "Cáp quang đề xuất / Planned fibre");
      if ((cfg.show || []).includes("fibre")) routes.addTo(map);
    }
  }

  async function showCells(code, name) {
    if (cellsLayer) {
      layers.removeLayer(cellsLayer);
      map.removeLayer(cellsLayer);
      cellsLayer = null;
    }
    const url = cfg.cells[code];
    if (!url) {
      setStatus("ready", name + ": chưa có tệp ô H3.", name + ": no H3 cells file yet.");
      return;
    }
    setStatus("loading", "Đang tải ô H3 của " + name + "…", "loading H3 cells of " + name + "…");
    try {
      if (!cellsCache.has(code)) cellsCache.set(code, await fetchJSON(url));
      const geo = cellsCache.get(code);
      if (selected === null || selected.feature.properties.code !== code) return; // clicked elsewhere meanwhile
      cellsLayer = L.geoJSON(geo, {
        pane: "cells",
        style: function (f) {
          return { color: "#333", weight: 0.2, fillColor: cellColour(f.properties), fillOpacity: 0.9 };
        },
        onEachFeature: function (f, layer) {
          layer.bindPopup(function () { return figures("H3 " + (f.properties.h3 || ""), f.properties, CELL_ROWS); });
        },
      }).addTo(map);
      layers.addOverlay(cellsLayer, "Ô H3 / H3 cells: " + name);
      statusEl.dataset.cells = String(geo.features ? geo.features.length : 0);
      statusEl.dataset.cellsCode = code;
      setStatus("ready", name + ": " + statusEl.dataset.cells + " ô H3.", name + ": " + statusEl.dataset.cells + " H3 cells.");
    } catch (err) {
      setStatus("error", "Không tải được ô H3 (" + err.message + ").", "could not load the H3 cells (" + err.message + ").");
    }
  }

  function select(layer, fit) {
    if (selected) provinces.resetStyle(selected);
    selected = layer;
    layer.setStyle({ weight: 2.5, color: "#0b6e99" });
    layer.bringToFront();
    const p = layer.feature.properties;
    const name = p.name || p.code;
    if (fit) map.fitBounds(layer.getBounds(), { maxZoom: 9 });
    layer.openPopup(layer.getBounds().getCenter());
    showCells(p.code, name);
  }

  async function start() {
    if (!cfg.summary_url) {
      setStatus("error", "Chưa có tệp tóm tắt tỉnh để vẽ.", "no province summary file to draw yet.");
      return;
    }
    try {
      const geo = await fetchJSON(cfg.summary_url);
      provinces = L.geoJSON(geo, {
        style: provinceStyle,
        onEachFeature: function (f, layer) {
          const p = f.properties;
          layer.bindPopup(figures((p.name || "") + " (" + p.code + ")", p, PROVINCE_ROWS), { maxWidth: 360 });
          layer.bindTooltip(p.name || p.code, { sticky: true });
          layer.on("click", function () { select(layer, false); });
        },
      }).addTo(map);
      layers.addOverlay(provinces, "Tỉnh / Provinces " + (cfg.period || ""));
      map.fitBounds(provinces.getBounds());
      statusEl.dataset.provinces = String(geo.features.length);
      setStatus("ready", geo.features.length + " tỉnh, quý " + cfg.period + ".", geo.features.length + " provinces, " + cfg.period + ".");
      if (cfg.province) {
        const layer = provinces.getLayers().find(function (l) { return l.feature.properties.code === cfg.province; });
        if (layer) select(layer, true);
        else setStatus("ready", "Tỉnh " + cfg.province + " không có trong tệp này.", "province " + cfg.province + " is not in this file.");
      }
    } catch (err) {
      setStatus("error", "Không tải được bản đồ (" + err.message + ").", "could not load the map (" + err.message + ").");
      return;
    }
    try {
      await addPlans();
      statusEl.dataset.plans = "ready";
    } catch (err) {  // the gap map stands without the plan layers
      statusEl.dataset.plans = "error: " + err.message;
    }
  }

  start();
})();
