"""Electronic certificates from the e-licence HTTP API (real loopback server) into the warehouse,
with cross-library checks against the population and legal-entity base libraries."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest

from baselib.errors import SourceError
from baselib_simulators import certificates, legal_entity, population
from tests.conftest import AS_OF, DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import catalog_entry, load_snapshot, run







@pytest.fixture
def libraries(dbs):
    """Population and legal-entity base libraries loaded; clean holders to reference."""
    conn = dbs.source("dept_public_security")
    population.create(conn, rows=1500, seed=21, as_of=AS_OF)
    citizen_ids = population.clean_ids(conn, limit=400)
    conn.close()
    conn = dbs.source("dept_market_regulation")
    legal_entity.create(conn, rows=1500, seed=21, as_of=AS_OF)
    credit_codes = legal_entity.clean_credit_codes(conn, limit=400)
    conn.close()
    run(catalog_entry("base_population.person"), DAY1)
    run(catalog_entry("base_legal_entity.legal_entity"), DAY1)
    return citizen_ids, credit_codes


@pytest.fixture
def api(libraries, monkeypatch):
    citizen_ids, credit_codes = libraries
    records, manifest = certificates.generate(1200, 9, AS_OF, citizen_ids, credit_codes, unmatched_rate=0.1,
                                              defect_rates={kind: 0.01 for kind in certificates.DEFECTS})
    server = certificates.CertificateApiServer(records, token=secrets.token_urlsafe(16)).start()
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", server.connection_uri())
    yield server, manifest
    server.stop()


def snapshot(dbs):
    return load_snapshot(dbs, catalog_entry("base_e_certificate.certificate"))


def test_first_load_accounts_quarantines_and_measures_cross_library_rates(dbs, api):
    server, manifest = api
    entry = catalog_entry("base_e_certificate.certificate")

    summary = run(entry, DAY1)

    assert summary["status"] == "success" and summary["mode"] == "full"
    assert summary["rows_extracted"] == len(server.records)
    assert summary["rows_extracted"] == summary["rows_inserted"] + summary["rows_quarantined"]
    quarantined = {r[0] for r in dbs.query("SELECT record_key FROM ops.quarantine WHERE last_load_id = %s",
                                           (summary["load_id"],))}
    assert quarantined == {identifier for identifier, _ in manifest.defects}
    # cross-library checks: warning level (nothing quarantined for them), rates = the simulator's figures
    checks = dbs.scalar("SELECT cross_checks FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))
    assert checks["holder_in_population"]["match_rate"] == pytest.approx(manifest.match_rate("person"), abs=1e-6)
    assert checks["holder_in_legal_entity"]["match_rate"] == pytest.approx(manifest.match_rate("organisation"), abs=1e-6)
    assert 0 < checks["holder_in_population"]["match_rate"] < 1
    assert dbs.scalar("SELECT cross_check_rates FROM evaluation.sync_metrics WHERE load_id = %s",
                      (summary["load_id"],)) == checks
    assert summary["rows_warned"] >= sum(c["checked"] - c["matched"] for c in checks.values())


def test_validity_is_derived_from_today_not_stored(dbs, api):
    run(catalog_entry("base_e_certificate.certificate"), DAY1)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    rows = dbs.query("SELECT status, long_term, valid_to, effective_status, valid_today "
                     "FROM base_e_certificate.certificate_current")
    expired_since_issue = 0
    for status, long_term, valid_to, effective, valid_today in rows:
        lapsed = status == "有效" and not long_term and valid_to < today
        expired_since_issue += lapsed
        assert effective == ("过期" if lapsed else status)
        assert valid_today == (effective == "有效")
    assert expired_since_issue > 0  # certificates valid in the source have since expired
    assert dbs.scalar("SELECT count(*) FROM base_e_certificate.certificate WHERE status = '过期'") < len(rows)


def test_incremental_and_idempotent_rerun(dbs, api):
    server, _ = api
    entry = catalog_entry("base_e_certificate.certificate")
    first = run(entry, DAY1)
    changed_at = dt.datetime(2026, 11, 2, 8, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    loaded = [r for r in server.records
              if dbs.scalar("SELECT count(*) FROM base_e_certificate.certificate WHERE cert_identifier = %s",
                            (r["cert_identifier"],))][:20]
    server.upsert([{**r, "status": "注销", "updated_at": changed_at} for r in loaded])

    second = run(entry, DAY2)
    before = snapshot(dbs)
    third = run(entry, DAY2)

    def look_back(summary):  # records re-read below the previous watermark load as unchanged
        lower = dbs.scalar("SELECT watermark_from FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))
        changed = dt.datetime(2026, 11, 2, 8, tzinfo=UTC)
        return sum(lower < certificates.parse_timestamp(r["updated_at"]) < changed for r in server.records)

    assert (second["mode"], second["rows_extracted"], second["rows_updated"], second["rows_inserted"]) == \
        ("incremental", 20 + look_back(second), 20, 0)
    assert (third["rows_inserted"], third["rows_updated"], third["rows_unchanged"]) == (0, 0, 20 + look_back(third))
    assert snapshot(dbs) == before and first["rows_inserted"] > 0


def test_a_malformed_page_fails_clearly_and_leaves_the_warehouse_unchanged(dbs, api):
    server, _ = api
    entry = catalog_entry("base_e_certificate.certificate")
    run(entry, DAY1)
    server.upsert([{**r, "status": "注销", "updated_at": "2026-11-02T08:00:00Z"} for r in server.records[:5]])
    before = snapshot(dbs)
    server.faults.truncate(page_number=1)

    with pytest.raises(SourceError, match="JSON|json|malformed|truncated"):
        run(entry, DAY2)

    assert snapshot(dbs) == before
    assert dbs.scalar("SELECT status FROM ops.load_run ORDER BY load_id DESC LIMIT 1") == "failed"


def test_a_blocking_quality_failure_leaves_the_warehouse_unchanged(dbs, api):
    from baselib.errors import BlockingQualityFailure

    server, _ = api
    entry = catalog_entry("base_e_certificate.certificate")
    run(entry, DAY1)
    before = snapshot(dbs)
    # the e-licence system starts sending mostly broken identifiers
    broken = [{**r, "cert_identifier": r["cert_identifier"][:-1] + ("0" if r["cert_identifier"][-1] != "0" else "1"),
               "updated_at": "2026-11-02T08:00:00Z"} for r in server.records[:300]]
    server.upsert(broken)

    with pytest.raises(BlockingQualityFailure, match="quarantine_threshold"):
        run(entry, DAY2)

    assert snapshot(dbs) == before
    assert dbs.scalar("SELECT status FROM ops.load_run ORDER BY load_id DESC LIMIT 1") == "blocked"
