"""Read every file of the malformed-input corpus with its reader and count what happened.

``python -m tests.reliability.corpus`` prints one line per file and the totals: inputs tried,
files rejected whole, rows read, accepted, quarantined and outside the study area, and rows lost
(read - accepted - quarantined - outside, which must be 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from geodata.errors import InputError
from geodata.readers.adoption import read_adoption
from geodata.readers.ookla import read_speed_tiles
from geodata.readers.opencellid import read_cell_sites
from geodata.readers.raster import open_raster
from geodata.validation import ReadResult

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs"
READERS = {
    "speed_tiles": lambda p, **kw: read_speed_tiles(p, kind="fixed", **kw),
    "cell_sites": read_cell_sites,
    "adoption": read_adoption,
    "rasters": open_raster,
}
#: files read as the pipeline reads them for one province's submission
READ_KWARGS = {"adoption/other_province.csv": {"expect_province": "79"}}


@dataclass
class Outcome:
    file: Path
    expected: str  # the README's "must trigger"
    error: InputError | None = None
    result: ReadResult | None = None

    @property
    def rows_read(self) -> int:
        return self.result.n_read if self.result is not None else 0

    @property
    def rows_accepted(self) -> int:
        return self.result.n_accepted if self.result is not None else 0

    @property
    def rows_quarantined(self) -> int:
        return self.result.n_quarantined if self.result is not None else 0

    @property
    def rows_outside(self) -> int:
        return self.result.n_outside if self.result is not None else 0

    def describe(self) -> str:
        rel = self.file.relative_to(CORPUS)
        if self.error is not None:
            return f"{rel}: rejected whole: {type(self.error).__name__}: {self.error.reason}"
        if self.result is None:
            return f"{rel}: accepted (raster)"
        return (
            f"{rel}: read {self.rows_read}, accepted {self.rows_accepted}, "
            f"quarantined {self.rows_quarantined}, outside the study area {self.rows_outside}"
        )


def expectations() -> dict[str, str]:
    """``relative path -> must trigger`` from the corpus README table."""
    rows = re.findall(r"^\| `([^`]+)` \| .* \| (.*) \|$", (CORPUS / "README.md").read_text(), re.M)
    return dict(rows)


def read_corpus() -> list[Outcome]:
    out = []
    for rel, expected in expectations().items():
        path = CORPUS / rel
        outcome = Outcome(path, expected)
        try:
            value = READERS[Path(rel).parts[0]](path, **READ_KWARGS.get(rel, {}))
        except InputError as exc:
            outcome.error = exc
        else:
            outcome.result = value if isinstance(value, ReadResult) else None
        out.append(outcome)
    return out


def totals(outcomes: list[Outcome]) -> dict[str, int]:
    read = sum(o.rows_read for o in outcomes)
    accepted = sum(o.rows_accepted for o in outcomes)
    quarantined = sum(o.rows_quarantined for o in outcomes)
    outside = sum(o.rows_outside for o in outcomes)
    return {
        "inputs_tried": len(outcomes),
        "files_rejected_whole": sum(o.error is not None for o in outcomes),
        "files_with_rows_quarantined": sum(o.rows_quarantined > 0 for o in outcomes),
        "rows_read": read,
        "rows_accepted": accepted,
        "rows_quarantined": quarantined,
        "rows_outside": outside,
        "rows_lost": read - accepted - quarantined - outside,
    }


def main() -> None:
    outcomes = read_corpus()
    for o in outcomes:
        print(o.describe())
    print(" ".join(f"{k}={v}" for k, v in totals(outcomes).items()))


if __name__ == "__main__":
    main()
