/* Light offline base layer of the portal's map: main roads and larger settlements from this
 * server (/basemap/*.geojson, built from the data the package ships), drawn as thin grey lines
 * and small dots above the province fill but below the H3 cells and the plan layers, labelled
 * only when zoomed in; both switchable in the layers control. The two archipelagos are always
 * named. map.js calls window.gapBasemap(map, layersControl) once the map exists. */
(function () {
  "use strict";

  const ROADS_URL = "/basemap/roads.geojson";
  const PLACES_URL = "/basemap/places.geojson";
  const ROADS_CREDIT = "Đường / roads: CTU-SematX/LegoCity (CC BY-SA 4.0)";
  const PLACES_CREDIT = "Điểm dân cư / places: GeoNames (CC BY 4.0)";
  // a settlement's tier by population; its dot shows from DOT_ZOOM[tier], its name from LABEL_ZOOM[tier]
  function tier(population) { return population >= 500000 ? 0 : population >= 100000 ? 1 : 2; }
  const DOT_ZOOM = [0, 6.5, 8];
  const LABEL_ZOOM = [7, 8, 9];

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/geo+json" } });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  function roadStyle(feature) {
    const p = feature.properties || {};
    return {
      color: p.rail ? "#555" : "#777",
      weight: p.level === "provincial" || p.level === "other" ? 0.6 : 1,
      opacity: 0.75,
      dashArray: p.rail ? "3 3" : null,
      interactive: false,
    };
  }

  function archipelagos(map, features) {
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates;
      const box = document.createElement("div");
      const name = document.createElement("strong");
      f.properties.name.split(/(?<=đảo) /).forEach(function (part, i) { // Quần đảo / Hoàng Sa
        if (i) name.append(document.createElement("br"));
        name.append(part);
      });
      const province = document.createElement("span");
      province.textContent = "(" + f.properties.province + ")";
      box.append(name, document.createElement("br"), province);
      L.marker([lat, lon], {
        icon: L.divIcon({ className: "archipelago-label", html: box, iconSize: null }),
        interactive: false,
        keyboard: false,
      }).addTo(map);
    }
  }

  function settlements(map, features) {
    const markers = [];
    const group = L.layerGroup([], { attribution: PLACES_CREDIT });
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates;
      const t = tier(f.properties.population || 0);
      const m = L.circleMarker([lat, lon], {
        pane: "basemap",
        radius: t === 0 ? 3 : 2,
        color: "#333",
        weight: 0.6,
        fillColor: "#fff",
        fillOpacity: 1,
        interactive: false,
      });
      m.bindTooltip(f.properties.name, {
        permanent: true,
        direction: "right",
        offset: [3, 0],
        className: "place-label",
        interactive: false,
      });
      m.tier = t;
      markers.push(m);
      group.addLayer(m);
    }
    function update() {
      if (!map.hasLayer(group)) return;
      const z = map.getZoom();
      for (const m of markers) {
        const dot = z >= DOT_ZOOM[m.tier];
        m.setStyle({ opacity: dot ? 1 : 0, fillOpacity: dot ? 1 : 0 });
        const el = m.getTooltip() && m.getTooltip().getElement();
        if (el) el.style.display = dot && z >= LABEL_ZOOM[m.tier] ? "" : "none";
      }
    }
    map.on("zoomend", update);
    group.on("add", function () { setTimeout(update, 0); });
    return group;
  }

  window.gapBasemap = async function (map, layers) {
    const pane = map.createPane("basemap");
    pane.style.zIndex = 420; // above the province fill (400), below the cells (450) and plans
    pane.style.pointerEvents = "none";
    const status = document.getElementById("status");
    try {
      const [roadsGeo, placesGeo] = await Promise.all([getJSON(ROADS_URL), getJSON(PLACES_URL)]);
      archipelagos(map, placesGeo.features.filter(function (f) { return f.properties.kind === "archipelago"; }));
      const roads = L.geoJSON(roadsGeo, { pane: "basemap", style: roadStyle, interactive: false, attribution: ROADS_CREDIT });
      const places = settlements(map, placesGeo.features.filter(function (f) { return f.properties.kind === "settlement"; }));
      roads.addTo(map);
      places.addTo(map);
      layers.addOverlay(roads, "Đường chính / Main roads");
      layers.addOverlay(places, "Đô thị / Towns");
      if (status) status.dataset.basemap = roadsGeo.features.length + "," + places.getLayers().length;
    } catch (err) { // the map stands without its base layer
      if (status) status.dataset.basemap = "error: " + err.message;
    }
  };
})();
