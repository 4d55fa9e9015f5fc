/* Province search of the index page: filters the rows of the province tables as one types,
 * with or without diacritics ("cao bang" finds Cao Bằng, "da nang" finds Đà Nẵng). Each row
 * carries its name folded on the server (geodata.reference.fold_name) in data-search; the query
 * is folded here the same way. Without JavaScript the form stays hidden and every row shows.
 * ?q=... (the form's GET) fills the box, so a search can be linked. */
(function () {
  "use strict";

  const form = document.querySelector("form.search");
  const input = document.getElementById("province-search");
  const count = document.getElementById("search-count");
  if (!form || !input) return;
  const rows = Array.from(document.querySelectorAll("tr.province[data-search]"));
  const PREFIXES = ["thanh pho ", "tp. ", "tp ", "tinh "];

  // fold_name of geodata.reference: lower case, đ -> d, no marks, no prefix, letters and digits.
  function fold(text) {
    let s = String(text).trim().toLowerCase().replace(/đ/g, "d").normalize("NFD").replace(/\p{Mn}/gu, "");
    for (const prefix of PREFIXES) if (s.startsWith(prefix)) s = s.slice(prefix.length);
    return s.replace(/[^\p{L}\p{N}]/gu, "");
  }

  function apply() {
    const q = fold(input.value);
    let shown = 0;
    const hits = new Map();
    for (const row of rows) {
      const match = !q || row.dataset.search.includes(q);
      row.hidden = !match;
      if (match) {
        shown++;
        const box = row.closest("details.version");
        if (box) hits.set(box, (hits.get(box) || 0) + 1);
      }
    }
    for (const box of document.querySelectorAll("details.version")) {
      if (q && hits.get(box)) box.open = true;
      box.dataset.matches = q ? String(hits.get(box) || 0) : "";
    }
    document.body.dataset.searchShown = String(shown);
    count.textContent = q
      ? shown
        ? shown + " tỉnh / provinces"
        : "Không tìm thấy / No province found"
      : "";
  }

  // a link to #v63 (or to a section inside a closed block) opens its block
  function openTarget() {
    const id = decodeURIComponent(location.hash.slice(1));
    const target = id && document.getElementById(id);
    for (let el = target; el; el = el.parentElement) if (el.tagName === "DETAILS") el.open = true;
  }

  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    apply();
  });
  input.addEventListener("input", apply);
  const q = new URLSearchParams(location.search).get("q");
  if (q) input.value = q;
  if (input.value) apply();
  window.addEventListener("hashchange", openTarget);
  openTarget();
  if (location.hash) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }
})();
