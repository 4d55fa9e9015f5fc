"""Input directory scanning: kinds, quarters, sample flag, change fingerprints."""

import json

import pytest

from geodata.inputs import quarter_from_name, quarter_start, scan_input_dir


@pytest.mark.parametrize(
    ("name", "quarter"),
    [
        ("2026-07-01_performance_fixed_tiles.parquet", "2026Q3"),
        ("sample_2026-04-01_performance_mobile_tiles.parquet", "2026Q2"),
        ("type=fixed/year=2023/quarter=4/x.parquet", "2023Q4"),
        ("fixed_2025Q1.csv", "2025Q1"),
        ("fixed_2025-q2.csv", "2025Q2"),
        ("2026-05-01_performance_fixed_tiles.parquet", None),
        ("fixed.csv", None),
    ],
)
def test_quarter_from_name(name, quarter):
    assert quarter_from_name(name) == quarter


def test_quarter_start():
    assert quarter_start("2026Q3") == "2026-07-01"
    assert quarter_start("2025q1") == "2025-01-01"


def test_scan_kinds_quarters_and_fingerprints(tmp_path):
    (tmp_path / "speed_tiles").mkdir()
    (tmp_path / "speed_tiles" / "2026-07-01_performance_fixed_tiles.csv").write_text("a")
    (tmp_path / "speed_tiles" / "2026-04-01_performance_mobile_tiles.csv").write_text("b")
    (tmp_path / "speed_tiles" / "notes.csv").write_text("c")
    (tmp_path / "adoption").mkdir()
    (tmp_path / "adoption" / "79.csv").write_text("d")
    (tmp_path / "SAMPLE.json").write_text(json.dumps({"sample": True}))
    inv = scan_input_dir(tmp_path)
    assert inv.sample
    assert inv.quarters == ["2026Q2", "2026Q3"]
    assert [f.speed_type for f in inv.speed_files("2026Q3")] == ["fixed"]
    assert [p.name for p in inv.unrecognised] == ["notes.csv"]
    before = (inv.fingerprint(("adoption",)), inv.fingerprint((), quarter="2026Q3"))
    (tmp_path / "adoption" / "79.csv").write_text("changed")
    inv2 = scan_input_dir(tmp_path)
    assert inv2.fingerprint(("adoption",)) != before[0]
    assert inv2.fingerprint((), quarter="2026Q3") == before[1]


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_input_dir(tmp_path / "nope")
