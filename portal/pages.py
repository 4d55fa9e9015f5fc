"""The HTML pages: index of every province's files, one page per province, the offline map.

Pages are rendered from the current :class:`~portal.catalogue.Catalogue` with Jinja2
(autoescaped) and carry a Content-Security-Policy that allows nothing but this server, so the
map cannot reach a CDN or an online basemap even by mistake.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from geodata.indicators.targets import INDICATORS
from geodata.reference import BOUNDARY_VALID_FROM, BOUNDARY_VERSIONS, fold_name
from portal.catalogue import Catalogue, FileEntry, ManifestStore, Province
from portal.http_errors import BilingualError

__all__ = [
    "PAGE_HEADERS",
    "KIND_LABELS",
    "indicator_label",
    "human_bytes",
    "local_time",
    "make_environment",
    "static_url",
    "render",
    "find_province",
    "province_redirect",
    "check_version",
    "index_context",
    "province_context",
    "map_context",
]

#: Headers of every HTML page: nothing may load from anywhere but this server.
PAGE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

#: ``(Vietnamese, English)`` label of each file kind; other kinds are shown as they are.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "cells": ("ô lục giác H3", "H3 cells"),
    "summary": ("tóm tắt", "summary"),
    "provinces": ("tóm tắt các tỉnh", "province summaries"),
    "vn_cells_res6": ("ô H3 cả nước (độ phân giải 6)", "national H3 cells (resolution 6)"),
    "change": ("thay đổi giữa hai quý", "change between quarters"),
    "unserved_share": ("bản đồ tỷ lệ chưa được phục vụ", "map of share unserved"),
    "mobile_priorities": (
        "ưu tiên đầu tư: vùng chưa có 4G",
        "investment priorities: clusters without 4G",
    ),
    "fixed_priorities": (
        "ưu tiên đầu tư: vùng băng rộng cố định dưới 25/3 Mbps",
        "investment priorities: fixed broadband below 25/3 Mbps",
    ),
    "mobile_priority_changes": ("thay đổi vùng chưa có 4G", "change of clusters without 4G"),
    "fixed_priority_changes": (
        "thay đổi vùng băng rộng cố định yếu",
        "change of fixed broadband gap clusters",
    ),
    "mobile_gap_cluster_cells": (
        "ô H3 của từng vùng chưa có 4G",
        "H3 cells of each mobile cluster",
    ),
    "fixed_gap_cluster_cells": (
        "ô H3 của từng vùng băng rộng cố định yếu",
        "H3 cells of each fixed cluster",
    ),
    "targets": ("mục tiêu hạ tầng số theo tỉnh", "targets scorecard by province"),
    "targets_region": ("mục tiêu hạ tầng số theo vùng", "targets scorecard by region"),
    "targets_nation": ("mục tiêu hạ tầng số cả nước", "targets scorecard, nation"),
    "targets_most_improved": ("mục tiêu: tiến bộ nhanh nhất", "targets: most improved"),
    "targets_furthest_behind": ("mục tiêu: xa mục tiêu nhất", "targets: furthest behind"),
    "targets_catalogue": ("danh mục mục tiêu và nguồn", "targets and their sources"),
    "targets_status": ("bản đồ tình trạng mục tiêu", "map of target status"),
    **{
        f"targets_trend_{indicator}": (f"xu hướng: {vi}", f"trend: {en}")
        for indicator, (_, _, en, vi) in INDICATORS.items()
    },
}

#: ``(Vietnamese, English)`` heading of each gap kind in the priorities section.
PRIORITY_KINDS: dict[str, tuple[str, str]] = {
    "mobile": ("Di động: nơi có người ở chưa có 4G", "Mobile: populated places without 4G"),
    "fixed": (
        "Cố định: băng rộng đo được dưới 25/3 Mbps",
        "Fixed: measured broadband below 25/3 Mbps",
    ),
}
_PRIORITY_FIELDS = (
    "rank",
    "province_34",
    "province_34_name",
    "province_63",
    "province_63_name",
    "region",
    "population",
    "area_km2",
    "distance_km",
    "mean_distance_km",
    "people_per_km",
)

_VERSION_LABELS: dict[str, tuple[str, str]] = {
    "34": ("34 tỉnh, thành phố (từ 01/07/2025)", "34 provinces (since 1 July 2025)"),
    "63": ("63 tỉnh, thành phố (đến 30/06/2025)", "63 provinces (until 30 June 2025)"),
}

_STATIC_DIR = Path(__file__).parent / "static"
_ICT = timezone(timedelta(hours=7), "ICT")


def human_bytes(n: int) -> str:
    """Size with a decimal unit: ``human_bytes(358704) == '358.7 kB'``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def local_time(ts: float | None) -> str:
    """Vietnam time (UTC+7) of an epoch timestamp, ``YYYY-MM-DD HH:MM ICT``; ``—`` for None."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, _ICT).strftime("%Y-%m-%d %H:%M ICT")


def _utc_iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def indicator_label(indicator: str) -> tuple[str, str]:
    """``(Vietnamese, English)`` label of a scorecard indicator; an unknown id as it is."""
    if indicator in INDICATORS:
        _, _, en, vi = INDICATORS[indicator]
        return vi, en
    text = indicator.replace("_", " ")
    return text, text


def _kind_label(kind: str) -> tuple[str, str]:
    return KIND_LABELS.get(kind, (kind.replace("_", " "), kind.replace("_", " ")))


@lru_cache(maxsize=64)
def static_url(name: str) -> str:
    """URL of a file of ``portal/static`` with a digest of its bytes as query, so a new version
    of the file is fetched at once despite the day of caching of static files."""
    digest = hashlib.sha256((_STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _thousands(x: Any) -> str:
    """A whole number with thin spaces between thousands (Vietnamese and English both read it)."""
    v = _num(x)
    return "—" if v is None else f"{v:,.0f}".replace(",", "\u202f")


def _percent(x: Any) -> str:
    v = _num(x)
    return "—" if v is None else f"{100 * v:.1f} %"


def _fixed(x: Any, digits: int = 1) -> str:
    """A number with ``digits`` decimals; ``—`` when there is none."""
    v = _num(x)
    return "—" if v is None else f"{v:,.{digits}f}".replace(",", "\u202f")


def _signed(x: Any, digits: int = 2) -> str:
    """A change with its sign (``+1.25``, ``−0.50``); ``—`` when there is none."""
    v = _num(x)
    if v is None:
        return "—"
    text = f"{abs(v):,.{digits}f}".replace(",", "\u202f")
    if float(text.replace("\u202f", "")) == 0:
        return text
    return ("+" if v > 0 else "\u2212") + text


def _sentence(text: Any) -> str:
    """``text`` with its first letter capitalised and the rest unchanged (``2027Q1`` stays)."""
    text = str(text or "")
    return text[:1].upper() + text[1:]


def make_environment() -> jinja2.Environment:
    """The Jinja2 environment of the portal's templates (autoescaped, with the filters)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["human_bytes"] = human_bytes
    env.filters["thousands"] = _thousands
    env.filters["percent"] = _percent
    env.filters["fixed"] = _fixed
    env.filters["signed"] = _signed
    env.filters["sentence"] = _sentence
    env.filters["local_time"] = local_time
    env.filters["utc_iso"] = _utc_iso
    env.globals["kind_label"] = _kind_label
    env.globals["indicator_label"] = indicator_label
    env.globals["static_url"] = static_url
    env.globals["version_label"] = _VERSION_LABELS.get
    return env


def render(
    env: jinja2.Environment, template: str, status_code: int = 200, **context: Any
) -> Response:
    """An HTML response of ``template`` with the page headers."""
    html = env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def check_version(version: str) -> str:
    """``version`` if it is a boundary version, else a bilingual 404 naming the valid ones."""
    if version in BOUNDARY_VERSIONS:
        return version
    raise BilingualError(
        404,
        f"Không có hệ ranh giới '{version}'. Có hai hệ: 63 tỉnh (đến 30/06/2025) và 34 tỉnh "
        "(từ 01/07/2025).",
        f"No boundary version '{version}'. There are two: 63 provinces (until 30 June 2025) and "
        "34 provinces (since 1 July 2025).",
        links=[(f"{v} tỉnh / {v} provinces", f"/#v{v}") for v in reversed(BOUNDARY_VERSIONS)],
    )


def find_province(catalogue: Catalogue, version: str, code: str) -> Province | str:
    """The province ``code`` of ``version``; a code string to redirect to when ``code`` is a
    name (``ha-noi``, ``Hà Nội``) or an unpadded code (``1``); else a bilingual 404."""
    provinces = catalogue.provinces[check_version(version)]
    if code in provinces:
        return provinces[code]
    if code.isdigit() and code.zfill(2) in provinces:
        return code.zfill(2)
    folded = fold_name(code)
    for p in provinces.values():
        if folded and folded in (fold_name(p.name), fold_name(p.name_ascii)):
            return p.code
    raise BilingualError(
        404,
        f"Không có tỉnh mã '{code}' trong hệ {version} tỉnh. Mã hợp lệ là mã hai chữ số của "
        f"Tổng cục Thống kê, ví dụ {next(iter(provinces))}; xem danh sách dưới đây.",
        f"No province with code '{code}' in the {version}-province system. Valid codes are the "
        f"two-digit codes of the General Statistics Office, e.g. {next(iter(provinces))}; see the "
        "list below.",
        links=[
            (f"{p.code} {p.name}", f"/provinces/{version}/{p.code}") for p in provinces.values()
        ],
    )


def province_redirect(version: str, code: str, suffix: str = "") -> Response:
    """Permanent redirect to a province's canonical URL."""
    return RedirectResponse(f"/provinces/{version}/{code}{suffix}", status_code=308)


def requested_province(
    store: ManifestStore, request: Request, suffix: str = ""
) -> tuple[Path, Catalogue, Province] | Response:
    """The province a ``/provinces/{version}/{code}...`` request names, with the served root and
    the catalogue read together (one generation); or the permanent redirect to its canonical
    URL (ending in ``suffix``) when the code is a name or unpadded; a bilingual 404 else."""
    version, code = request.path_params["version"], request.path_params["code"]
    served, catalogue = store.snapshot()
    found = find_province(catalogue, version, code)
    if isinstance(found, str):
        return province_redirect(version, found, suffix)
    return served, catalogue, found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def priorities_context(catalogue: Catalogue) -> dict[str, Any] | None:
    """The national top gap clusters the manifest carries (``priorities``), checked field by
    field (the manifest is data, not code), with their files when the manifest lists them."""
    raw = catalogue.extra.get("priorities")
    if not isinstance(raw, dict) or not isinstance(raw.get("kinds"), dict):
        return None
    kinds = []
    for kind, entry in raw["kinds"].items():
        if kind not in PRIORITY_KINDS or not isinstance(entry, dict):
            continue
        rows = []
        for rec in entry.get("top") or []:
            if not isinstance(rec, dict):
                continue
            row = {k: rec.get(k) for k in _PRIORITY_FIELDS}
            for k in (
                "rank",
                "population",
                "area_km2",
                "distance_km",
                "mean_distance_km",
                "people_per_km",
            ):
                row[k] = _number(row[k])
            for k in (
                "province_34",
                "province_34_name",
                "province_63",
                "province_63_name",
                "region",
            ):
                row[k] = str(row[k]) if row[k] is not None else ""
            if row["rank"] is None:
                continue
            row["province_34_known"] = row["province_34"] in catalogue.provinces.get("34", {})
            rows.append(row)
        files = [
            catalogue.files[p]
            for p in (entry.get("files") or {}).values()
            if isinstance(p, str) and p in catalogue.files
        ]
        change = entry.get("change") if isinstance(entry.get("change"), dict) else None
        change_file = catalogue.files.get(change.get("file")) if change else None
        counts = change.get("counts") if change else None
        kinds.append(
            {
                "kind": kind,
                "label": PRIORITY_KINDS[kind],
                "rule": str((entry.get("rule") or {}).get("description", "")),
                "clusters": _number(entry.get("clusters")),
                "people": _number(entry.get("people")),
                "rows": rows,
                "files": files + ([change_file] if change_file else []),
                "change_since": str(change.get("since", "")) if change else "",
                "change_counts": {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
                if isinstance(counts, dict)
                else {},
            }
        )
    if not kinds:
        return None
    return {"period": str(raw.get("period", "")), "kinds": kinds}


def latest_figures(
    catalogue: Catalogue, root: Path | None, version: str
) -> tuple[str | None, dict[str, dict[str, float | None]]]:
    """``(quarter, {code: {people_unserved, share_unserved}})`` of the latest national summary
    table (``tables/summary_{version}_{quarter}.csv``), read once per content; ``(None, {})``
    without one."""
    tables = {
        f.period: f
        for f in catalogue.national.get(version, ())
        if f.kind == "summary" and f.suffix == "csv" and f.period
    }
    if root is None or not tables:
        return None, {}
    latest = max(tables)
    table = _read_csv(root, tables[latest])
    if table is None or "code" not in table:
        return None, {}
    return latest, {
        str(r.get("code")): {
            "people_unserved": _num(r.get("people_unserved")),
            "share_unserved": _num(r.get("share_unserved")),
        }
        for r in table.to_dict("records")
    }


def index_context(catalogue: Catalogue, root: Path | None = None) -> dict[str, Any]:
    """What ``index.html`` shows: per version, every province with its latest figures (from the
    summary table, when ``root`` is given) and its name folded for the search box, and the rest."""
    versions = []
    for v in reversed(BOUNDARY_VERSIONS):  # the version in force first
        provinces = list(catalogue.provinces[v].values())
        period, figures = latest_figures(catalogue, root, v)
        versions.append(
            {
                "version": v,
                "valid_from": BOUNDARY_VALID_FROM[v],
                "provinces": provinces,
                "with_files": sum(1 for p in provinces if p.files),
                "national": catalogue.national[v],
                "periods": catalogue.summary_periods(v),
                "figures_period": period,
                "figures": figures,
                "folded": {
                    p.code: " ".join(dict.fromkeys((fold_name(p.name), fold_name(p.name_ascii))))
                    for p in provinces
                },
            }
        )
    return {
        "catalogue": catalogue,
        "sample": catalogue.sample,
        "versions": versions,
        "other": catalogue.other,
        "priorities": priorities_context(catalogue),
        "n_files": len(catalogue.files),
        "total_bytes": sum(f.bytes for f in catalogue.files.values()),
    }


def _read_csv(root: Path, entry: FileEntry) -> pd.DataFrame | None:
    try:
        return _csv_cached(str(root / entry.path), entry.sha256)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


@lru_cache(maxsize=64)
def _csv_cached(path: str, sha256: str) -> pd.DataFrame:
    """A published CSV, read once per content (the manifest's sha256 is part of the key)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def province_headline(
    catalogue: Catalogue, root: Path, province: Province
) -> dict[str, Any] | None:
    """The figures a province page opens with, from the published summary tables: people and
    share unserved in the latest quarter, rank among provinces (1 = largest share unserved),
    change since the previous quarter, the plan map and the plans' first rows."""
    v, code = province.version, province.code
    tables = {
        f.period: f
        for f in catalogue.national.get(v, ())
        if f.kind == "summary" and f.suffix == "csv" and f.period
    }
    if not tables:
        return None
    periods = sorted(tables)
    latest = periods[-1]
    cur = _read_csv(root, tables[latest])
    if cur is None or "code" not in cur:
        return None
    row = cur.loc[cur["code"] == code]
    if row.empty:
        return None
    r = row.iloc[0]
    out: dict[str, Any] = {
        "period": latest,
        "people_unserved": _num(r.get("people_unserved")),
        "share_unserved": _num(r.get("share_unserved")),
        "population": _num(r.get("population")),
        "share_coverage_4g_plus": _num(r.get("share_coverage_4g_plus")),
        "fixed_d_mbps": _num(r.get("fixed_d_mbps")),
        "rank": _num(r.get("rank")),
        "of": int((cur["code"] != "").sum()),
        "previous": None,
    }
    if len(periods) > 1:
        prev = _read_csv(root, tables[periods[-2]])
        if prev is not None and "code" in prev:
            p = prev.loc[prev["code"] == code]
            if not p.empty:
                before = p.iloc[0]
                out["previous"] = {
                    "period": periods[-2],
                    "people_unserved": _num(before.get("people_unserved")),
                    "share_unserved": _num(before.get("share_unserved")),
                    "rank": _num(before.get("rank")),
                }
    by_kind = {(f.kind, f.period): f for f in province.files}
    plan_png = by_kind.get(("plan", latest))
    out["plan_map"] = plan_png.url if plan_png else None
    tops = {}
    for kind, cols in (
        ("mobile_sites", ["rank", "place", "people_new", "cost"]),
        ("fixed_routes", ["rank", "place", "people", "km", "cost"]),
    ):
        f = next(
            (
                x
                for x in province.files
                if x.kind == kind and x.period == latest and x.suffix == "csv"
            ),
            None,
        )
        table = _read_csv(root, f) if f else None
        if table is not None and set(cols) <= set(table.columns):
            tops[kind] = table[cols].head(5).to_dict("records")
    out["plans"] = tops
    return out


def province_context(
    catalogue: Catalogue, province: Province, root: Path | None = None
) -> dict[str, Any]:
    """What ``province.html`` shows: headline figures, the plan map and its first rows, the
    province's files, and its national files."""
    return {
        "sample": catalogue.sample,
        "province": province,
        "version_label": _VERSION_LABELS[province.version],
        "national": catalogue.national[province.version],
        "headline": province_headline(catalogue, root, province) if root is not None else None,
    }


def map_context(
    catalogue: Catalogue,
    version: str,
    period: str | None,
    province: str | None,
    layers: str | None = None,
) -> dict[str, Any]:
    """What ``map.html`` shows and the JSON configuration its script reads.

    ``period`` defaults to the newest period with a province-summary GeoJSON; an unknown
    ``period`` or ``province`` is a bilingual 404.
    """
    periods = catalogue.summary_periods(version)
    if period is None:
        period = periods[-1] if periods else None
    elif period not in periods:
        raise BilingualError(
            404,
            f"Không có bản đồ quý '{period}' cho hệ {version} tỉnh. Các quý có: "
            f"{', '.join(periods) or 'chưa có'}.",
            f"No map for period '{period}' in the {version}-province system. Available: "
            f"{', '.join(periods) or 'none yet'}.",
            links=[(p, f"/map/{version}?period={p}") for p in periods],
        )
    if province is not None:
        found = find_province(catalogue, version, province)
        province = found if isinstance(found, str) else found.code
    summary: FileEntry | None = catalogue.summary_file(version, period) if period else None
    cells = catalogue.province_files(version, period, "cells") if period else {}
    config = {
        "version": version,
        "period": period,
        "summary_url": summary.url if summary else None,
        "cells": {code: f.url for code, f in cells.items()},
        "province": province,
        # plan overlays switched on from the start (a link can show them: ?layers=sites,fibre)
        "show": sorted({x.strip() for x in (layers or "").split(",")} & {"sites", "fibre"}),
        "plans": {
            kind: (f.url if (f := catalogue.plan_file(kind, period)) else None) if period else None
            for kind in ("mobile_sites", "fixed_routes")
        },
    }
    return {
        "sample": catalogue.sample,
        "version": version,
        "version_label": _VERSION_LABELS[version],
        "period": period,
        "periods": periods,
        "summary": summary,
        "n_cells_files": len(cells),
        "config": config,
        "versions": list(reversed(BOUNDARY_VERSIONS)),
    }
