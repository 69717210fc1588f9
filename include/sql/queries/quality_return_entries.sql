-- The provider's open quarantine entries (its own resources only), oldest first, with the
-- delivered file of a file drop. Times are timestamptz (the caller shows them in Asia/Shanghai).
-- theme_codes: the catalog's theme resources (sql_model, built by the platform from other
-- providers' data), never returned: they are not a delivery; a theme that ever refreshed
-- (ops.theme_input_load) is left out too, even once it is no longer in the catalog files.
SELECT q.quarantine_id, q.resource_code, r.resource_name, q.record_key, q.reason, q.failed_expectations,
       q.source_ref, d.path AS delivery_path, q.source_row::text AS source_row, q.first_seen_at, q.last_seen_at,
       q.times_seen
FROM ops.quarantine AS q
JOIN catalog.resource AS r ON r.resource_code = q.resource_code
LEFT JOIN ops.file_delivery AS d ON d.delivery_id = q.delivery_id
WHERE q.status = 'open' AND r.provider_code = %(provider_code)s
  AND NOT (q.resource_code = ANY(%(theme_codes)s::text[]))
  AND NOT EXISTS (SELECT 1 FROM ops.theme_input_load AS t WHERE t.theme_code = q.resource_code)
ORDER BY q.resource_code, q.first_seen_at, q.quarantine_id;
