"""BASELIB_PROGRESS_SECONDS (baselib.records.progress.interval_seconds): a bad value is refused
with a message naming the variable, never a bare float() error; nan is not a number of seconds."""
from __future__ import annotations

import pytest

from baselib.records import progress


@pytest.mark.parametrize("raw, expected", [("", 30.0), ("0", 0.0), ("2.5", 2.5), (" 45 ", 45.0)])
def test_good_values(monkeypatch, raw, expected):
    monkeypatch.setenv("BASELIB_PROGRESS_SECONDS", raw)
    assert progress.interval_seconds() == expected


@pytest.mark.parametrize("raw", ["-1", "nan", "ten", "30s"])
def test_bad_values_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv("BASELIB_PROGRESS_SECONDS", raw)
    with pytest.raises(ValueError, match=r"BASELIB_PROGRESS_SECONDS must be a number of seconds >= 0"):
        progress.interval_seconds()
