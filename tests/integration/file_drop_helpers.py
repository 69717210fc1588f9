"""What the file-drop integration tests share: manifest and quarantine queries and assertions.
The ``landing`` fixture (a landing folder per test) is in tests/conftest.py."""
from __future__ import annotations

from baselib.catalog import Resource


def deliveries(dbs, resource_code: str) -> dict[str, dict]:
    """file name -> its ops.file_delivery row (latest version of that name)."""
    rows = dbs.query(
        "SELECT path, delivery_id, status, reason, rejected_path, rows_read, rows_superseded, rows_inserted, "
        "rows_updated, rows_unchanged, rows_quarantined, encoding, attempts, load_id FROM ops.file_delivery "
        "WHERE resource_code = %s ORDER BY delivery_id", (resource_code,))
    names = ["path", "delivery_id", "status", "reason", "rejected_path", "rows_read", "rows_superseded",
             "rows_inserted", "rows_updated", "rows_unchanged", "rows_quarantined", "encoding", "attempts", "load_id"]
    return {row[0].rsplit("/", 1)[-1]: dict(zip(names, row)) for row in rows}


def quarantine_reasons(dbs, resource_code: str) -> dict[str, str]:
    """record_key -> reason of the open quarantine entries."""
    return dict(dbs.query("SELECT record_key, reason FROM ops.quarantine WHERE resource_code = %s AND status = 'open'",
                          (resource_code,)))


def assert_defects_quarantined(dbs, resource_code: str, defects: dict[str, list], reason_for: dict[str, str]) -> None:
    """Every injected defect (kind -> record keys, as tuples or strings) is in quarantine with the
    reason its kind should give."""
    reasons = quarantine_reasons(dbs, resource_code)
    for kind, keys in defects.items():
        assert keys, kind
        for key in keys:
            record_key = key if isinstance(key, str) else "/".join(key)
            assert reason_for[kind] in reasons.get(record_key, ""), (kind, record_key, reasons.get(record_key))


def assert_deliveries_accounted(dbs, resource_code: str) -> None:
    for name, d in deliveries(dbs, resource_code).items():
        if d["status"] == "loaded":
            assert d["rows_read"] == (d["rows_superseded"] + d["rows_inserted"] + d["rows_updated"]
                                      + d["rows_unchanged"] + d["rows_quarantined"]), (name, d)


def settling_at_once(resource: Resource) -> Resource:
    """The entry with ``min_file_age_seconds: 0``: for stores whose modification time a test
    cannot set (an object's upload time in S3)."""
    source = resource.pipeline.source.model_copy(update={"min_file_age_seconds": 0})
    return resource.model_copy(update={"pipeline": resource.pipeline.model_copy(update={"source": source})})
