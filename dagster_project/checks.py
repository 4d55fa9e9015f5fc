"""Check helpers shared by assets that report their own checks (they work per partition)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from geodata.inputs import quarter_start

__all__ = ["quarantine_share_check", "conservation_check", "freshness_check"]


def quarantine_share_check(
    check_name: str,
    read: int,
    quarantined: int,
    limit: float,
    asset_key: str | None = None,
    rejected_files: dict[str, str] | None = None,
) -> dg.AssetCheckResult:
    """Fails (a warning) when more than ``limit`` of the rows read were quarantined, or when any
    file was rejected whole (``rejected_files``: file name -> reason).

    ``read`` is the rows inside the study area: rows outside it are out of scope, not bad, and
    a global file must not pass or fail on its foreign rows."""
    share = quarantined / read if read else 0.0
    rejected = rejected_files or {}
    return dg.AssetCheckResult(
        check_name=check_name,
        asset_key=asset_key,
        passed=share <= limit and not rejected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_in_study_area": read,
            "rows_quarantined": quarantined,
            "share": share,
            "limit": limit,
            "files_rejected": len(rejected),
            "rejected_files": dg.MetadataValue.json(rejected),
        },
    )


def conservation_check(
    check_name: str, totals: dict[str, float], rel_tol: float = 1e-4
) -> dg.AssetCheckResult:
    """Passes when every total agrees with the first one within ``rel_tol`` (0.01% by default)."""
    ref_name, ref = next(iter(totals.items()))
    worst = max((abs(v - ref) / ref if ref else abs(v)) for v in totals.values())
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=worst <= rel_tol,
        metadata={
            **{k: float(v) for k, v in totals.items()},
            "reference": ref_name,
            "max_relative_difference": float(worst),
            "tolerance": rel_tol,
        },
    )


def freshness_check(check_name: str, quarters: list[str], max_age_days: int) -> dg.AssetCheckResult:
    """Warns when the newest quarter of speed tiles ended more than ``max_age_days`` ago."""
    if not quarters:
        return dg.AssetCheckResult(
            check_name=check_name,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"newest_quarter": "none"},
        )
    newest = quarters[-1]
    year, q = int(newest[:4]), int(newest[-1])
    end = quarter_start(f"{year + (q == 4)}Q{q % 4 + 1}")
    age = (datetime.now(UTC) - datetime.fromisoformat(end).replace(tzinfo=UTC)).days
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=age <= max_age_days,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "newest_quarter": newest,
            "days_since_quarter_end": age,
            "limit_days": max_age_days,
        },
    )
