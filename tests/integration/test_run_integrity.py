"""Run integrity against real databases, a real loopback API and real concurrent connections:
late-committed rows, reconciles that must not flag live rows deleted, one load per resource at
a time, and the error a run records when its connection dies.
"""
from __future__ import annotations

import datetime as dt
import secrets
import threading
import time

import psycopg2
import pytest

from baselib import pipeline
from baselib.errors import BlockingQualityFailure
from baselib_simulators import certificates
from baselib_simulators import population as sim
from tests.conftest import AS_OF, DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import (assert_accounted, catalog_entry, change_source, fill_source,
                                                load_snapshot, run, table_digest, validated)

DAY2_NOON = dt.datetime(2026, 11, 2, 4, tzinfo=UTC)   # inside DAY2 (Asia/Shanghai noon)


def insert_uncommitted(dbs, rows: int, updated_at: dt.datetime, seed: int):
    """Insert clean people in a source transaction left open: (connection, their id numbers).

    ``updated_at`` is stamped when the transaction writes, but nobody sees the rows before
    the caller commits, exactly as with a long-running transaction at the department."""
    import pyarrow as pa

    from baselib.pgcopy import copy_table
    from baselib.warehouse.sqlfiles import ident

    table, _ = sim.generate(rows, seed, AS_OF, rates={}, start_index=20_000_000 + seed)
    table = table.set_column(table.schema.get_field_index("updated_at"), "updated_at",
                             pa.array([updated_at] * rows, pa.timestamp("us", tz="UTC")))
    conn = dbs.source()
    with conn.cursor() as cur:
        copy_table(cur, table, ident(sim.SOURCE_TABLE), sim.COLUMNS)
    return conn, table["id_number"].to_pylist()


def wait_until(dbs, query: str, params=None, expected=True, attempts: int = 1200) -> None:
    """Poll the warehouse until ``query`` returns ``expected`` (a state to reach, not a timing)."""
    for _ in range(attempts):
        if dbs.scalar(query, params) == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"never reached: {query} == {expected!r}")


LOCK_WAITERS = ("SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'")


def in_thread(fn, *args) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def lock_table(dbs, table: str):
    """A connection holding ``table`` in EXCLUSIVE mode: reads go on, every write waits."""
    conn = dbs.warehouse()
    with conn.cursor() as cur:
        cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # a catalog table name, not input
    return conn


def history_versions(dbs, table: str, key: str, keys: list[str]) -> dict[str, int]:
    rows = dbs.query(f"SELECT {key}, count(*) FROM {table} WHERE {key} = ANY(%s) GROUP BY 1", (keys,))
    return dict(rows)


# ---------------------------------------------------------------------------------------------
# 4. Late-arriving rows


def test_rows_committed_late_below_the_watermark_load_on_the_next_incremental_run(dbs, population):
    fill_source(dbs)
    # a department transaction stamps its rows at 23:40 but commits only after the day-1 extract,
    # while other transactions commit rows stamped later (the watermark passes the late rows)
    late_conn, late_ids = insert_uncommitted(dbs, 3, AS_OF - dt.timedelta(minutes=20), seed=1)
    change_source(dbs, at=AS_OF - dt.timedelta(minutes=1), changed=2)
    day1 = run(population, DAY1)
    assert not dbs.scalar("SELECT count(*) FROM base_population.person WHERE id_number = ANY(%s)", (late_ids,))
    assert dbs.scalar("SELECT value FROM ops.watermark") == AS_OF - dt.timedelta(minutes=1)
    late_conn.commit()
    late_conn.close()

    day2 = run(population, DAY2)

    assert_accounted(day2)
    assert (day2["rows_inserted"], day2["rows_updated"]) == (3, 0)
    assert dbs.scalar("SELECT count(*) FROM base_population.person WHERE id_number = ANY(%s)", (late_ids,)) == 3
    # the margin is recorded: the run re-read from one hour (the default look-back) below the watermark
    lower = dbs.scalar("SELECT watermark_from FROM ops.load_run WHERE load_id = %s", (day2["load_id"],))
    assert lower == AS_OF - dt.timedelta(minutes=61)
    assert day1["rows_inserted"] > 0


def test_rows_committed_later_than_the_look_back_are_found_by_a_reconcile(dbs, population):
    fill_source(dbs)
    late_conn, late_ids = insert_uncommitted(dbs, 2, AS_OF - dt.timedelta(hours=3), seed=2)
    change_source(dbs, at=AS_OF - dt.timedelta(minutes=1), changed=1)
    run(population, DAY1)
    late_conn.commit()
    late_conn.close()

    day2 = run(population, DAY2)
    assert day2["rows_inserted"] == 0   # older than the one-hour look-back: incremental runs cannot see them

    recon = run(population, DAY2, mode="reconcile")
    assert_accounted(recon)
    assert (recon["rows_inserted"], recon["rows_deleted"]) == (2, 0)
    assert dbs.scalar("SELECT count(*) FROM base_population.person WHERE id_number = ANY(%s)", (late_ids,)) == 2


def test_a_look_back_of_zero_reads_strictly_above_the_watermark(dbs, population):
    fill_source(dbs)
    source = population.pipeline.source.model_copy(update={"lookback_seconds": 0})
    no_margin = population.model_copy(update={"pipeline": population.pipeline.model_copy(update={"source": source})})
    late_conn, _ = insert_uncommitted(dbs, 2, AS_OF - dt.timedelta(minutes=20), seed=3)
    change_source(dbs, at=AS_OF - dt.timedelta(minutes=1), changed=1)
    run(no_margin, DAY1)
    late_conn.commit()
    late_conn.close()

    day2 = run(no_margin, DAY2)

    assert day2["rows_extracted"] == 0
    assert dbs.scalar("SELECT watermark_from FROM ops.load_run WHERE load_id = %s",
                      (day2["load_id"],)) == AS_OF - dt.timedelta(minutes=1)


# ---------------------------------------------------------------------------------------------
# Certificates from the e-licence API (real loopback server)


@pytest.fixture
def cert_api(dbs, monkeypatch):
    """2,500 clean certificates (three pages of 1,000) behind a real loopback API, plus 50 spare
    records the API does not serve yet. Holders are not in the (empty) base libraries: the
    cross-library checks only warn."""
    records, _ = certificates.generate(2550, 5, AS_OF, [], [], defect_rates={})
    server = certificates.CertificateApiServer(records[:2500], token=secrets.token_urlsafe(16)).start()
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", server.connection_uri())
    yield server, records[2500:]
    server.stop()


def _iso_z(ts: dt.datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_api_records_published_late_below_the_watermark_load_on_the_next_run(dbs, cert_api):
    server, spare = cert_api
    entry = catalog_entry("base_e_certificate.certificate")
    run(entry, DAY1)
    watermark = dbs.scalar("SELECT value FROM ops.watermark")
    # the e-licence system publishes records stamped before the newest one it had already served
    server.upsert([{**r, "updated_at": _iso_z(watermark - dt.timedelta(minutes=30))} for r in spare[:4]])

    day2 = run(entry, DAY2)

    assert_accounted(day2)
    assert day2["rows_inserted"] == 4
    assert dbs.scalar("SELECT count(*) FROM base_e_certificate.certificate WHERE cert_identifier = ANY(%s)",
                      ([r["cert_identifier"] for r in spare[:4]],)) == 4


# ---------------------------------------------------------------------------------------------
# 5. Live rows flagged deleted


def test_a_reconcile_of_a_truncated_api_snapshot_blocks_and_deletes_nothing(dbs, cert_api):
    server, _ = cert_api
    entry = catalog_entry("base_e_certificate.certificate")
    first = run(entry, DAY1)
    assert first["rows_inserted"] == 2500
    before = load_snapshot(dbs, entry)
    server.faults.end_early(page_number=2)   # paging ends after 2 of 3 pages

    with pytest.raises(BlockingQualityFailure) as raised:
        run(entry, DAY1, mode="reconcile")

    assert "500" in str(raised.value) and "5.0%" in str(raised.value)
    assert load_snapshot(dbs, entry) == before
    status, checks, deleted = dbs.query(
        "SELECT status, blocking_checks, rows_deleted FROM ops.load_run ORDER BY load_id DESC LIMIT 1")[0]
    assert status == "blocked" and deleted is None
    [check] = [c for c in checks if c["check"] == "max_deleted_share"]
    assert "500" in check["message"] and "2500" in check["message"] and "5.0%" in check["message"]
    assert "删除" in check["message"]   # bilingual, like every reason shown to officers

    healthy = run(entry, DAY1, mode="reconcile")
    assert (healthy["rows_deleted"], healthy["rows_updated"], healthy["rows_unchanged"]) == (0, 0, 2500)
    # no fake delete and re-open versions in history
    assert table_digest(dbs, "base_e_certificate.certificate_history") == before[1]


def test_a_reconcile_that_would_delete_more_than_the_limit_blocks(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    before = load_snapshot(dbs, population)
    # a tenth of the source vanishes (a view gone wrong, a partial refresh): far below max_row_count_drop
    dbs.query("DELETE FROM frontend.population_person WHERE row_id % 10 = 0", db="source")

    with pytest.raises(BlockingQualityFailure, match="max_deleted_share"):
        run(population, DAY2, mode="reconcile")

    assert load_snapshot(dbs, population) == before
    assert dbs.scalar("SELECT count(*) FROM base_population.person WHERE _deleted_at IS NOT NULL") == 0


def test_deletions_at_the_limit_load(dbs, population):
    fill_source(dbs)
    first = run(population, DAY1)
    live = first["rows_inserted"]
    allowed = int(live * population.pipeline.max_deleted_share)
    deleted = change_source(dbs, at=DAY2_NOON, deleted=allowed)["deleted"]

    recon = run(population, DAY2, mode="reconcile")

    assert recon["rows_deleted"] == allowed == len(deleted) > 0


def test_a_reconcile_for_an_earlier_day_keeps_rows_changed_after_it(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    changed = change_source(dbs, at=DAY2_NOON, changed=30)["changed"]

    recon = run(population, DAY1, mode="reconcile")   # run on day 2, for day 1

    assert_accounted(recon)
    assert recon["rows_deleted"] == 0
    assert dbs.scalar("SELECT count(*) FROM base_population.person WHERE _deleted_at IS NOT NULL") == 0
    # the reconcile reads the source as it is now: the 30 rows are live with their current values
    assert recon["rows_updated"] == 30
    assert dbs.scalar("SELECT count(*) FROM base_population.person_current WHERE id_number = ANY(%s) "
                      "AND address LIKE '%%（变更）'", (changed,)) == 30
    # the incremental run of day 2 finds them already right, and the watermark never went back
    day2 = run(population, DAY2)
    assert (day2["rows_inserted"], day2["rows_updated"]) == (0, 0) and day2["rows_unchanged"] >= 30
    assert dbs.scalar("SELECT value FROM ops.watermark") == DAY2_NOON


def test_a_reconcile_of_the_api_for_an_earlier_day_keeps_records_changed_after_it(dbs, cert_api):
    server, _ = cert_api
    entry = catalog_entry("base_e_certificate.certificate")
    run(entry, DAY1)
    changed = [{**r, "status": "注销", "updated_at": _iso_z(DAY2_NOON)} for r in server.records[:30]]
    server.upsert(changed)

    recon = run(entry, DAY1, mode="reconcile")

    assert (recon["rows_deleted"], recon["rows_updated"]) == (0, 30)
    assert dbs.scalar("SELECT count(*) FROM base_e_certificate.certificate WHERE _deleted_at IS NOT NULL") == 0


def test_a_reconcile_does_not_delete_keys_loaded_after_its_extract(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    recon = validated(population, DAY1, mode="reconcile")   # its snapshot is taken now
    new = change_source(dbs, at=DAY2_NOON, new=5)["new"]
    assert run(population, DAY2)["rows_inserted"] == 5       # loaded while the reconcile waits

    loaded = pipeline.record(population, pipeline.load(population, recon))

    assert loaded["rows_deleted"] == 0
    assert dbs.scalar("SELECT count(*) FROM base_population.person_current WHERE id_number = ANY(%s)", (new,)) == 5


# ---------------------------------------------------------------------------------------------
# 6. Two runs of one resource at once


def load_overlapping(dbs, resource, runs: list[dict], held: str) -> list[dict]:
    """Load and record each validated run in its own thread while a third connection holds
    ``held`` locked, release it once both loads wait, and return each thread's outcome
    (``{"result": …}`` or ``{"error": …}``)."""
    holder = lock_table(dbs, held)
    started = [in_thread(lambda v: pipeline.record(resource, pipeline.load(resource, v)), v) for v in runs]
    try:
        wait_until(dbs, LOCK_WAITERS, expected=2)
    finally:
        holder.commit()
        holder.close()
    for thread, _ in started:
        thread.join()
    return [outcome for _, outcome in started]


def test_overlapping_loads_of_one_resource_version_each_change_once(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    changed = change_source(dbs, at=DAY2_NOON, changed=25)["changed"]
    # a scheduled run and a manual run of the same interval, both extracted and validated
    runs = [validated(population, DAY2), validated(population, DAY2)]
    # force the overlap: hold history writes until both loads are inside their transactions
    outcomes = load_overlapping(dbs, population, runs, held="base_population.person_history")
    assert not [o["error"] for o in outcomes if "error" in o]
    results = [o["result"] for o in outcomes]
    for result in results:
        assert_accounted(result)
    counts = sorted((r["rows_inserted"], r["rows_updated"]) for r in results)
    assert counts == [(0, 0), (0, 25)]   # the second run found the first one's result: unchanged
    versions = history_versions(dbs, "base_population.person_history", "id_number", changed)
    assert versions == {key: 2 for key in changed}
    assert sum(dbs.scalar("SELECT rows_updated FROM ops.load_run WHERE load_id = %s", (r["load_id"],))
               for r in results) == 25


def test_overlapping_loads_with_new_keys_both_succeed(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    new = change_source(dbs, at=DAY2_NOON, new=10)["new"]
    runs = [validated(population, DAY2), validated(population, DAY2)]
    outcomes = load_overlapping(dbs, population, runs, held="base_population.person")
    assert not [o["error"] for o in outcomes if "error" in o]
    assert sorted(o["result"]["rows_inserted"] for o in outcomes) == [0, 10]
    assert history_versions(dbs, "base_population.person_history", "id_number", new) == {key: 1 for key in new}


# ---------------------------------------------------------------------------------------------
# The run records how many values the text rules changed


def test_the_run_records_the_values_the_text_rules_changed(dbs, population):
    fill_source(dbs)
    padded = dbs.query("SELECT id_number FROM frontend.population_person WHERE name <> '' ORDER BY row_id LIMIT 2", db="source")
    dbs.query("UPDATE frontend.population_person SET name = ' ' || name || '\u3000' WHERE id_number = ANY(%s)",
              ([r[0] for r in padded],), db="source")

    summary = run(population, DAY1)

    counts = dbs.scalar("SELECT values_normalised FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))
    assert sum(n for rule, n in counts.items() if rule.startswith("name")) == 2


# ---------------------------------------------------------------------------------------------
# 7. Stale errors


def test_a_connection_killed_mid_merge_records_the_real_error_and_a_retry_clears_it(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    change_source(dbs, at=DAY2_NOON, new=5, changed=5)
    before = load_snapshot(dbs, population)
    pending = validated(population, DAY2)
    holder = lock_table(dbs, "base_population.person_history")
    thread, outcome = in_thread(pipeline.load, population, pending)
    try:
        waiting = ("SELECT pid FROM pg_locks WHERE NOT granted AND relation = "
                   "'base_population.person_history'::regclass")
        wait_until(dbs, f"SELECT count(*) FROM ({waiting}) w", expected=1)
        # the rows are already staged inside the merge's transaction when its backend dies
        dbs.query(f"SELECT pg_terminate_backend(pid) FROM ({waiting}) w")
        thread.join()
    finally:
        holder.rollback()
        holder.close()

    # the real cause (the server ended the backend), not the failed rollback's "connection already closed"
    assert isinstance(outcome.get("error"), psycopg2.OperationalError), outcome
    killed = ("terminating connection due to administrator command", "server closed the connection unexpectedly")
    assert any(k in str(outcome["error"]) for k in killed)
    status, error = dbs.query("SELECT status, error FROM ops.load_run WHERE load_id = %s",
                              (pending["load_id"],))[0]
    assert status == "failed"
    assert error.startswith("OperationalError: ") and any(k in error for k in killed)
    assert "connection already closed" not in error
    assert load_snapshot(dbs, population) == before

    retried = pipeline.record(population, pipeline.load(population, pending))   # Airflow's retry of the load

    assert_accounted(retried)
    assert (retried["rows_inserted"], retried["rows_updated"]) == (5, 5)
    error, history = dbs.query("SELECT error, error_history FROM ops.load_run WHERE load_id = %s",
                               (pending["load_id"],))[0]
    assert error is None
    [earlier] = history
    assert earlier["step"] == "load" and earlier["error_class"] == "OperationalError"
    assert any(k in earlier["error"] for k in killed)
