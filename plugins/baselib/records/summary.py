"""The run summary ``make demo`` prints: per resource, the latest run's counts and where to look."""
from __future__ import annotations

from urllib.parse import urlsplit

from baselib.catalog import Resource
from baselib.warehouse import schema

QUERY = """
SELECT r.load_id, r.run_id, r.mode, r.status, r.rows_extracted, r.rows_inserted, r.rows_updated,
       r.rows_unchanged, r.rows_quarantined, r.rows_deleted, r.rows_warned, r.report_path,
       r.data_interval_start, r.data_interval_end, m.quality_pass_rate, m.within_update_cycle,
       r.error, r.cross_checks, r.files_new, r.files_unchanged, r.files_rejected
FROM ops.load_run r LEFT JOIN evaluation.sync_metrics m USING (load_id)
WHERE r.resource_code = %s ORDER BY r.load_id DESC LIMIT 1
"""


def psql_command(uri: str) -> str:
    """``psql "<uri>"`` with any password masked (pass it via PGPASSWORD)."""
    parts = urlsplit(uri)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    return f'psql "{parts.geturl()}"'


def render(conn, resources: list[Resource], warehouse_uri: str) -> str:
    lines = ["", "Base-library run summary", "=" * 24]
    with conn.cursor() as cur:
        for resource in resources:
            cur.execute(QUERY, (resource.code,))
            row = cur.fetchone()
            lines.append(f"{resource.name} [{resource.code}] -> {resource.pipeline.target.qualified}")
            if row is None:
                lines.append("  no runs yet")
                continue
            r = dict(zip([d.name for d in cur.description], row))
            lines += [
                f"  load {r['load_id']}  {r['mode']}  status={r['status']}  interval={r['data_interval_start']} .. {r['data_interval_end']}",
                f"  extracted={r['rows_extracted']}  inserted={r['rows_inserted']}  updated={r['rows_updated']}  "
                f"unchanged={r['rows_unchanged']}  quarantined={r['rows_quarantined']}  deleted={r['rows_deleted']}  "
                f"warned={r['rows_warned']}",
                f"  quality pass rate={r['quality_pass_rate']}  within update cycle={r['within_update_cycle']}",
                f"  quality report: {r['report_path']}",
                f"  rejected rows:  SELECT record_key, reason FROM ops.quarantine WHERE last_load_id = {r['load_id']};",
                f"  current rows:   SELECT * FROM {schema.current_view(resource)} LIMIT 10;",
            ]
            if r["files_new"] is not None:
                lines.append(f"  files: new={r['files_new']}  already loaded={r['files_unchanged']}  "
                             f"rejected={r['files_rejected']}")
                lines.append(f"  deliveries:     SELECT path, status, reason, rows_read FROM ops.file_delivery "
                             f"WHERE load_id = {r['load_id']};")
            for name, check in (r["cross_checks"] or {}).items():
                lines.append(f"  cross-library {name}: {check['matched']}/{check['checked']} matched "
                             f"(rate {check['match_rate']}){'' if check['reference_exists'] else ' — reference not loaded'}")
            if r["error"]:
                lines.append(f"  error: {r['error']}")
    lines += ["", f"Connect: {psql_command(warehouse_uri)}", ""]
    return "\n".join(lines)
