-- The watermark only moves forward: a backfill of an old interval never lowers it.
INSERT INTO ops.watermark AS w (resource_code, column_name, value, load_id)
VALUES (%(resource_code)s, %(column_name)s, %(value)s, %(load_id)s)
ON CONFLICT (resource_code) DO UPDATE
    SET value = excluded.value, load_id = excluded.load_id, column_name = excluded.column_name, updated_at = now()
    WHERE excluded.value > w.value;
