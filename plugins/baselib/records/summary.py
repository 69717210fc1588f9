"""The run summary ``make demo`` prints: per resource, the latest run's counts and where to look;
then the themes' row counts, the department resources' cross-library match rates and the
pension-after-death count."""
from __future__ import annotations

from urllib.parse import urlsplit

from psycopg2 import sql

from baselib.catalog import Resource
from baselib.warehouse import schema

DEPARTMENT_CLASS = "3"  # 部门信息资源
PENSION_AFTER_DEATH = "theme_social_security.pension_after_death"

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


def _current_rows(cur, resource: Resource) -> int | None:
    """Rows of the resource's consumer view, or None when it does not exist yet."""
    view = schema.current_view(resource)
    cur.execute("SELECT to_regclass(%s)", (view,))
    if cur.fetchone()[0] is None:
        return None
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*view.split(".", 1))))
    return cur.fetchone()[0]


def _themes_section(cur, resources: list[Resource]) -> list[str]:
    lines = ["", "Themes and cross-checks", "=" * 23]
    for resource in (r for r in resources if r.is_theme):
        cur.execute("SELECT run_id, status FROM ops.load_run WHERE resource_code = %s ORDER BY load_id DESC LIMIT 1",
                    (resource.code,))
        run = cur.fetchone()
        rows = _current_rows(cur, resource)
        lines.append(f"  theme {resource.pipeline.target.qualified}: "
                     f"{'not built yet' if rows is None else f'{rows} current rows'}"
                     + (f" (last run {run[0]}, {run[1]})" if run else ""))
    for resource in (r for r in resources if r.classification.class_code == DEPARTMENT_CLASS):
        cur.execute("SELECT cross_checks FROM ops.load_run WHERE resource_code = %s AND status = 'success' "
                    "ORDER BY load_id DESC LIMIT 1", (resource.code,))
        row = cur.fetchone()
        for name, check in ((row[0] if row else None) or {}).items():
            lines.append(f"  match rate {resource.pipeline.target.qualified} {name}: {check['match_rate']} "
                         f"({check['matched']}/{check['checked']})")
    pension = next((r for r in resources if r.pipeline.target.qualified == PENSION_AFTER_DEATH), None)
    if pension is not None:
        view = schema.current_view(pension)
        if _current_rows(cur, pension) is None:
            lines.append("  pension payments after death: not built yet")
        else:
            cur.execute(sql.SQL("SELECT count(*), count(DISTINCT citizen_id) FROM {}").format(
                sql.Identifier(*view.split(".", 1))))
            payments, people = cur.fetchone()
            lines.append(f"  pension payments after death: {payments} (to {people} people)  (SELECT * FROM {view};)")
    return lines


def render(conn, resources: list[Resource], warehouse_uri: str) -> str:
    lines = ["", "Run summary", "=" * 11]
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
        if any(r.is_theme for r in resources):
            lines += _themes_section(cur, resources)
    lines += ["", f"Connect: {psql_command(warehouse_uri)}", ""]
    return "\n".join(lines)
