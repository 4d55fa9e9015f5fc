/* Offline map of the download portal: province summaries coloured by share of people unserved,
 * click a province for its figures and its H3 cells. Uses only the vendored Leaflet and files of
 * this server (no basemap, no CDN). Configuration comes from <script id="map-config">. */
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("map-config").textContent);
  const statusEl = document.getElementById("status");

  // Share unserved: 6 classes whose upper bounds are the sextiles of the provinces shown (so the
  // colours spread the provinces; fixed bounds left most of the north in one class), ColorBrewer
  // YlOrRd. Until the provinces are loaded, fixed bounds.
  let BREAKS = [0.01, 0.05, 0.1, 0.2, 0.4];
  let BREAK_RULE = "";

  function quantileBreaks(values) {
    const v = values.filter(function (x) { return x !== null; }).sort(function (a, b) { return a - b; });
    if (v.length < 6) return null;
    const out = [];
    for (let k = 1; k < 6; k++) {
      const b = v[Math.min(v.length - 1, Math.floor((k * v.length) / 6))];
      if (!out.length || b > out[out.length - 1]) out.push(b);
    }
    return out.length >= 2 ? out : null;
  }
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
    return COLOURS[BREAKS.length];
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
  // Why a cell has its class: the better of fixed and mobile (geodata.indicators.service).
  function reason(p) {
    const f = p.fixed_class, m = p.mobile_class;
    if (p.service_class === "unserved") {
      if (f === "unserved" && m === "unserved") return "cả cố định và di động dưới ngưỡng / both fixed and mobile below the threshold";
      if (f === "unserved") return "cố định dưới ngưỡng, không có số liệu di động / fixed below the threshold, no mobile data";
      return "di động dưới ngưỡng, không có số liệu cố định / mobile below the threshold, no fixed data";
    }
    if (p.service_class === "served" || p.service_class === "underserved") {
      const by = f === p.service_class ? "cố định / fixed" : "di động / mobile";
      return "nhờ " + by + " (lớp tốt hơn của hai) / by " + by.split(" / ")[1] + " (the better of the two)";
    }
    return "không có đo đạc / no measurement";
  }
  const CELL_ROWS = [
    ["Dân số", "Population", "population", int],
    ["Mức phục vụ", "Service class", "service_class", serviceClass],
    ["Lý do", "Why", "service_class_reason", text],
    ["Lớp cố định", "Fixed class", "fixed_class", serviceClass],
    ["Lớp di động", "Mobile class", "mobile_class", serviceClass],
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
  map.createPane("plans").style.zIndex = 460; // above the base layer and the cells

  const legend = L.control({ position: "bottomright" });
  function pctLabel(x) { return dec.format(100 * x) + " %"; }
  legend.onAdd = function () {
    const box = L.DomUtil.create("details", "legend");
    // open on a wide screen, closed on a phone (it would cover half the map)
    box.open = !window.matchMedia("(max-width: 48rem)").matches;
    const summary = document.createElement("summary");
    summary.textContent = "Chú giải / Legend";
    box.appendChild(summary);
    const div = document.createElement("div");
    box.appendChild(div);
    L.DomEvent.disableClickPropagation(box);
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
    const bounds = [0, ...BREAKS];
    const ranges = bounds.map(function (b, i) {
      return i + 1 < bounds.length ? pctLabel(b) + " – " + pctLabel(bounds[i + 1]) : "≥ " + pctLabel(b);
    });
    block("Tỷ lệ chưa được phục vụ / Share unserved", [
      ...ranges.map(function (label, i) { return [COLOURS[i], label]; }),
      [NO_DATA, "không có số liệu / no data"],
    ]);
    if (BREAK_RULE) {
      const note = document.createElement("div");
      note.className = "hint";
      note.textContent = BREAK_RULE;
      div.appendChild(note);
    }
    block("Ô H3 / H3 cells", Object.keys(CLASS_LABELS).map(function (k) { return [CLASS_COLOURS[k], CLASS_LABELS[k]]; }));
    return box;
  };
  legend.addTo(map);

  const phone = window.matchMedia("(max-width: 48rem)").matches;
  const layers = L.control.layers(null, null, { collapsed: phone }).addTo(map);
  if (window.gapBasemap) window.gapBasemap(map, layers); // roads and towns (basemap.js)
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
        pane: "plans",
        pointToLayer: function (f, latlng) {
          const r = 1.5 + 5.5 * Math.sqrt((f.properties.people_new || 0) / top);
          return L.circleMarker(latlng, { pane: "plans", radius: r, color: "#7f0000", weight: 0.6, fillColor: "#d7301f", fillOpacity: 0.75 });
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
        pane: "plans",
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
          layer.bindPopup(function () {
            const p = Object.assign({}, f.properties);
            if (typeof p.service_class === "string") p.service_class_reason = reason(p);
            return figures("H3 " + (p.h3 || ""), p, CELL_ROWS);
          });
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
      const q = quantileBreaks(geo.features.map(function (f) { return shareUnserved(f.properties); }));
      if (q) {
        BREAKS = q;
        BREAK_RULE = "Lớp theo lục phân vị các tỉnh / classes: sextiles of the provinces";
        legend.remove();
        legend.addTo(map);
      }
      provinces = L.geoJSON(geo, {
        style: provinceStyle,
        onEachFeature: function (f, layer) {
          const p = f.properties;
          const box = figures((p.name || "") + " (" + p.code + ")", p, PROVINCE_ROWS);
          const note = document.createElement("p");
          note.className = "hint";
          note.textContent =
            "Chưa được phục vụ: người ở các ô mà cả cố định lẫn di động đều dưới ngưỡng; tốc độ là " +
            "trung bình theo số lần đo ở các ô có đo. / Unserved: people in cells where neither " +
            "fixed nor mobile reaches the threshold; speeds are test-weighted means of the cells " +
            "with tests, so a fast city can sit beside many unserved villages.";
          box.appendChild(note);
          layer.bindPopup(box, { maxWidth: 360 });
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
