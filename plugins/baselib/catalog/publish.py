"""Publish catalog entries into ``catalog.resource`` and ``catalog.resource_item``."""
from __future__ import annotations

import hashlib
import json

from baselib.catalog.model import Resource
from baselib.warehouse import sqlfiles


def entry_hash(resource: Resource) -> str:
    return hashlib.md5(resource.model_dump_json(by_alias=True).encode()).hexdigest()


def related_codes(conn, resource: Resource) -> list[str]:
    """The entry's 关联资源代码. A theme's are derived from its inputs: the catalog scan derives them
    (:func:`baselib.themes.inputs.with_related_codes`); for a theme entry loaded on its own they
    are the published codes of the entries whose targets it reads. Others list them by hand."""
    if not resource.is_theme or resource.related_codes:
        return list(resource.related_codes)
    tables = [i.table for i in resource.pipeline.source.inputs]
    with conn.cursor() as cur:
        cur.execute("SELECT resource_code FROM catalog.resource WHERE target_table = ANY(%s) ORDER BY 1", (tables,))
        return [code for (code,) in cur.fetchall()]


def publish(conn, resource: Resource) -> bool:
    """Upsert one entry (a theme's related codes derived: :func:`related_codes`). Returns True
    when something changed. Caller commits."""
    codes = related_codes(conn, resource)
    row = {
        "resource_code": resource.code,
        "resource_name": resource.name,
        "classification_code": resource.classification.code,
        "provider_name": resource.provider.name,
        "provider_code": resource.provider.code,
        "summary": resource.summary,
        "resource_format": resource.format.value,
        "sharing_type": resource.sharing.type.value,
        "sharing_condition": resource.sharing.condition,
        "sharing_method": resource.sharing.method.value,
        "open_to_public": resource.open.open_to_public,
        "open_condition": resource.open.condition,
        "update_cycle": resource.update_cycle.value,
        "publish_date": resource.publish_date,
        "related_codes": codes,
        "target_table": resource.pipeline.target.qualified,
        # derived codes (a theme loaded alone) may differ from the entry's: they count as a change too
        "entry_hash": entry_hash(resource) if codes == list(resource.related_codes)
        else hashlib.md5(f"{entry_hash(resource)}|{','.join(codes)}".encode()).hexdigest(),
    }
    items = [
        {
            "position": pos,
            "name": i.name,
            "label": i.label,
            "type": i.type.value,
            "length": i.length,
            "nullable": i.nullable,
            "key": i.key,
            "personal": i.personal,
        }
        for pos, i in enumerate(resource.items, start=1)
    ]
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/catalog_upsert_resource"), row)
        changed = cur.fetchone() is not None
        if changed:
            cur.execute(
                sqlfiles.text("queries/catalog_replace_items"),
                {"resource_code": resource.code, "items": json.dumps(items, ensure_ascii=False)},
            )
    return changed
