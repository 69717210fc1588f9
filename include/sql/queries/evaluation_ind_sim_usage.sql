-- The history simulator's measured use (evaluation.sharing_usage), upserted per day, consumer and resource.
-- Used with psycopg2.extras.execute_values.
INSERT INTO evaluation.sharing_usage AS u
    (usage_date, consumer_code, resource_code, provider_code, queries, rows_read, first_collected_at, last_collected_at)
VALUES %s
ON CONFLICT (usage_date, consumer_code, resource_code) DO UPDATE SET
    provider_code = excluded.provider_code, queries = excluded.queries, rows_read = excluded.rows_read,
    last_collected_at = excluded.last_collected_at;
