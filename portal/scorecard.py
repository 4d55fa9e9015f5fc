"""The targets scorecard page and the targets of one province, from the published tables.

Files read (paths relative to the served generation, looked up in the manifest only)::

    tables/targets_{63|34|region|nation}_{quarter}.csv      every quarter
    tables/targets_most_improved_{63|34}_{quarter}.csv      the latest quarter
    tables/targets_furthest_behind_{63|34}_{quarter}.csv    the latest quarter
    tables/targets_catalogue.csv                            every target and its source
    geojson/targets_{63|34}_{quarter}.geojson               the latest quarter
    maps/targets_status_{63|34}_{quarter}.png               the latest quarter
    maps/targets_trend_{indicator}.png                      nation and regions per quarter

Every file is optional: a missing or unreadable one leaves its section with a message, and an
output directory without any scorecard gives a page that says so (never an error).

Examples
--------
>>> status_badge("off track")["vi"], status_badge("off track")["css"]
('Chậm lộ trình', 'off-track')
>>> reason_vi("at this pace the target is reached in 2027Q1")
'với tốc độ này, mục tiêu đạt được vào 2027Q1'
>>> safe_links("https://a.vn/x ; javascript:alert(1) ; http://b.vn")
['https://a.vn/x', 'http://b.vn']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from geodata.indicators.targets import INDICATORS
from geodata.reference import BOUNDARY_VERSIONS
from portal.catalogue import Catalogue, FileEntry, Province
from portal.http_errors import BilingualError
from portal.pages import _VERSION_LABELS, _num, _read_csv, indicator_label

__all__ = [
    "STATUS_LABELS",
    "status_badge",
    "reason_vi",
    "safe_links",
    "scorecard_quarters",
    "scorecard_context",
    "province_targets",
]

#: ``status -> (Vietnamese, English, CSS modifier, symbol)``: the badge says it in words, the
#: colour and the symbol only repeat it.
STATUS_LABELS: dict[str, tuple[str, str, str, str]] = {
    "met": ("Đã đạt", "met", "met", "✓"),
    "on track": ("Đúng lộ trình", "on track", "on-track", "↗"),
    "off track": ("Chậm lộ trình", "off track", "off-track", "✗"),
    "not measurable": ("Không đánh giá được", "not measurable", "not-measurable", "?"),
}

_TABLE = re.compile(r"^tables/targets_(63|34|region|nation)_(\d{4}Q[1-4])\.csv$")
_MOST_IMPROVED_TOP = 5
_FURTHEST_BEHIND_TOP = 5

_REASONS_VI: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^the value reaches the target$"), "giá trị đã đạt mục tiêu"),
    (re.compile(r"^the target year (\d{4}) is over$"), "đã qua năm mục tiêu {0}"),
    (
        re.compile(r"^the target year (\d{4}) is over; at this pace reached in (\d{4}Q[1-4])$"),
        "đã qua năm mục tiêu {0}; với tốc độ này, đạt được vào {1}",
    ),
    (
        re.compile(r"^at this pace not before (\d{4}Q[1-4])$"),
        "với tốc độ này, không đạt được trước {0}",
    ),
    (
        re.compile(r"^(\d+) quarter\(s\) with a value: a trend needs at least (\d+)$"),
        "mới có {0} quý có số liệu: cần ít nhất {1} quý để tính xu hướng",
    ),
    (
        re.compile(r"^the trend does not move towards the target$"),
        "xu hướng không tiến về phía mục tiêu",
    ),
    (
        re.compile(r"^at this pace the target is reached in (\d{4}Q[1-4])$"),
        "với tốc độ này, mục tiêu đạt được vào {0}",
    ),
    (
        re.compile(r"^no value in this quarter \(nothing measured\)$"),
        "quý này không có số liệu (không đo được)",
    ),
    (
        re.compile(r"^(?:not measurable: )?no data on it in the inputs\b.*$"),
        "dữ liệu đầu vào không có thông tin về mục tiêu này",
    ),
    (
        re.compile(r"^the inputs hold no data on this target$"),
        "dữ liệu đầu vào không có thông tin về mục tiêu này",
    ),
)


def status_badge(status: str) -> dict[str, str]:
    """``vi``, ``en``, ``css`` and ``symbol`` of a status (an unknown one is shown as it is)."""
    vi, en, css, symbol = STATUS_LABELS.get(status, (status or "—", status or "—", "unknown", "·"))
    return {"vi": vi, "en": en, "css": css, "symbol": symbol, "status": status}


def reason_vi(reason: str) -> str:
    """Vietnamese of a ``status_reason`` the pipeline writes; ``""`` when it is not one of the
    known sentences (the English is always shown too)."""
    for pattern, vi in _REASONS_VI:
        if m := pattern.match(reason.strip()):
            return vi.format(*m.groups())
    return ""


def safe_links(text: str) -> list[str]:
    """The ``http(s)`` URLs of a ``source_url`` cell (several are separated by ``;`` or
    whitespace); anything else (``javascript:``, bare words) is dropped."""
    return [u for u in re.split(r"[\s;]+", text or "") if re.match(r"^https?://[^\s<>\"']+$", u)]


def _file(catalogue: Catalogue, path: str) -> FileEntry | None:
    return catalogue.files.get(path)


def _image(catalogue: Catalogue, path: str) -> FileEntry | None:
    """A listed image that is on disk (an ``<img>`` of a missing file would show a broken
    picture; the download list still names it, marked missing)."""
    f = catalogue.files.get(path)
    return f if f is not None and f.mtime is not None else None


def scorecard_quarters(catalogue: Catalogue, version: str) -> list[str]:
    """Quarters with a published province scorecard (``tables/targets_{version}_{q}.csv``)."""
    out = set()
    for path in catalogue.files:
        if (m := _TABLE.match(path)) and m.group(1) == version:
            out.add(m.group(2))
    return sorted(out)


def _records(catalogue: Catalogue, root: Path, path: str) -> list[dict[str, str]] | None:
    """Rows of a published CSV as dicts of strings; None when not listed or unreadable."""
    entry = _file(catalogue, path)
    if entry is None:
        return None
    table = _read_csv(root, entry)
    if table is None:
        return None
    return [{str(k): str(v) for k, v in r.items()} for r in table.to_dict("records")]


def _int(x: Any) -> int | None:
    v = _num(x)
    return None if v is None else int(v)


def _row(raw: dict[str, str]) -> dict[str, Any]:
    """One scorecard row with numbers parsed and the status and reason in both languages."""
    reason = raw.get("status_reason", "")
    return {
        "code": raw.get("code", ""),
        "name": raw.get("name", ""),
        "name_ascii": raw.get("name_ascii", ""),
        "indicator": raw.get("indicator", ""),
        "target_id": raw.get("target_id", ""),
        "value": _num(raw.get("value")),
        "target": _num(raw.get("target")),
        "target_year": _int(raw.get("target_year")),
        "unit": raw.get("unit", ""),
        "gap": _num(raw.get("gap")),
        "trend": _num(raw.get("trend_per_quarter")),
        "projected": raw.get("projected_quarter", ""),
        "quarters_used": _int(raw.get("quarters_used")),
        "first_quarter": raw.get("first_quarter", ""),
        "value_first": _num(raw.get("value_first")),
        "rank": _int(raw.get("rank")),
        "status": status_badge(raw.get("status", "")),
        "reason_en": reason,
        "reason_vi": reason_vi(reason),
        "source": raw.get("source", ""),
    }


def _measurable_indicators(rows: list[dict[str, Any]], measurable_ids: set[str]) -> list[str]:
    """Indicators of the measurable targets in ``rows``, in the order of ``INDICATORS``."""
    present = {r["indicator"] for r in rows if r["indicator"] in measurable_ids}
    known = [i for i in INDICATORS if i in present]
    return known + sorted(present - set(known))


def _rank_key(r: dict[str, Any]) -> tuple[int, int, str]:
    rank = r["rank"]
    return (0 if rank is not None else 1, rank or 0, r["code"])


def _targets_catalogue(catalogue: Catalogue, root: Path) -> list[dict[str, Any]] | None:
    rows = _records(catalogue, root, "tables/targets_catalogue.csv")
    if rows is None:
        return None
    out = []
    for r in rows:
        out.append(
            {
                **r,
                "measurable": r.get("measurable", "") == "yes",
                "label": indicator_label(r.get("indicator", "")),
                "links": safe_links(r.get("source_url", "")),
                "target_num": _num(r.get("target")),
                "reason_vi": reason_vi(r.get("not_measurable_because", "")),
            }
        )
    return out


def _bad_version(version: str) -> BilingualError:
    return BilingualError(
        404,
        f"Không có hệ ranh giới '{version}'. Có hai hệ: 63 tỉnh (đến 30/06/2025) và 34 tỉnh "
        "(từ 01/07/2025).",
        f"No boundary version '{version}'. There are two: 63 provinces (until 30 June 2025) and "
        "34 provinces (since 1 July 2025).",
        links=[
            (f"{v} tỉnh / {v} provinces", f"/scorecard?version={v}")
            for v in reversed(BOUNDARY_VERSIONS)
        ],
    )


def scorecard_context(
    catalogue: Catalogue, root: Path, version: str | None, quarter: str | None
) -> dict[str, Any]:
    """What ``scorecard.html`` shows for one boundary version (default 34) and quarter (default
    the latest with a province scorecard). An unknown version or quarter is a bilingual 404; no
    scorecard at all is a page that says so."""
    version = version or "34"
    if version not in BOUNDARY_VERSIONS:
        raise _bad_version(version)
    quarters = scorecard_quarters(catalogue, version)
    if quarter is None:
        quarter = quarters[-1] if quarters else None
    elif quarter not in quarters:
        shown = quarter[:20] + ("…" if len(quarter) > 20 else "")
        raise BilingualError(
            404,
            f"Không có bảng mục tiêu quý '{shown}' cho hệ {version} tỉnh. Các quý có: "
            f"{', '.join(quarters) or 'chưa có'}.",
            f"No targets scorecard for quarter '{shown}' in the {version}-province system. "
            f"Available: {', '.join(quarters) or 'none yet'}.",
            links=[(q, f"/scorecard?version={version}&quarter={q}") for q in quarters]
            or [("Bảng mục tiêu / Scorecard", f"/scorecard?version={version}")],
        )
    base: dict[str, Any] = {
        "sample": catalogue.sample,
        "version": version,
        "version_label": _VERSION_LABELS[version],
        "versions": list(reversed(BOUNDARY_VERSIONS)),
        "quarter": quarter,
        "quarters": quarters,
        "latest": quarters[-1] if quarters else None,
        "statuses": [status_badge(s) for s in STATUS_LABELS],
    }
    if quarter is None:
        return {**base, "available": False}

    targets = _targets_catalogue(catalogue, root)
    by_id = {t.get("target_id", ""): t for t in targets or []}
    province_rows = [
        _row(r) for r in _records(catalogue, root, f"tables/targets_{version}_{quarter}.csv") or []
    ]
    region_raw = _records(catalogue, root, f"tables/targets_region_{quarter}.csv")
    nation_raw = _records(catalogue, root, f"tables/targets_nation_{quarter}.csv")
    region_rows = [_row(r) for r in region_raw or []]
    nation_rows = [_row(r) for r in nation_raw or []]

    measurable_ids = set(INDICATORS)
    if targets is not None:
        measurable_ids |= {t["indicator"] for t in targets if t["measurable"]}
    indicators = _measurable_indicators(province_rows + nation_rows, measurable_ids)
    columns = []
    for ind in indicators:
        sample_row = next((r for r in nation_rows + province_rows if r["indicator"] == ind), None)
        columns.append(
            {
                "indicator": ind,
                "label": indicator_label(ind),
                "target": sample_row["target"] if sample_row else None,
                "target_year": sample_row["target_year"] if sample_row else None,
                "unit": sample_row["unit"] if sample_row else "",
            }
        )

    known = catalogue.provinces.get(version, {})
    per_target = []
    for col in columns:
        rows = sorted(
            (r for r in province_rows if r["indicator"] == col["indicator"]), key=_rank_key
        )
        for r in rows:
            r["linked"] = r["code"] in known
        counts = {s: sum(1 for r in rows if r["status"]["status"] == s) for s in STATUS_LABELS}
        per_target.append({**col, "rows": rows, "counts": counts})

    regions: dict[str, dict[str, Any]] = {}
    for r in region_rows:
        if r["indicator"] in indicators:
            unit = regions.setdefault(
                r["code"],
                {"code": r["code"], "name": r["name"], "en": r["name_ascii"], "cells": {}},
            )
            unit["cells"][r["indicator"]] = r

    nation = [r for r in nation_rows if r["indicator"] in indicators]
    nation.sort(key=lambda r: indicators.index(r["indicator"]))
    for r in nation:
        t = by_id.get(r["target_id"])
        r["catalogue"] = t

    not_measurable = []
    if targets is not None:
        for t in targets:
            if not t["measurable"]:
                not_measurable.append(
                    {
                        "target_id": t.get("target_id", ""),
                        "indicator": t.get("indicator", ""),
                        "wording_vi": t.get("wording_vi", ""),
                        "wording_en": t.get("wording_en", ""),
                        "target": t["target_num"],
                        "unit": t.get("unit", ""),
                        "target_year": t.get("target_year", ""),
                        "decision": t.get("decision", ""),
                        "reason_en": t.get("not_measurable_because", ""),
                        "reason_vi": t["reason_vi"],
                    }
                )
    else:
        for r in nation_rows:
            if r["indicator"] not in measurable_ids:
                reason = r["reason_en"].removeprefix("not measurable: ")
                not_measurable.append(
                    {
                        "target_id": r["target_id"],
                        "indicator": r["indicator"],
                        "wording_vi": "",
                        "wording_en": "",
                        "target": r["target"],
                        "unit": r["unit"],
                        "target_year": r["target_year"] or "",
                        "decision": "",
                        "reason_en": reason,
                        "reason_vi": reason_vi(reason),
                    }
                )

    improved_raw = _records(
        catalogue, root, f"tables/targets_most_improved_{version}_{quarter}.csv"
    )
    improved = []
    for r in improved_raw or []:
        rank, trend = _int(r.get("rank")), _num(r.get("trend_per_quarter"))
        if rank is None or rank > _MOST_IMPROVED_TOP or trend is None or trend <= 0:
            continue  # a flat or falling trend is no improvement
        improved.append(
            {
                "indicator": r.get("indicator", ""),
                "label": indicator_label(r.get("indicator", "")),
                "rank": rank,
                "code": r.get("code", ""),
                "name": r.get("name", ""),
                "linked": r.get("code", "") in known,
                "first_quarter": r.get("first_quarter", ""),
                "value_first": _num(r.get("value_first")),
                "value": _num(r.get("value")),
                "change": _num(r.get("change")),
                "trend": trend,
                "quarters_used": _int(r.get("quarters_used")),
                "status": status_badge(r.get("status", "")),
            }
        )
    order = {ind: i for i, ind in enumerate(indicators)}
    improved.sort(key=lambda r: (order.get(r["indicator"], len(order)), r["indicator"], r["rank"]))

    behind_raw = _records(
        catalogue, root, f"tables/targets_furthest_behind_{version}_{quarter}.csv"
    )
    behind = []
    for r in behind_raw or []:
        rank = _int(r.get("rank"))
        if rank is None:
            continue
        behind.append(
            {
                "rank": rank,
                "code": r.get("code", ""),
                "name": r.get("name", ""),
                "linked": r.get("code", "") in known,
                "mean_attainment": _num(r.get("mean_attainment")),
                "off_track": _int(r.get("targets_off_track")),
                "judged": _int(r.get("targets_judged")),
            }
        )
    behind = sorted(behind, key=lambda r: r["rank"])[:_FURTHEST_BEHIND_TOP]

    status_map = _image(catalogue, f"maps/targets_status_{version}_{quarter}.png")
    trends = []
    for ind in list(INDICATORS) + [i for i in indicators if i not in INDICATORS]:
        f = _image(catalogue, f"maps/targets_trend_{ind}.png")
        if f is not None:
            trends.append({"indicator": ind, "label": indicator_label(ind), "file": f})

    downloads = [
        f
        for f in (
            _file(catalogue, f"tables/targets_{version}_{quarter}.csv"),
            _file(catalogue, f"tables/targets_region_{quarter}.csv"),
            _file(catalogue, f"tables/targets_nation_{quarter}.csv"),
            _file(catalogue, f"tables/targets_most_improved_{version}_{quarter}.csv"),
            _file(catalogue, f"tables/targets_furthest_behind_{version}_{quarter}.csv"),
            _file(catalogue, "tables/targets_catalogue.csv"),
            _file(catalogue, f"geojson/targets_{version}_{quarter}.geojson"),
            _file(catalogue, f"maps/targets_status_{version}_{quarter}.png"),
            *(_file(catalogue, f"maps/targets_trend_{i}.png") for i in INDICATORS),
        )
        if f is not None
    ]
    return {
        **base,
        "available": True,
        "columns": columns,
        "nation": nation,
        "nation_missing": nation_raw is None,
        "regions": list(regions.values()),  # the table's order (north to south)
        "regions_missing": region_raw is None,
        "per_target": per_target,
        "n_provinces": len({r["code"] for r in province_rows}),
        "improved": improved,
        "improved_missing": improved_raw is None,
        "behind": behind,
        "behind_missing": behind_raw is None,
        "status_map": status_map,
        "trends": trends,
        "not_measurable": not_measurable,
        "sources": targets,
        "downloads": downloads,
    }


def province_targets(catalogue: Catalogue, root: Path, province: Province) -> dict[str, Any] | None:
    """The province's row for every measurable target in the latest quarter with a scorecard of
    its boundary version; None when there is none (or it cannot be read, or lacks the province)."""
    quarters = scorecard_quarters(catalogue, province.version)
    if not quarters:
        return None
    quarter = quarters[-1]
    raw = _records(catalogue, root, f"tables/targets_{province.version}_{quarter}.csv")
    if not raw:
        return None
    rows = [_row(r) for r in raw if r.get("code") == province.code]
    measurable = set(INDICATORS)
    rows = [r for r in rows if r["indicator"] in measurable]
    if not rows:
        return None
    order = list(INDICATORS)
    rows.sort(key=lambda r: order.index(r["indicator"]))
    n = len({r.get("code") for r in raw})
    for r in rows:
        r["label"] = indicator_label(r["indicator"])
    return {
        "quarter": quarter,
        "rows": rows,
        "of": n,
        "url": f"/scorecard?version={province.version}&quarter={quarter}",
    }
