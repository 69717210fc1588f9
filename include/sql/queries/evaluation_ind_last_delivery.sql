-- Per resource, the provider's last delivery by %(as_of)s: the latest judged_at (the instant the load's
-- data was due: its data interval end, or when it finished if earlier — never the platform's load time,
-- so a backfill or a rerun of an old data day delivers at that day) of a load that brought new data
-- (rows inserted, updated or deleted). judged_at is NULL only for rows recorded before it existed
-- (then loaded_at). Parameters: resource_codes (text[]), as_of (aware timestamp).
SELECT resource_code, max(coalesce(judged_at, loaded_at))
FROM evaluation.sync_metrics
WHERE resource_code = ANY(%(resource_codes)s) AND coalesce(judged_at, loaded_at) <= %(as_of)s
  AND rows_inserted + rows_updated + rows_deleted > 0
GROUP BY resource_code;
