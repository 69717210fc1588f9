-- In the theme's load transaction, after ops.theme_refresh: every pending key was recomputed by
-- this refresh (an incremental one adds them to its affected keys, a full one recomputes all), so
-- the theme's set is emptied, then filled with the refresh keys of the rows this load
-- quarantined (ops.quarantine rows whose last load is this one; the items are in source_row).
DELETE FROM ops.theme_pending_key WHERE theme_code = %(theme_code)s;

INSERT INTO ops.theme_pending_key (theme_code, refresh_key, load_id)
SELECT DISTINCT %(theme_code)s, k.refresh_key, %(load_id)s
FROM ops.quarantine AS q
CROSS JOIN LATERAL (SELECT array_agg(q.source_row ->> r.name ORDER BY r.n) AS refresh_key
                    FROM unnest(%(refresh_key)s::text[]) WITH ORDINALITY AS r (name, n)) AS k
WHERE q.resource_code = %(theme_code)s
  AND q.last_load_id = %(load_id)s
  AND array_position(k.refresh_key, NULL) IS NULL
ON CONFLICT (theme_code, refresh_key) DO NOTHING
