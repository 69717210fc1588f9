"""Personal data hidden in an item that is not marked personal: a driving licence's number (证照编号,
``cert_number``) is its holder's citizen ID, so the catalog marks ``cert_number`` personal and masks
it; a consumer without personal-data approval, logged in as its real role, reads no citizen ID raw
anywhere in its view of the e-certificates."""
from __future__ import annotations

import secrets

import pytest

from baselib.sharing import consumers as consumers_mod
from baselib_simulators import certificates
from tests.conftest import AS_OF, DAY1
from tests.integration import sharing_fixtures
from tests.integration.pipeline_helpers import catalog_entry, run
from tests.integration.login_queries import rows as _rows
from tests.integration import test_certificate_pipeline
from tests.integration.test_sharing_grants import (  # noqa: F401  (the fixture and its helpers)
    _application, _reconcile, world)

sharing_consumers = sharing_fixtures.sharing_consumers  # the fixtures
libraries = test_certificate_pipeline.libraries


@pytest.fixture
def certificates_loaded(dbs, libraries, monkeypatch):
    """The e-certificates loaded from a loopback API, their holders drawn from the loaded libraries."""
    citizen_ids, credit_codes = libraries
    records, _ = certificates.generate(600, 9, AS_OF, citizen_ids, credit_codes, unmatched_rate=0.0,
                                       defect_rates={kind: 0.0 for kind in certificates.DEFECTS})
    server = certificates.CertificateApiServer(records, token=secrets.token_urlsafe(16)).start()
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", server.connection_uri())
    entry = catalog_entry("base_e_certificate.certificate")
    assert run(entry, DAY1)["status"] == "success"
    yield entry
    server.stop()


def test_a_masked_consumer_of_e_certificates_reads_no_citizen_id_raw(dbs, sharing_consumers, certificates_loaded):
    """Every value of the masked consumer's view, compared with the holders' citizen IDs: none is one
    (before cert_number was marked personal, 149 of them were read raw)."""
    entry = certificates_loaded
    declared = sharing_consumers("cert")
    conn = dbs.warehouse()
    consumers_mod.apply_roles(conn)
    conn.close()
    _application(dbs, declared.code("cert"), entry)  # personal = false
    _reconcile(dbs)
    citizen_ids = {r[0] for r in dbs.query(
        "SELECT holder_code FROM base_e_certificate.certificate_current WHERE holder_code_type = '111'")}
    assert citizen_ids
    as_cert = declared.login("cert")
    seen = set()
    for row in _rows(as_cert, "SELECT * FROM base_e_certificate__certificate"):
        seen |= {str(v) for v in row if v is not None}
    as_cert.close()
    assert not seen & citizen_ids, f"{len(seen & citizen_ids)} citizen IDs read raw"


