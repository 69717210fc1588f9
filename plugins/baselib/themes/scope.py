"""Which live keys a run may flag deleted (close with a tombstone).

* a base or department resource: every key, in a ``reconcile`` run only (a full snapshot of the
  source); nothing otherwise;
* a theme: its model recomputed is the truth for the keys it recomputed. A ``full`` or
  ``reconcile`` refresh recomputes every key, so every key the model no longer returns is flagged
  deleted; an ``incremental`` refresh recomputes the affected refresh keys (the extract's scope
  part), so only open rows whose refresh key is in that scope can be flagged.

The guards against a source snapshot cut short (``max_deleted_share``, ``empty_extract``,
``row_count_collapse``: :func:`baselib.validation.executor.table_checks`) exist because a
department's full extract may end early. A theme's extract is one query in one REPEATABLE READ
snapshot of the warehouse; it cannot end early, so:

* an incremental refresh's deletions are exact: the model, recomputed for the scope's keys, no
  longer returns them. They are not counted against ``max_deleted_share`` (a corrected death that
  removes 8 of a 10-row exception list loads);
* a ``full`` or ``reconcile`` refresh (first run, changed model, or asked for) keeps all three
  guards against the theme's live rows: a model change that deletes most of the theme is more
  likely a mistake in the model than a fact;
* ``pipeline.allow_empty: true`` (any resource) says an empty result is valid: ``empty_extract``
  and ``row_count_collapse`` are off for it; ``max_deleted_share`` still applies where it did.
"""
from __future__ import annotations

from baselib.catalog.model import Resource

ALL, SCOPE = "all", "scope"


def deletions(resource: Resource, mode: str) -> str | None:
    """``"all"``: reconcile every live key; ``"scope"``: only keys in the extract's scope parts;
    None: flag nothing deleted."""
    if resource.is_theme:
        return SCOPE if mode == "incremental" else ALL
    return ALL if mode == "reconcile" else None


def scope_parts(extracted: dict) -> list[str] | None:
    """The scope parts of an extract dict (incremental theme refreshes), else None."""
    theme = extracted.get("theme") or {}
    return theme.get("scope_parts") if extracted.get("mode") == "incremental" else None
