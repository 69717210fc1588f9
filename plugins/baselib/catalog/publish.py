"""Publish catalog entries into ``catalog.resource`` and ``catalog.resource_item``."""
from __future__ import annotations

import hashlib
import json

from baselib.catalog.model import Resource
from baselib.warehouse import sqlfiles


def entry_hash(resource: Resource) -> str:
    return hashlib.md5(resource.model_dump_json(by_alias=True).encode()).hexdigest()


def publish(conn, resource: Resource) -> bool:
    """Upsert one entry. Returns True when something changed. Caller commits."""
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
        "related_codes": list(resource.related_codes),
        "target_table": resource.pipeline.target.qualified,
        "entry_hash": entry_hash(resource),
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
