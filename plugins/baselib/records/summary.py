"""The run summary ``make demo`` prints: per resource, the latest run's counts and where to look;
then the themes' row counts, the department resources' cross-library match rates and the
pension-after-death count; then, once consumers are declared, how each consumer logs in and what
it can read (baselib.sharing.grants).

Where a consumer's password is: the variable its declaration names
(``Consumer.password_variable``); when ``BASELIB_CONSUMER_PASSWORDS_FILE`` names a file of
``NAME=value`` lines that holds it (``make demo`` keeps generated passwords in
``$AIRFLOW_HOME/consumers.env``), that file is named too. Passwords are never printed."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from psycopg2 import sql

from baselib.catalog import Resource
from baselib.errors import SharingError
from baselib.warehouse import schema

DEPARTMENT_CLASS = "3"  # 部门信息资源
PENSION_AFTER_DEATH = "theme_social_security.pension_after_death"
PASSWORDS_FILE_VARIABLE = "BASELIB_CONSUMER_PASSWORDS_FILE"

QUERY = """
SELECT r.load_id, r.run_id, r.mode, r.status, r.rows_extracted, r.rows_inserted, r.rows_updated,
       r.rows_unchanged, r.rows_quarantined, r.rows_deleted, r.rows_warned, r.report_path,
       r.data_interval_start, r.data_interval_end, m.quality_pass_rate, m.within_update_cycle,
       r.error, r.cross_checks, r.files_new, r.files_unchanged, r.files_rejected
FROM ops.load_run r LEFT JOIN evaluation.sync_metrics m USING (load_id)
WHERE r.resource_code = %s AND r.run_id NOT LIKE 'simulated\_\_%%' ORDER BY r.load_id DESC LIMIT 1
"""
SIMULATED = "simulated\\_\\_%"   # run ids of baselib_simulators.history (LIKE pattern)


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
        cur.execute("SELECT run_id, status FROM ops.load_run WHERE resource_code = %s AND run_id NOT LIKE %s "
                    "ORDER BY load_id DESC LIMIT 1", (resource.code, SIMULATED))
        run = cur.fetchone()
        rows = _current_rows(cur, resource)
        lines.append(f"  theme {resource.pipeline.target.qualified}: "
                     f"{'not built yet' if rows is None else f'{rows} current rows'}"
                     + (f" (last run {run[0]}, {run[1]})" if run else ""))
    for resource in (r for r in resources if r.classification.class_code == DEPARTMENT_CLASS):
        cur.execute("SELECT cross_checks FROM ops.load_run WHERE resource_code = %s AND status = 'success' "
                    "AND run_id NOT LIKE %s ORDER BY load_id DESC LIMIT 1", (resource.code, SIMULATED))
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
    lines += _sharing_section(conn, warehouse_uri)
    lines += _quality_section(conn, resources)
    lines += ["", f"Connect: {psql_command(warehouse_uri)}", ""]
    return "\n".join(lines)


def _relation_exists(cur, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s)", (name,))
    return cur.fetchone()[0] is not None


def _quality_section(conn, resources: list[Resource]) -> list[str]:
    """Where quality officers and the evaluation office look: the trend pages, the returns workbooks,
    the publications to the evaluation system and the yearly reports. Empty before any of them exists."""
    from baselib.settings import REPORTS_DIR

    lines = ["", "Quality and evaluation: where to look", "=" * 37]
    trends = [REPORTS_DIR / r.dag_id / "index.html" for r in resources]
    trends = [t for t in trends if t.is_file()]
    if trends:
        lines.append(f"  quality report of each load: reports/<dag_id>/load-<id>/index.html (above, per resource); "
                     f"trend pages across runs: {len(trends)}, e.g. {trends[0]}")
    with conn.cursor() as cur:
        if _relation_exists(cur, "ops.quality_return"):
            cur.execute("SELECT provider_code, uri, quarantine_entries, objections, "
                        "to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), run_id "
                        "FROM ops.quality_return ORDER BY return_id DESC LIMIT 20")
            returned = cur.fetchall()
            exports = sorted((REPORTS_DIR / "returns").glob("*.xlsx"))
            if exports:
                lines.append(f"  returns workbook (quality export): {exports[-1]}")
            if returned:
                lines.append("  returns to providers (latest first; a run with nothing new to send writes none):")
            for provider, uri, entries, objections, at, run_id in returned:
                lines.append(f"    {at} ({run_id}) to {provider}: {entries} rejected rows, {objections} objections "
                             f"-> {uri}")
        if _relation_exists(cur, "evaluation.publication"):
            cur.execute("SELECT period_kind, period, status, count(*), max(attempts) FROM evaluation.publication "
                        "GROUP BY 1, 2, 3 ORDER BY 2, 1, 3")
            for kind, period, status, count, attempts in cur.fetchall():
                lines.append(f"  evaluation system: {kind} {period}: {count} departments {status} "
                             f"(at most {attempts} attempt{'s' if attempts != 1 else ''} each)")
            cur.execute("SELECT count(*) FROM evaluation.publish_attempt WHERE status <> 'published'")
            retried = cur.fetchone()[0]
            if retried:
                lines.append(f"  failed or retried publish attempts: {retried} "
                             "(python -m baselib.cli evaluation publications; evaluation.publish_attempt)")
    for year_dir in sorted((REPORTS_DIR / "yearly").glob("*")):
        pdfs = sorted(year_dir.glob("*.pdf"))
        if pdfs:
            platform = year_dir / "platform.pdf"
            lines.append(f"  yearly sharing report {year_dir.name}: {len(pdfs)} PDFs and their HTML in {year_dir} "
                         f"(platform: {platform if platform.is_file() else pdfs[0]})")
    if len(lines) == 3:
        return []
    lines.append("  More: python -m baselib.cli quality scores --provider <code> | evaluation show --period-kind year "
                 "--period <year>")
    return lines


def consumer_psql_command(uri: str, role: str) -> str:
    """``psql "host=… port=… dbname=… user=<role>"`` for the warehouse at ``uri`` (no password:
    the consumer gives its own, e.g. in PGPASSWORD)."""
    from psycopg2.extensions import parse_dsn

    params = parse_dsn(uri)
    parts = [f"{key}={params[key]}" for key in ("host", "port", "dbname") if params.get(key)]
    return f'psql "{" ".join([*parts, f"user={role}"])}"'


def password_enforced(uri: str, role: str) -> bool | None:
    """Whether the server at ``uri`` checks ``role``'s password: a login with a random wrong
    password is refused (True) or let in (False: pg_hba.conf trusts the connection). None when
    the answer is something else (the role cannot log in at all, the server is unreachable)."""
    import psycopg2

    try:
        conn = psycopg2.connect(uri, user=role, password="wrong-" + secrets.token_urlsafe(12), connect_timeout=10)
    except psycopg2.OperationalError as exc:
        return True if "password authentication failed" in str(exc) else None
    conn.close()
    return False


def _auth_note(uri: str, role: str) -> list[str]:
    from psycopg2.extensions import parse_dsn

    host = parse_dsn(uri).get("host") or ""
    where = (f"over the Unix socket in {host} (no TCP port is open)" if host.startswith("/")
             else f"over TCP to {host or 'localhost'}")
    enforced = password_enforced(uri, role)
    if enforced is True:
        return [f"  Passwords: checked for logins {where}; a wrong password is refused."]
    if enforced is False:
        why = ("the embedded server of `make demo` is initialised with --auth=trust" if host.startswith("/")
               else "its pg_hba.conf says trust for them")
        return [f"  Passwords: NOT checked for logins {where}:",
                f"  {why}, so whoever can reach the server logs in as any role without a password.",
                "  The roles, views and grants still decide what each consumer reads. On a deployment server,",
                "  pg_hba.conf must say scram-sha-256 for the consumer roles (one line for +sharing_consumer);",
                "  then the passwords above are checked."]
    return [f"  Passwords: whether logins {where} are checked could not be told (a probe login as {role} failed)."]


def _sharing_section(conn, warehouse_uri: str) -> list[str]:
    """Per declared consumer: what it can read (baselib.sharing.grants.format_access) and how it
    logs in; whether the server checks passwords. Empty before any consumer exists."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('sharing.consumer')")
        if cur.fetchone()[0] is None:
            return []
    from baselib.sharing import consumers as declared_consumers
    from baselib.sharing import grants

    accesses = [a for a in grants.describe_access(conn) if a.active]
    if not accesses:
        return []
    try:
        variables = {c.code: c.password_variable for c in declared_consumers.load()}
    except SharingError as exc:  # a broken consumers file: the summary still shows the roles as they are
        variables = {}
        note = [f"  (consumers file unreadable: {exc})"]
    else:
        note = []
    kept = Path(os.environ[PASSWORDS_FILE_VARIABLE]) if os.environ.get(PASSWORDS_FILE_VARIABLE) else None
    kept_names = ({line.partition("=")[0].strip() for line in kept.read_text(encoding="utf-8").splitlines()}
                  if kept is not None and kept.is_file() else set())
    lines = ["", "Sharing: what each consumer can read and how it logs in", "=" * 56, *note]
    for access in accesses:
        variable = variables.get(access.consumer_code)
        if variable is None:  # the consumers file is unreadable: its declaration says which variable
            source = "the variable its declaration in the consumers file names (password_env)"
        elif variable in kept_names:
            source = f"{variable} in {kept}"
        else:
            source = f"the environment variable {variable}"
        lines += [grants.format_access([access]),
                  f"  log in: {consumer_psql_command(warehouse_uri, access.role_name)}",
                  f"          password: {source}"]
    lines += _auth_note(warehouse_uri, next((a for a in accesses if a.can_login), accesses[0]).role_name)
    lines.append("  More: python -m baselib.cli sharing access | list | show <id>; "
                 "as a consumer: SELECT * FROM sharing.my_application;")
    return lines
