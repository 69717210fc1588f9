-- Providers with something to send back (数据回退): open quarantine entries of their resources
-- (provider from catalog.resource; not those of the theme resources theme_codes, which are never
-- returned), or pending objections (open/confirmed) not yet in any return.
SELECT r.provider_code
FROM ops.quarantine AS q
JOIN catalog.resource AS r ON r.resource_code = q.resource_code
WHERE q.status = 'open' AND NOT (q.resource_code = ANY(%(theme_codes)s::text[]))
  AND NOT EXISTS (SELECT 1 FROM ops.theme_input_load AS t WHERE t.theme_code = q.resource_code)
UNION
SELECT o.provider_code
FROM sharing.objection AS o
WHERE o.status IN ('open', 'confirmed') AND o.return_id IS NULL
ORDER BY 1;
