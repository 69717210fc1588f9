"""The sharing audit trail: every role, membership, view and privilege change the engine makes
for sharing is a row of ``sharing.grant_change`` (include/sql/ddl/070_sharing.sql)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GrantChange:
    """One change. ``action``: create_role, enable_login, disable_login, set_password, grant,
    revoke, create_view, replace_view, drop_view, drop_schema, …; ``object``: the relation,
    schema or role; ``reason``: why, in words an auditor can read."""

    role_name: str
    action: str
    object: str
    reason: str
    consumer_code: str | None = None
    detail: str | None = None
    application_id: int | None = None


def record(cur, change: GrantChange, run_id: str | None = None) -> None:
    """Insert ``change`` into ``sharing.grant_change`` in the caller's transaction."""
    cur.execute(
        "INSERT INTO sharing.grant_change (consumer_code, role_name, action, object, detail, reason, "
        "application_id, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (change.consumer_code, change.role_name, change.action, change.object, change.detail, change.reason,
         change.application_id, run_id),
    )
