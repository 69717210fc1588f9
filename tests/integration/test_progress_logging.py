"""Progress of the pipeline's steps in the log at INFO: rows and parts done, throughput, a summary
per step, and where the run's quality report is (also in a blocked load's error).

The pipeline runs on the simulated public-security source (real PostgreSQL), its log captured at
INFO with the progress lines unthrottled (``BASELIB_PROGRESS_SECONDS=0``) unless a test says
otherwise."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pyarrow as pa
import pytest

from baselib import pipeline
from baselib.errors import BlockingQualityFailure
from baselib_simulators import population as sim
from tests.conftest import DAY1
from tests.integration.pipeline_helpers import assert_accounted, fill_source, run_info

NUMBER = r"(\d+(?:\.\d+)?)"


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


def _progress(messages: list[str], label: str) -> list[tuple[int, int, float]]:
    """(parts, rows, rows/s) of every progress line of ``label``."""
    pattern = re.compile(rf"{re.escape(label)}: (\d+) part\(s\), (\d+) rows so far, {NUMBER} rows/s")
    return [(int(m[1]), int(m[2]), float(m[3])) for m in map(pattern.fullmatch, messages) if m]


def _summary(messages: list[str], label: str) -> tuple[int, int, float, float, str]:
    """(parts, rows, seconds, rows/s, rest) of the one summary line of ``label``."""
    pattern = re.compile(rf"{re.escape(label)} done: (\d+) part\(s\), (\d+) rows in {NUMBER} s \({NUMBER} rows/s\)(.*)")
    found = [m for m in map(pattern.fullmatch, messages) if m]
    assert len(found) == 1, (label, messages)
    m = found[0]
    return int(m[1]), int(m[2]), float(m[3]), float(m[4]), m[5]


def test_each_step_logs_its_progress_and_a_summary_with_throughput(dbs, population, caplog, monkeypatch):
    monkeypatch.setenv("BASELIB_PROGRESS_SECONDS", "0")
    simulated = fill_source(dbs, rows=1500)
    code = population.code
    caplog.set_level(logging.INFO)

    extracted = pipeline.extract(population, run_info(population, DAY1))
    validated = pipeline.validate(population, extracted)
    loaded = pipeline.load(population, validated)
    summary = pipeline.record(population, loaded)
    assert_accounted(summary)
    messages = _messages(caplog)
    rows = simulated.rows

    # extract: one line per part written, counting up to the totals, then the summary
    lines = _progress(messages, f"{code}: extract")
    assert [p for p, _, _ in lines] == list(range(1, len(extracted["parts"]) + 1))
    assert lines[-1][1] == rows == extracted["rows"]
    done = [m for m in messages if m.startswith(f"{code}: extract done: ")]
    assert len(done) == 1
    m = re.match(rf"{re.escape(code)}: extract done: (\d+) part\(s\), (\d+) rows in {NUMBER} s \({NUMBER} rows/s\)",
                 done[0])
    assert (int(m[1]), int(m[2])) == (len(extracted["parts"]), rows) and float(m[4]) > 0

    # validate: parts checked and rows, then the totals with what was quarantined
    lines = _progress(messages, f"{code}: validate")
    assert [p for p, _, _ in lines] == list(range(1, len(extracted["parts"]) + 1))
    assert lines[-1][1] == rows
    parts, checked, _, per_second, rest = _summary(messages, f"{code}: validate")
    assert (parts, checked) == (len(extracted["parts"]), rows) and per_second > 0
    assert f"{validated['rows_quarantined']} quarantined" in rest
    assert validated["rows_quarantined"] == sum(simulated.defects.values()) > 0

    # load: the COPY of the valid rows (first load: straight into the history), the merge's counts
    parts, copied, _, per_second, _ = _summary(messages, f"{code}: load: COPY into the history (first load)")
    assert parts == len(validated["valid_parts"])
    assert copied == rows - validated["rows_quarantined"] == loaded["rows_inserted"] and per_second > 0
    merged = [m for m in messages if m.startswith(f"{code}: load done in ")]
    assert len(merged) == 1
    assert f"COPY {copied} rows" in merged[0]
    assert f"{loaded['rows_inserted']} inserted, 0 updated, 0 unchanged, 0 deleted" in merged[0]

    # record: the run closed, its counts, its staging removed
    recorded = [m for m in messages if m.startswith(f"{code}: record done: load {summary['load_id']} success")]
    assert len(recorded) == 1 and f"{rows} rows extracted" in recorded[0]


def test_the_run_log_says_where_its_quality_report_and_trend_page_are(dbs, population, caplog):
    fill_source(dbs, rows=500)
    caplog.set_level(logging.INFO)
    extracted = pipeline.extract(population, run_info(population, DAY1))
    caplog.clear()
    validated = pipeline.validate(population, extracted)
    in_validate = [m for m in _messages(caplog) if "; report: " in m]
    caplog.clear()
    summary = pipeline.record(population, pipeline.load(population, validated))
    in_record = [m for m in _messages(caplog) if "; report: " in m]

    report = Path(summary["report_path"])
    assert report.is_file() and validated["report"] == str(report)
    # validate's task log names the per-load report; record's names it and the resource's trend page
    assert len(in_validate) == 1 and in_validate[0].endswith(f"; report: {report}")
    assert len(in_record) == 1
    trend = re.search(r"; report: (.+); trend: (.+)$", in_record[0])
    assert trend and trend[1] == str(report)
    assert Path(trend[2]).is_file()


def test_a_blocked_load_names_its_quality_report_in_the_error(dbs, population):
    fill_source(dbs, rows=2000, rates={kind: 0.05 for kind in sim.DEFECTS})  # over the quarantine threshold

    with pytest.raises(BlockingQualityFailure) as raised:
        pipeline.validate(population, pipeline.extract(population, run_info(population, DAY1)))

    status, error, report = dbs.query("SELECT status, error, report_path FROM ops.load_run")[0]
    assert status == "blocked" and Path(report).is_file()
    assert f"(quality report: {report})" in str(raised.value)
    assert raised.value.report_path == report
    assert f"(quality report: {report})" in error


def test_progress_lines_are_rate_limited_but_the_summary_is_always_there(tmp_path, caplog):
    """Many parts written quickly: the first part's line, then at most one line per interval,
    and one summary line with the totals."""
    from baselib import storage
    from baselib.records.progress import Progress

    ticks = iter(range(0, 10_000))  # one second per reading of the clock
    logger = logging.getLogger("baselib.test_progress")
    caplog.set_level(logging.INFO, logger=logger.name)
    progress = Progress(logger, "R: extract", every=5, clock=lambda: next(ticks))
    writer = storage.PartWriter((tmp_path / "parts").as_uri(), progress=progress)
    for _ in range(20):
        writer.write(pa.table({"v": pa.array(range(100), pa.int64())}))
    progress.done()

    messages = _messages(caplog)
    lines = _progress(messages, "R: extract")
    assert len(writer.parts) == 20 == progress.parts and progress.rows == 2000
    # clock: started at 0, part n read at n; logged at part 1, then whenever 5 s passed since the last line
    assert [p for p, _, _ in lines] == [1, 6, 11, 16]
    assert [r for _, r, _ in lines] == [100, 600, 1100, 1600]
    assert lines[0][2] == 100.0
    parts, rows, seconds, per_second, _ = _summary(messages, "R: extract")
    assert (parts, rows, seconds, per_second) == (20, 2000, 21.0, round(2000 / 21))  # the clock is the test's
