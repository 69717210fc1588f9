-- Upsert one catalog entry. Unchanged entries (same entry_hash) are not rewritten.
INSERT INTO catalog.resource AS r (
    resource_code, resource_name, classification_code, provider_name, provider_code, summary,
    resource_format, sharing_type, sharing_condition, sharing_method, open_to_public, open_condition,
    update_cycle, publish_date, related_codes, target_table, entry_hash, updated_at)
VALUES (
    %(resource_code)s, %(resource_name)s, %(classification_code)s, %(provider_name)s, %(provider_code)s,
    %(summary)s, %(resource_format)s, %(sharing_type)s, %(sharing_condition)s, %(sharing_method)s,
    %(open_to_public)s, %(open_condition)s, %(update_cycle)s, %(publish_date)s, %(related_codes)s,
    %(target_table)s, %(entry_hash)s, now())
ON CONFLICT (resource_code) DO UPDATE SET
    resource_name = excluded.resource_name,
    classification_code = excluded.classification_code,
    provider_name = excluded.provider_name,
    provider_code = excluded.provider_code,
    summary = excluded.summary,
    resource_format = excluded.resource_format,
    sharing_type = excluded.sharing_type,
    sharing_condition = excluded.sharing_condition,
    sharing_method = excluded.sharing_method,
    open_to_public = excluded.open_to_public,
    open_condition = excluded.open_condition,
    update_cycle = excluded.update_cycle,
    publish_date = excluded.publish_date,
    related_codes = excluded.related_codes,
    target_table = excluded.target_table,
    entry_hash = excluded.entry_hash,
    updated_at = now()
WHERE r.entry_hash IS DISTINCT FROM excluded.entry_hash
RETURNING resource_code;
