"""``python -m baselib.cli quality scores``: dimension scores and grades as a table (Chinese labels
with English).

* ``--resource X`` (catalog code or DAG id): its latest ``--runs`` scored runs, newest data day
  first (then newest load), one line per run (load, data day, status, the six dimensions, overall,
  grade). The data day is the local date (Asia/Shanghai) of the run's data interval start, else of
  its logical date, else of the moment it started. Scores are percentages, ``—`` when a dimension
  was not judged.
* ``--provider P --period-kind month|quarter|year [--period LABEL]``: the provider's scores over the
  period (:func:`baselib.quality.scoring.provider_scores`; default: the latest period of that kind
  that has ended, :func:`baselib.evaluation.periods.last_complete`, as the ``evaluation`` commands
  do), one line per dimension with elements, failures, score and grade.

Bad input (unknown resource or provider, malformed period, ``--runs`` < 1, a broken scoring.yaml,
a warehouse that cannot be reached): ``error: …`` on stderr, exit 1. Nothing is written: on a
fresh warehouse a known provider has no scores yet (every dimension ``—``).
"""
from __future__ import annotations

import sys

from baselib.validation.plan import DIMENSIONS

OVERALL_LABEL = ("综合", "overall")


def _pct(value) -> str:
    return "—" if value is None else f"{float(value) * 100:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    widths = [max(width(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c) + " " * (w - width(str(c))) for c, w in zip(line, widths)).rstrip()
             for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def resource_table(conn, resource, runs: int) -> str:
    """The table of ``resource``'s latest ``runs`` scored runs, newest data day first."""
    from baselib.warehouse import sqlfiles

    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_resource_runs"), {"resource_code": resource.code, "runs": runs})
        rows = cur.fetchall()
    header = ["批次/load", "数据日/data day", "状态/status",
              *[f"{zh}/{en}" for zh, en in DIMENSIONS.values()], "综合/overall", "等级/grade"]
    body = [[str(load_id), str(day), status,
             *[_pct((scores.get(d) or {}).get("score")) for d in DIMENSIONS],
             _pct((scores.get("overall") or {}).get("score")), (scores.get("overall") or {}).get("grade") or "—"]
            for load_id, _run_id, status, day, scores in rows]
    title = f"{resource.name} ({resource.code}) · 提供方/provider: {resource.provider.name} ({resource.provider.code})"
    return title + "\n" + (_table(header, body) if body else "暂无评分 / no scored runs yet")


def known_providers(conn) -> dict[str, str]:
    """Provider code -> name, from the catalog files and the published catalog
    (``catalog.resource``, when the warehouse has it). Reads only."""
    from baselib.catalog import load_catalog
    from baselib.warehouse import sqlfiles

    known: dict[str, str] = {}
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_score_tables"))
        has_catalog, _ = cur.fetchone()
        if has_catalog:
            cur.execute(sqlfiles.text("queries/quality_return_known_providers"))
            known.update(cur.fetchall())
    for resource in load_catalog():
        known.setdefault(resource.provider.code, resource.provider.name)
    return known


def provider_table(conn, provider_code: str, period) -> str:
    """The table of a provider's scores over ``period`` (every dimension ``—`` when the warehouse
    has no scores yet)."""
    from baselib.quality import scoring
    from baselib.warehouse import sqlfiles

    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_score_tables"))
        _, has_scores = cur.fetchone()
    scores = (scoring.provider_scores(conn, provider_code, period) if has_scores
              else scoring.empty_scores())
    header = ["维度/dimension", "批次/loads", "检查/checks", "判定/elements", "未通过/failed", "评分/score", "等级/grade"]
    body = [[f"{zh}/{en}", str(scores[d]["loads"]), str(scores[d]["checks"]), str(scores[d]["elements"]),
             str(scores[d]["failed"]), _pct(scores[d]["score"]), scores[d]["grade"] or "—"]
            for d, (zh, en) in DIMENSIONS.items()]
    body.append([f"{OVERALL_LABEL[0]}/{OVERALL_LABEL[1]}", "", "", "", "", _pct(scores["overall"]["score"]),
                 scores["overall"]["grade"] or "—"])
    return f"提供方/provider {provider_code} · {period.kind} {period.label}\n" + _table(header, body)


def command_scores(args) -> None:
    """The ``quality scores`` handler (see the module docstring)."""
    import datetime as dt

    from baselib.errors import CatalogError
    from baselib.evaluation import periods
    from baselib.security import redaction
    from baselib.warehouse import connections

    if args.resource:
        if args.runs < 1:
            sys.exit("error: --runs must be at least 1")
        from baselib.catalog.loader import find

        try:
            resource = find(args.resource)
        except CatalogError as exc:
            sys.exit(f"error: {redaction.redact(str(exc))}")
        with connections.transaction() as conn:
            print(resource_table(conn, resource, args.runs))
        return
    try:
        period = (periods.parse(args.period_kind, args.period) if args.period
                  else periods.last_complete(args.period_kind, dt.datetime.now(dt.timezone.utc)))
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    from baselib.quality import scoring

    try:
        scoring.load_config()
    except CatalogError as exc:
        sys.exit(f"error: {redaction.redact(str(exc))}")
    try:
        conn = connections.connect("warehouse")
    except Exception as exc:  # noqa: BLE001 - a connection problem is the user's to fix
        sys.exit(f"error: cannot reach the warehouse: {redaction.describe(exc)}")
    try:
        try:
            known = known_providers(conn)
        except CatalogError as exc:
            sys.exit(f"error: {redaction.redact(str(exc))}")
        if args.provider not in known:
            listing = ", ".join(f"{code} ({name})" for code, name in sorted(known.items())) or "none"
            sys.exit(f"error: unknown provider {args.provider!r}: known provider codes are {listing}")
        text = provider_table(conn, args.provider, period)
        conn.rollback()
    finally:
        conn.close()
    print(text)
