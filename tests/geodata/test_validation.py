"""Row checks quarantine with reasons; counts reconcile; one bad file does not stop the others."""

import pandas as pd

from geodata.errors import CorruptFileError
from geodata.validation import ReadResult, RowChecks, quarantine_table, read_files


def test_row_checks_join_reasons_and_reconcile():
    df = pd.DataFrame({"tests": [1, 0, 3, -1], "speed": [10, 5, -2, 1]})
    checks = RowChecks(df, file="f.csv")
    checks.fail(df["tests"].to_numpy() < 1, "tests", "tests < 1")
    checks.fail(df["speed"].to_numpy() < 0, "speed", "negative speed")
    ok, bad = checks.split()
    assert len(ok) + len(bad) == len(df)
    assert list(bad["_row"]) == [2, 3, 4]
    assert list(bad["_reason"]) == ["tests < 1", "negative speed", "tests < 1"]
    assert (bad["_file"] == "f.csv").all()


def test_read_files_isolates_a_bad_file():
    def reader(path):
        if path == "bad":
            raise CorruptFileError(path, "truncated")
        return ReadResult(pd.DataFrame({"x": [1, 2]}), ReadResult.empty_quarantine(), 2, [path])

    result, errors = read_files(reader, ["a", "bad", "b"])
    assert result.n_read == 4 and result.n_accepted == 4 and result.reconciles()
    assert [e.file for e in errors] == ["bad"]
    table = quarantine_table(result, errors)
    assert table["_reason"].iloc[0] == "whole file rejected: truncated"
    assert str(errors[0]) == "bad: truncated"
