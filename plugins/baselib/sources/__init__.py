"""Sources: where a resource's rows come from. ``for_resource`` picks the class by ``source.kind``."""
from __future__ import annotations

from baselib.catalog.model import Resource


def for_resource(resource: Resource, load_id: int | None = None, mode: str = "auto"):
    """The source for ``resource``. File drops need the load (their manifest records it) and
    reprocess every file in the landing folder when ``mode`` is ``full``; SQL models (themes) need
    it too, and recompute every key unless ``mode`` lets them refresh only the affected ones."""
    kind = resource.pipeline.source.kind
    if kind == "postgres":
        from baselib.sources.postgres_table import PostgresTableSource

        return PostgresTableSource(resource)
    if kind == "http_api":
        from baselib.sources.http_api import HttpApiSource

        return HttpApiSource(resource)
    if kind == "file_drop":
        from baselib.sources.file_drop.source import FileDropSource

        if load_id is None:
            raise ValueError(f"{resource.code}: a file-drop extract needs the load id for its delivery manifest")
        return FileDropSource(resource, load_id, reprocess=mode == "full")
    if kind == "sql_model":
        from baselib.sources.sql_model import SqlModelSource

        if load_id is None:
            raise ValueError(f"{resource.code}: a SQL-model extract needs the load id (its refresh records the inputs)")
        return SqlModelSource(resource, load_id, mode=mode)
    raise ValueError(f"{resource.code}: no source implementation for kind {kind!r}")
