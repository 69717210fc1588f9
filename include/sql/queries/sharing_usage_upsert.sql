-- Add one collection's figures to the day's (evaluation.sharing_usage).
INSERT INTO evaluation.sharing_usage AS u
    (usage_date, consumer_code, resource_code, provider_code, queries, rows_read, first_collected_at, last_collected_at)
VALUES (%(usage_date)s, %(consumer_code)s, %(resource_code)s, %(provider_code)s, %(queries)s, %(rows_read)s,
        %(now)s, %(now)s)
ON CONFLICT (usage_date, consumer_code, resource_code) DO UPDATE
SET queries = u.queries + EXCLUDED.queries,
    rows_read = u.rows_read + EXCLUDED.rows_read,
    provider_code = EXCLUDED.provider_code,
    last_collected_at = EXCLUDED.last_collected_at;
