-- Per resource, the last load by %(as_of)s that brought new data (rows inserted, updated or deleted).
-- Parameters: resource_codes (text[]), as_of (aware timestamp).
SELECT resource_code, max(loaded_at)
FROM evaluation.sync_metrics
WHERE resource_code = ANY(%(resource_codes)s) AND loaded_at <= %(as_of)s
  AND rows_inserted + rows_updated + rows_deleted > 0
GROUP BY resource_code;
