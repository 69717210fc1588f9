"""Sources: where a resource's rows come from. ``for_resource`` picks the class by ``source.kind``."""
from __future__ import annotations

from baselib.catalog.model import Resource


def for_resource(resource: Resource):
    kind = resource.pipeline.source.kind
    if kind == "postgres":
        from baselib.sources.postgres_table import PostgresTableSource

        return PostgresTableSource(resource)
    if kind == "http_api":
        from baselib.sources.http_api import HttpApiSource

        return HttpApiSource(resource)
    raise ValueError(f"{resource.code}: no source implementation for kind {kind!r}")
