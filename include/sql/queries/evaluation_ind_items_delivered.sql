-- What the given loads delivered (catalog completeness): per load, its resource and items_delivered
-- ({item: non-null values read}; NULL: recorded before ops.load_run.items_delivered existed).
-- Parameters: load_ids (bigint[]).
SELECT load_id, resource_code, items_delivered
FROM ops.load_run
WHERE load_id = ANY(%(load_ids)s::bigint[])
ORDER BY load_id;
