"""Staging housekeeping (baselib.records.housekeeping) against a real warehouse and real staging
stores (a local folder, and an S3-compatible server on loopback).

Runs are real ops.load_run rows: a blocked run made by the pipeline itself, the others opened and
closed through baselib.records.load_run as the pipeline does; their staging folders hold real
Parquet parts at storage.load_prefix. Ages are set on the rows (finished_at) and on the files
(mtime), never by waiting."""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from baselib import pipeline, storage
from baselib.errors import BlockingQualityFailure
from baselib.records import housekeeping, load_run
from baselib.warehouse import connections, schema
from baselib_simulators import population as sim
from tests.conftest import BUCKET, DAY1
from tests.integration.pipeline_helpers import fill_source, run_info

DAG = "base_test__housekeeping"
OLD, YOUNG = dt.timedelta(days=10), dt.timedelta(days=2)


def _conn():
    conn = connections.connect("warehouse")
    schema.ensure(conn, [])
    return conn


def _run(conn, name: str, status: str, age: dt.timedelta | None = None, rows: int = 100) -> int:
    """A run of DAG ``DAG`` closed as ``status`` ``age`` ago (running: just opened), with a staging
    folder of one Parquet part of ``rows`` rows. Returns its load id."""
    load_id = load_run.start(conn, resource_code="TEST/" + name, dag_id=DAG, run_id=f"manual__{name}",
                             logical_date=None, data_interval_start=None, data_interval_end=None, mode="full")
    if status in ("failed", "blocked"):
        load_run.record_error(conn, load_id, "validate", RuntimeError(f"{name} broke"), status=status)
    elif status != "running":
        load_run.update(conn, load_id, status=status, finished_at=dt.datetime.now(dt.timezone.utc))
    if age is not None:
        with conn.cursor() as cur:
            cur.execute("UPDATE ops.load_run SET finished_at = now() - %s, started_at = now() - %s "
                        "WHERE load_id = %s", (age, age, load_id))
    conn.commit()
    _part(storage.load_prefix(DAG, load_id), rows)
    return load_id


def _part(prefix: str, rows: int) -> None:
    storage.PartWriter(f"{prefix}/extract").write(pa.table({"v": pa.array(range(rows), pa.int64())}))


def _age_files(folder: Path, age: dt.timedelta) -> None:
    stamp = (dt.datetime.now() - age).timestamp()
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (stamp, stamp))


def _size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def test_old_failed_blocked_and_orphan_folders_go_young_and_running_ones_stay(dbs, population, caplog, tmp_path,
                                                                              monkeypatch):
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    # a real blocked run: the pipeline kept its extract, valid and rejected parts
    fill_source(dbs, rows=2000, rates={kind: 0.05 for kind in sim.DEFECTS})
    extracted = pipeline.extract(population, run_info(population, DAY1))
    with pytest.raises(BlockingQualityFailure):
        pipeline.validate(population, extracted)
    blocked = extracted["load_id"]
    blocked_dir = staging / population.dag_id / f"load-{blocked}"
    assert blocked_dir.is_dir()
    conn = _conn()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE ops.load_run SET finished_at = now() - %s WHERE load_id = %s", (OLD, blocked))
        conn.commit()
        failed_old = _run(conn, "failed_old", "failed", OLD)
        failed_young = _run(conn, "failed_young", "blocked", YOUNG)
        running_old = _run(conn, "running_old", "running", OLD)      # its DAG run may still retry
        loaded_old = _run(conn, "loaded_old", "loaded", OLD)         # record still to come
        success_old = _run(conn, "success_left", "success", OLD)     # its record could not remove it
        dag_dir = staging / DAG
        _part((dag_dir / "load-900000001").as_uri(), 10)             # orphans: no ops.load_run row
        _part((dag_dir / "load-900000002").as_uri(), 10)
        _age_files(dag_dir / "load-900000001", OLD)
        _age_files(dag_dir / "load-900000002", YOUNG)
        (dag_dir / "notes").mkdir()                                  # not a load folder: never touched
        sizes = {p: _size(p) for p in [blocked_dir, *dag_dir.iterdir()]}
        caplog.set_level(logging.INFO, logger="baselib")

        # the retention comes from BASELIB_STAGING_RETENTION_DAYS: 30 days keeps everything
        monkeypatch.setenv("BASELIB_STAGING_RETENTION_DAYS", "30")
        assert housekeeping.sweep(conn).removed == []
        monkeypatch.delenv("BASELIB_STAGING_RETENTION_DAYS")        # default: 7 days

        expected = {blocked_dir: ("blocked", blocked), dag_dir / f"load-{failed_old}": ("failed", failed_old),
                    dag_dir / f"load-{success_old}": ("success", success_old),
                    dag_dir / "load-900000001": ("orphan", None)}
        dry = housekeeping.sweep(conn, dry_run=True)
        assert {f.uri for f in dry.removed} == {p.as_uri() for p in expected}
        assert all(p.is_dir() for p in expected)
        assert dbs.scalar("SELECT count(*) FROM ops.staging_removal") == 0

        caplog.clear()
        done = housekeeping.sweep(conn)
    finally:
        conn.close()

    assert {f.uri for f in done.removed} == {p.as_uri() for p in expected}
    assert not any(p.exists() for p in expected)
    kept = [dag_dir / f"load-{i}" for i in (failed_young, running_old, loaded_old)] + [dag_dir / "load-900000002"]
    assert all(_size(p) == sizes[p] for p in kept)
    assert (dag_dir / "notes").is_dir()
    assert {f.uri: f.why_kept for f in done.kept} == {
        (dag_dir / f"load-{failed_young}").as_uri(): "run blocked, finished after the cutoff",
        (dag_dir / f"load-{running_old}").as_uri(): "run running: its DAG run may still retry",
        (dag_dir / f"load-{loaded_old}").as_uri(): "run loaded: its DAG run may still retry",
        (dag_dir / "load-900000002").as_uri(): "orphan, too recent"}

    # recorded: one row per folder with its reason and size, and on the runs
    recorded = dbs.query("SELECT uri, reason, load_id, files, bytes FROM ops.staging_removal")
    assert sorted(recorded) == sorted((p.as_uri(), reason, load_id, *sizes[p])
                                      for p, (reason, load_id) in expected.items())
    assert sorted(r[0] for r in dbs.query(
        "SELECT load_id FROM ops.load_run WHERE staging_removed_at IS NOT NULL")) == sorted(
        load_id for _, load_id in expected.values() if load_id is not None)
    total = sum(sizes[p][1] for p in expected)
    assert done.as_dict()["bytes_removed"] == total and done.as_dict()["folders_removed"] == 4
    assert any(f"4 folder(s) removed ({sum(sizes[p][0] for p in expected)} file(s), {total} bytes; blocked 1, "
               "failed 1, orphan 1, success 1), 4 kept" in r.getMessage() for r in caplog.records)

    # a second sweep finds nothing more to do and records nothing more
    conn = _conn()
    try:
        again = housekeeping.sweep(conn)
    finally:
        conn.close()
    assert again.removed == [] and len(again.kept) == 4
    assert dbs.scalar("SELECT count(*) FROM ops.staging_removal") == 4


def test_a_retried_run_is_running_again_and_keeps_its_folder(dbs, tmp_path, monkeypatch):
    """A failed run whose task is cleared days later: load_run.start (the retried extract) makes it
    running again, and housekeeping leaves it alone."""
    monkeypatch.setenv("BASELIB_STAGING_URL", (tmp_path / "staging").as_uri())
    conn = _conn()
    try:
        load_id = _run(conn, "retried", "failed", OLD)
        again = load_run.start(conn, resource_code="TEST/retried", dag_id=DAG, run_id="manual__retried",
                               logical_date=None, data_interval_start=None, data_interval_end=None, mode="full")
        conn.commit()
        assert again == load_id
        done = housekeeping.sweep(conn)
    finally:
        conn.close()
    assert done.removed == [] and (tmp_path / "staging" / DAG / f"load-{load_id}").is_dir()


def test_staging_in_object_storage(dbs, s3, monkeypatch):
    """The same sweep over s3://: a failed run's folder and an orphan removed, a running run's kept.
    An object's time is its upload time, so the sweep looks from eight days ahead; the running run
    was opened (again, by a retried task) an hour before that instant."""
    import pyarrow.fs as pafs

    monkeypatch.setenv("BASELIB_STAGING_URL", f"s3://{BUCKET}/staging")
    conn = _conn()
    try:
        failed = _run(conn, "s3_failed", "failed", rows=1000)
        running = _run(conn, "s3_running", "running", rows=1000)
        with conn.cursor() as cur:
            cur.execute("UPDATE ops.load_run SET started_at = now() + interval '8 days' - interval '1 hour' "
                        "WHERE load_id = %s", (running,))
        conn.commit()
        _part(f"s3://{BUCKET}/staging/{DAG}/load-900000003", 50)
        done = housekeeping.sweep(conn, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=8))
    finally:
        conn.close()

    left = {i.path for i in s3.get_file_info(pafs.FileSelector(f"{BUCKET}/staging/{DAG}")) }
    assert left == {f"{BUCKET}/staging/{DAG}/load-{running}"}
    assert {(f.reason, f.load_id) for f in done.removed} == {("failed", failed), ("orphan", 900000003)}
    recorded = dict(dbs.query("SELECT reason, bytes FROM ops.staging_removal"))
    assert set(recorded) == {"failed", "orphan"} and all(b > 0 for b in recorded.values())
    assert recorded == {f.reason: f.bytes for f in done.removed}


@pytest.mark.parametrize("value", ["-1", "a week", "nan"])
def test_a_retention_that_is_not_a_number_of_days_is_refused(monkeypatch, value):
    monkeypatch.setenv("BASELIB_STAGING_RETENTION_DAYS", value)
    with pytest.raises(ValueError, match="BASELIB_STAGING_RETENTION_DAYS"):
        housekeeping.retention_days()


def test_the_cli_command_sweeps_like_the_dag(dbs, tmp_path, monkeypatch):
    """`python -m baselib.cli housekeeping`: --dry-run lists the old failed run's folder and keeps it;
    without it the folder goes and is recorded."""
    import json
    import subprocess
    import sys

    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    conn = _conn()
    try:
        failed = _run(conn, "cli-failed", "failed", OLD)
        young = _run(conn, "cli-young", "failed", YOUNG)
    finally:
        conn.close()
    folder = staging / DAG / f"load-{failed}"

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "baselib.cli", "housekeeping", *args], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "plugins")})
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    looked = cli("--dry-run")
    assert looked["dry_run"] is True and looked["removed"] == [folder.as_uri()] and folder.is_dir()
    swept = cli()
    assert swept["folders_removed"] == 1 and swept["removed"] == [folder.as_uri()] and not folder.exists()
    assert (staging / DAG / f"load-{young}").is_dir()
    assert dbs.query("SELECT staging_removed_at IS NOT NULL FROM ops.load_run WHERE load_id = %s",
                     (failed,)) == [(True,)]
    assert cli()["folders_removed"] == 0  # rerun: nothing left to remove


# --- runs whose task died, failed runs waiting for their retry, folders that cannot be deleted ---------

def _idle(conn, load_id: int, age: dt.timedelta, files_age: dt.timedelta | None = None) -> Path:
    """Make run ``load_id`` look ``age`` old (started_at, finished_at if set) and its staging files
    ``files_age`` old (default ``age``). Returns its folder."""
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.load_run SET started_at = now() - %s, finished_at = finished_at - %s "
                    "WHERE load_id = %s", (age, age, load_id))
    conn.commit()
    folder = Path(storage.load_prefix(DAG, load_id).removeprefix("file://"))
    _age_files(folder, files_age if files_age is not None else age)
    return folder


def test_runs_left_unfinished_by_a_dead_task_are_abandoned_after_the_retention_and_two_days(dbs, tmp_path,
                                                                                          monkeypatch):
    """A task killed without recording its failure leaves ops.load_run running, validated or loaded.
    Once its last activity (start, finish, newest staged file) is older than the retention and than
    two days, its folder goes as ``abandoned``; the run's status is left as it was. A run active
    recently (a file written yesterday, or idle less than two days with retention 0) stays."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    conn = _conn()
    try:
        dead = {status: _run(conn, f"dead_{status}", status) for status in ("running", "validated", "loaded")}
        folders = {load_id: _idle(conn, load_id, OLD) for load_id in dead.values()}
        busy = _run(conn, "busy", "running")               # started long ago, still writing parts
        _idle(conn, busy, OLD, files_age=dt.timedelta(days=1))
        done = housekeeping.sweep(conn)                    # retention 7 days
        assert {f.load_id: f.reason for f in done.removed} == {i: "abandoned" for i in dead.values()}
        assert [f.load_id for f in done.kept] == [busy]

        # retention 0: still two days of grace for a run that may be running
        quiet = _run(conn, "quiet", "running")
        _idle(conn, quiet, dt.timedelta(days=1))
        stale = _run(conn, "stale", "validated")
        _idle(conn, stale, dt.timedelta(days=3))
        done0 = housekeeping.sweep(conn, retention=0)
    finally:
        conn.close()
    assert not any(p.exists() for p in folders.values())
    assert {f.load_id: f.reason for f in done0.removed} == {stale: "abandoned"}
    assert {f.load_id: f.why_kept for f in done0.kept} == {
        busy: "run running: its DAG run may still retry", quiet: "run running: its DAG run may still retry"}
    assert (staging / DAG / f"load-{quiet}").is_dir() and (staging / DAG / f"load-{busy}").is_dir()
    assert sorted(dbs.query("SELECT load_id, reason FROM ops.staging_removal")) == sorted(
        [(i, "abandoned") for i in dead.values()] + [(stale, "abandoned")])
    # the records are not rewritten: a loaded run's rows are in the warehouse
    assert dict(dbs.query("SELECT load_id, status FROM ops.load_run WHERE staging_removed_at IS NOT NULL")) == {
        **{i: s for s, i in dead.items()}, stale: "validated"}


def test_a_failed_run_keeps_its_folder_for_an_hour_whatever_the_retention(dbs, tmp_path, monkeypatch):
    """pipeline._fail records ``failed`` on every try that fails and Airflow retries the task (at
    most 30 minutes later) on the same parts: with retention 0 a run failed 10 minutes ago keeps
    its folder, one failed 2 hours ago loses it; a blocked run (never retried) loses it at once."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    conn = _conn()
    try:
        retrying = _run(conn, "retrying", "failed", dt.timedelta(minutes=10))
        given_up = _run(conn, "given_up", "failed", dt.timedelta(hours=2))
        blocked = _run(conn, "blocked_now", "blocked")
        done = housekeeping.sweep(conn, retention=0)
    finally:
        conn.close()
    assert {f.load_id: f.reason for f in done.removed} == {given_up: "failed", blocked: "blocked"}
    assert {f.load_id: f.why_kept for f in done.kept} == {
        retrying: "run failed less than 1 hour ago: its automatic retry may read it"}
    assert (staging / DAG / f"load-{retrying}").is_dir()
    assert not (staging / DAG / f"load-{given_up}").exists()


@contextlib.contextmanager
def undeletable(folder: Path):
    """Make the files of ``folder`` impossible to delete: its subfolders read-only (mode 0555) and,
    for root (whom modes do not stop), immutable (``chattr +i``). Undone on exit."""
    subdirs = [p for p in folder.rglob("*") if p.is_dir()]
    chattr = shutil.which("chattr") if os.geteuid() == 0 else None
    for p in subdirs:
        p.chmod(0o555)
    try:
        if os.geteuid() == 0 and (chattr is None or subprocess.run([chattr, "+i", *map(str, subdirs)],
                                                                   capture_output=True).returncode):
            pytest.skip("running as root and chattr +i is not available here")
        yield
    finally:
        if chattr is not None:
            subprocess.run([chattr, "-i", *map(str, subdirs)], capture_output=True)
        for p in subdirs:
            p.chmod(0o755)


def test_a_folder_that_cannot_be_deleted_does_not_stop_the_sweep(dbs, tmp_path, monkeypatch, caplog):
    """One folder whose files cannot be deleted: it is logged and recorded nothing for, every other
    old folder is still removed and recorded, and the sweep then fails naming that folder."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    conn = _conn()
    try:
        stuck, *others = (_run(conn, f"old_{i}", "failed", OLD) for i in range(3))
        folder = staging / DAG / f"load-{stuck}"
        caplog.set_level(logging.INFO, logger="baselib")
        with undeletable(folder), pytest.raises(housekeeping.SweepIncomplete) as raised:
            housekeeping.sweep(conn)
        again = housekeeping.sweep(conn)  # the folder can be deleted now: the next sweep removes it
    finally:
        conn.close()
    swept = raised.value.sweep
    assert [f.uri for f in swept.failed] == [folder.as_uri()] and folder.as_uri() in str(raised.value)
    assert {f.load_id for f in swept.removed} == set(others)
    assert not any((staging / DAG / f"load-{i}").exists() for i in others)
    assert any(r.levelno == logging.ERROR and folder.as_uri() in r.getMessage() for r in caplog.records)
    assert swept.as_dict()["folders_failed"] == 1
    assert [f.load_id for f in again.removed] == [stuck] and not folder.exists()
    assert sorted(r[0] for r in dbs.query("SELECT load_id FROM ops.staging_removal")) == sorted([*others, stuck])


def test_a_retried_step_takes_its_failed_run_back_to_running(dbs, tmp_path, monkeypatch):
    """pipeline._resume (the first thing a validate or load retry does): a failed run is running
    again, so housekeeping keeps its staging while the retry reads it; other statuses stay."""
    monkeypatch.setenv("BASELIB_STAGING_URL", (tmp_path / "staging").as_uri())
    conn = _conn()
    try:
        ids = {status: _run(conn, f"resume-{status}", status, OLD) for status in ("failed", "blocked", "success")}
    finally:
        conn.close()
    for load_id in ids.values():
        pipeline._resume(load_id)
    rows = dict(dbs.query("SELECT load_id, status FROM ops.load_run WHERE load_id = ANY(%s)", (list(ids.values()),)))
    assert rows == {ids["failed"]: "running", ids["blocked"]: "blocked", ids["success"]: "success"}
    conn = _conn()
    try:
        swept = housekeeping.sweep(conn, retention=0)
    finally:
        conn.close()
    assert (tmp_path / "staging" / DAG / f"load-{ids['failed']}").is_dir()  # running again: kept
    assert f"load-{ids['failed']}" not in " ".join(f.uri for f in swept.removed)


def test_an_empty_orphan_folder_goes(dbs, tmp_path, monkeypatch):
    """An orphan `load-<id>` folder with no file at all is dated by its own modification time: a
    young one stays, an old one goes (a run's row is committed before it stages anything, so no run
    is about to write into it; on an object store, where an empty prefix has no time, it goes)."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    empty = staging / DAG / "load-987654321"
    empty.mkdir(parents=True)
    conn = _conn()
    try:
        assert housekeeping.sweep(conn, retention=7).removed == [] and empty.is_dir()
    finally:
        conn.close()
    _age_files(empty, OLD)
    conn = _conn()
    try:
        swept = housekeeping.sweep(conn, retention=7)
    finally:
        conn.close()
    assert [f.reason for f in swept.removed] == ["orphan"] and not empty.exists()
