"""Per-province adoption statistics (long CSV) submitted by each province, validated.

Header: ``province_code,province_name,period,indicator,value,unit,source`` (``province_name``
optional, extra columns kept). UTF-8 with or without BOM; any other encoding, UTF-16 included,
is rejected whole with :class:`~geodata.errors.EncodingError` so every province submits the same
standard file (re-saving as "CSV UTF-8" fixes it).

Codes are official 2-digit codes of the 63-province system (until 30 June 2025) or the 34-province
system (since 1 July 2025, Resolution 202/2025/QH15). Each row's **period start** decides which
system its code is read in (the 34 codes reuse 63 codes, so a code alone is ambiguous):

* before 1 July 2025: a 63 code; ``code_34`` is the new province that holds it since 2025.
* from 1 July 2025: a 34 code; an old code is accepted only if its province was not merged
  (the new province is the same unit; then it is mapped), else quarantined naming the merger.

Examples
--------
>>> res = read_adoption("adoption/79_2026.csv", expect_province="79")  # doctest: +SKIP
>>> res.accepted[["code_34", "period", "indicator", "value", "boundary_version"]]  # doctest: +SKIP
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.readers.tabular import (
    ReaderChecks,
    finish,
    inspect_text_file,
    match_columns,
    read_csv_text,
)
from geodata.reference import (
    BOUNDARY_VALID_FROM,
    fold_name,
    load_crosswalk,
    province_codes,
    province_names,
)
from geodata.validation import ReadResult

__all__ = [
    "REQUIRED_COLUMNS",
    "PERIOD_FORMATS",
    "PERCENT_UNITS",
    "read_adoption",
    "parse_periods",
    "resolve_resubmissions",
]

#: Spellings of the percent unit, compared case-insensitively after trimming: all read as ``%``
#: (the 0..100 check applies to each, and the accepted rows carry ``%``).
PERCENT_UNITS = frozenset({"%", "percent", "per cent", "percentage", "pct", "pct.", "phần trăm"})

#: Columns every adoption file must have (``province_name`` is optional).
REQUIRED_COLUMNS = ("province_code", "period", "indicator", "value", "unit", "source")
#: Period spellings understood, as shown to users.
PERIOD_FORMATS = ("2025", "2025Q3", "2025-Q3", "2025-09")

_PERIOD = r"^(?P<y>\d{4})(?:-?[Qq](?P<q>[1-4])|-(?P<m>0[1-9]|1[0-2]))?$"
#: Names in common use besides the official ones (folded with ``fold_name``), by code.
_ALIASES: dict[str, tuple[str, ...]] = {
    "46": ("Thừa Thiên Huế",),
    "79": ("TP HCM", "HCM", "Sài Gòn"),
}


def parse_periods(periods: pd.Series) -> pd.DataFrame:
    """Canonical period and its first day, vectorised.

    ``"2025"`` -> ``2025``, 2025-01-01; ``"2025-Q3"`` -> ``2025Q3``, 2025-07-01; ``"2025-09"`` ->
    ``2025-09``, 2025-09-01. Unparseable periods give ``<NA>`` / ``NaT``.

    >>> parse_periods(pd.Series(["2025-q3", "2024", "x"]))["period"].tolist()
    ['2025Q3', '2024', <NA>]
    """
    parts = periods.astype("string").str.strip().str.extract(_PERIOD)
    year = parts["y"]
    month = parts["m"].fillna(
        ((pd.to_numeric(parts["q"], errors="coerce") - 1) * 3 + 1)
        .astype("Int64")
        .astype("string")
        .str.zfill(2)
    )
    canonical = year.where(parts["q"].isna(), year + "Q" + parts["q"])
    canonical = canonical.where(parts["m"].isna(), year + "-" + parts["m"])
    start = pd.to_datetime(
        year + "-" + month.fillna("01") + "-01", errors="coerce", format="%Y-%m-%d"
    )
    return pd.DataFrame({"period": canonical.astype("string"), "period_start": start})


def read_adoption(path: str | PathLike[str], *, expect_province: str | None = None) -> ReadResult:
    """Read and validate one province's adoption CSV.

    Parameters
    ----------
    path : the CSV (UTF-8, with or without BOM)
    expect_province : the official code of the province the file was submitted for; rows of
        another province are quarantined. A row matches when its code, or (for a pre-2025 row)
        the 34-system province holding it, equals this code.

    Returns
    -------
    ReadResult
        ``accepted``: the file's columns with ``province_code`` normalised to 2 digits,
        ``period`` canonical (``2025``, ``2025Q3``, ``2025-09``), ``value`` float64, plus
        ``code_63`` (when the unit exists in the 63 system), ``code_34`` (the 34-system
        province, containing it for pre-2025 rows), ``boundary_version`` (``"63"``/``"34"``,
        in force at the period start) and ``period_start`` (datetime64, first day).
        ``meta``: ``sha256, sample, bom``.

    Raises
    ------
    EncodingError
        Not UTF-8 (UTF-16 with or without BOM, Windows-1258, ...).
    SchemaError
        A required column is missing (e.g. a ``;``-delimited file, hinted in the message).
    EmptyFileError
        Empty file or header only.
    """
    expected = None if expect_province is None else str(expect_province).strip().zfill(2)
    if expected is not None and expected not in set(province_codes("63")):  # 34 codes are a subset
        raise ValueError(f"expect_province {expect_province!r} is not an official province code")
    path = Path(path)
    facts = inspect_text_file(path)
    raw = read_csv_text(path, facts)
    raw = raw.rename(
        columns=match_columns(
            path, list(raw.columns), REQUIRED_COLUMNS, header_line=facts.first_line
        )
    )
    raw = raw.rename(
        columns={c: "province_name" for c in raw.columns if c.strip().lower() == "province_name"}
    )
    n = len(raw)
    checks = ReaderChecks(raw, path)

    code = raw["province_code"].str.strip()
    code = code.where(~code.str.fullmatch(r"\d{1,2}"), code.str.zfill(2))
    periods = parse_periods(raw["period"])
    period_ok = periods["period_start"].notna().to_numpy(dtype=bool)
    checks.fail(
        ~period_ok,
        "period",
        f"period not understood (use one of {', '.join(PERIOD_FORMATS)})",
    )
    new_since = pd.Timestamp(BOUNDARY_VALID_FROM["34"])
    is34 = period_ok & (periods["period_start"] >= new_since).to_numpy(dtype=bool)
    version = np.where(is34, "34", "63")

    code_63, code_34, code_ok = _resolve_codes(code, is34, period_ok, checks)
    _check_names(raw, code, code_ok, is34, checks)

    value = pd.to_numeric(raw["value"].str.strip(), errors="coerce").to_numpy(np.float64)
    checks.fail(~np.isfinite(value), "value", "value missing or not a number")
    unit = raw["unit"].str.strip()
    pct = unit.str.lower().isin(PERCENT_UNITS).to_numpy(dtype=bool)
    checks.fail(pct & ((value < 0) | (value > 100)), "value", "percentage outside 0..100")
    indicator = raw["indicator"].str.strip()
    no_indicator = (indicator == "").to_numpy(dtype=bool)
    checks.fail(no_indicator, "indicator", "indicator missing")

    own_code = pd.Series(np.where(is34, code_34, code_63), dtype="string")
    keys = pd.DataFrame({"code": own_code, "period": periods["period"], "indicator": indicator})
    checks.fail_duplicates(
        keys, code_ok & period_ok & ~no_indicator, "indicator", "(province_code, period, indicator)"
    )

    if expected is not None:
        ours = code_ok & (
            (own_code == expected).fillna(False).to_numpy(dtype=bool)
            | (pd.Series(code_34, dtype="string") == expected).fillna(False).to_numpy(dtype=bool)
        )
        checks.fail(
            code_ok & ~ours,
            "province_code",
            f"row is for another province than {expected}, the province this file was submitted for",
        )

    typed = raw.copy()
    typed["province_code"] = code.astype(str)
    typed["period"] = periods["period"].fillna("").astype(str)
    typed["indicator"] = indicator.astype(str)
    typed["value"] = value
    typed["unit"] = unit.where(~pct, "%").astype(str)
    typed["source_file"] = path.name
    typed["source_row"] = np.arange(1, n + 1)
    typed["code_63"] = pd.array(code_63, dtype="string")
    typed["code_34"] = pd.array(code_34, dtype="string")
    typed["boundary_version"] = version
    typed["period_start"] = periods["period_start"].to_numpy()
    return finish(
        checks,
        typed,
        n_read=n,
        path=path,
        meta={
            "sha256": facts.sha256,
            "sample": facts.sample or _says_synthetic(raw),
            "bom": facts.bom,
            "percent_units_normalised": int((pct & (unit != "%").to_numpy(dtype=bool)).sum()),
        },
    )


def _resolve_codes(
    code: pd.Series, is34: np.ndarray, period_ok: np.ndarray, checks: ReaderChecks
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``code_63, code_34`` (object arrays, None where unknown) and the rows whose code resolved."""
    cw = load_crosswalk()
    n_old = cw.groupby("new_code")["old_code"].size()
    codes63 = set(province_codes("63"))
    codes34 = set(province_codes("34"))
    c = code.to_numpy(dtype=object)
    in63 = code.isin(codes63).to_numpy(dtype=bool)
    in34 = code.isin(codes34).to_numpy(dtype=bool)
    new_of_old = code.map(cw["new_code"]).to_numpy(dtype=object)
    same_unit = code.map(cw["new_code"]).map(n_old).eq(1).fillna(False).to_numpy(dtype=bool)
    unit_of_new = code.map(n_old).eq(1).fillna(False).to_numpy(dtype=bool)

    old_rows = period_ok & ~is34
    new_rows = period_ok & is34
    ok63 = old_rows & in63
    ok34 = new_rows & in34
    mapped = new_rows & ~in34 & in63 & same_unit  # an old code of a province that was not merged
    merged = new_rows & ~in34 & in63 & ~same_unit
    unknown = period_ok & ~in63 & ~in34
    checks.fail(
        unknown, "province_code", "unknown province code (not in the 63- or 34-province system)"
    )
    names34 = province_names("34")["name"]
    names63 = province_names("63")["name"]
    for old in sorted(set(c[merged])):  # at most 29 merged provinces
        new = cw.loc[old, "new_code"]
        checks.fail(
            merged & (c == old),
            "province_code",
            f"pre-2025 code {old} for a period after 1 July 2025 (province {names63[old]} merged "
            f"into {new} {names34[new]} on 1 July 2025; report on the 34-province codes)",
        )
    code_63 = np.full(len(c), None, dtype=object)
    code_34 = np.full(len(c), None, dtype=object)
    code_63[ok63] = c[ok63]
    code_34[ok63] = new_of_old[ok63]
    code_34[ok34] = c[ok34]
    keep63 = ok34 & unit_of_new
    code_63[keep63] = c[keep63]  # the same unit in both systems
    code_63[mapped] = c[mapped]
    code_34[mapped] = new_of_old[mapped]
    return code_63, code_34, ok63 | ok34 | mapped


def _check_names(
    raw: pd.DataFrame, code: pd.Series, code_ok: np.ndarray, is34: np.ndarray, checks: ReaderChecks
) -> None:
    """Quarantine rows whose ``province_name`` (diacritics, case, prefix ignored) is not the code's."""
    if "province_name" not in raw:
        return
    names = raw["province_name"].str.strip()
    given = names != ""
    folded = names.map({v: fold_name(v) for v in names.unique()})  # one call per distinct name
    bad_rows = []
    reasons = []
    for version, rows in (("63", code_ok & ~is34), ("34", code_ok & is34)):
        table = province_names(version)
        accepted: dict[str, set[str]] = {
            k: {fold_name(table.loc[k, "name"]), fold_name(table.loc[k, "name_ascii"])}
            | {fold_name(a) for a in _ALIASES.get(k, ())}
            for k in table.index
        }
        owner = {f: k for k, fs in accepted.items() for f in fs}
        expected_ok = _names_match(folded, code, accepted)
        mismatch = rows & given.to_numpy(dtype=bool) & ~expected_ok
        for i in np.flatnonzero(mismatch).tolist():  # failing rows only
            k = code.iat[i]
            other = owner.get(folded.iat[i])
            reason = f"name {names.iat[i]!r} does not match code {k} ({table.loc[k, 'name']})"
            if other is not None and other != k:
                reason += f"; it is the name of code {other}"
            bad_rows.append(i)
            reasons.append(reason)
    if bad_rows:
        checks.fail_rows(bad_rows, "province_name", reasons)


def _names_match(folded: pd.Series, code: pd.Series, accepted: dict[str, set[str]]) -> np.ndarray:
    pairs = pd.DataFrame(
        [(k, f) for k, fs in accepted.items() for f in fs], columns=["code", "folded"]
    )
    probe = pd.DataFrame(
        {"code": code.astype(str).to_numpy(), "folded": folded.astype(str).to_numpy()}
    )
    hit = probe.merge(pairs.assign(_hit=True), on=["code", "folded"], how="left")["_hit"]
    return hit.fillna(False).to_numpy(dtype=bool)


def _says_synthetic(raw: pd.DataFrame) -> bool:
    """Every row's ``source`` says "synthetic" (how :mod:`geodata.sample` labels its rows)."""
    return bool(raw["source"].str.contains("synthetic", case=False, regex=False).all())


def resolve_resubmissions(accepted: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (province, period, indicator) across files: a province that sends its figures
    again (a corrected file beside the first) resubmits them.

    Rule: the row from the file whose **name sorts last** stands (name resubmissions with a date
    or a version: ``79_tp_hcm_2026-10-15.csv`` after ``79_tp_hcm_2026-10-01.csv``, ``..._v2``);
    within one file duplicates are already quarantined by :func:`read_adoption`.

    Returns ``(kept, superseded)``: ``superseded`` holds each replaced row with
    ``superseded_by`` (file and row that stands) and ``value_standing``, for the report.
    """
    empty = accepted.iloc[:0].assign(superseded_by=pd.Series(dtype=str), value_standing=0.0)
    if accepted.empty or "source_file" not in accepted:
        return accepted, empty
    code = accepted["code_34"].where(accepted["boundary_version"] == "34", accepted["code_63"])
    key = pd.DataFrame(
        {"code": code.astype(str), "period": accepted["period"], "indicator": accepted["indicator"]}
    )
    order = np.lexsort(
        (accepted["source_row"].to_numpy(), accepted["source_file"].astype(str).to_numpy())
    )
    ranked = accepted.iloc[order]
    keys = key.iloc[order]
    last = ~keys.duplicated(keep="last").to_numpy()
    if last.all():
        return accepted, empty
    standing = ranked[last]
    standing_keys = keys[last]
    lookup = pd.DataFrame(
        {
            "superseded_by": (
                standing["source_file"].astype(str) + " row " + standing["source_row"].astype(str)
            ).to_numpy(),
            "value_standing": standing["value"].to_numpy(),
        },
        index=pd.MultiIndex.from_frame(standing_keys),
    )
    superseded = ranked[~last].copy()
    match = lookup.loc[pd.MultiIndex.from_frame(keys[~last])]
    superseded["superseded_by"] = match["superseded_by"].to_numpy()
    superseded["value_standing"] = match["value_standing"].to_numpy()
    kept = accepted.loc[standing.index].sort_index()
    return kept, superseded.reset_index(drop=True)
