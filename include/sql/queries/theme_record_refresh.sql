-- Record a refresh in the theme's load transaction: the input loads it consumed and its as-of
-- instant and fingerprint.
INSERT INTO ops.theme_input_load (theme_code, input_load_id, input_code, consumed_by_load_id)
SELECT %(theme_code)s, l.load_id, l.code, %(load_id)s
FROM unnest(%(input_load_ids)s::bigint[], %(input_codes)s::text[]) AS l (load_id, code)
ON CONFLICT (theme_code, input_load_id) DO NOTHING;

INSERT INTO ops.theme_refresh AS r (theme_code, as_of, fingerprint, load_id, mode, keys, refreshed_at)
VALUES (%(theme_code)s, %(as_of)s, %(fingerprint)s, %(load_id)s, %(mode)s, %(keys)s, now())
ON CONFLICT (theme_code) DO UPDATE SET
    as_of = excluded.as_of, fingerprint = excluded.fingerprint, load_id = excluded.load_id,
    mode = excluded.mode, keys = excluded.keys, refreshed_at = excluded.refreshed_at
