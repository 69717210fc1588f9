-- The history simulator's runs (baselib_simulators.history), many per statement: one row per resource and
-- scheduled data day, recorded as the engine records a finished run. Rerunning replaces (the engine's own
-- key: resource_code, run_id). Used with psycopg2.extras.execute_values (one VALUES placeholder).
INSERT INTO ops.load_run AS r
    (resource_code, dag_id, run_id, logical_date, data_interval_start, data_interval_end, mode, status,
     started_at, finished_at, rows_extracted, rows_inserted, rows_updated, rows_unchanged, rows_quarantined,
     rows_deleted, rows_warned, files_new, files_unchanged, files_rejected, items_delivered)
VALUES %s
ON CONFLICT (resource_code, run_id) DO UPDATE SET
    dag_id = excluded.dag_id, logical_date = excluded.logical_date,
    data_interval_start = excluded.data_interval_start, data_interval_end = excluded.data_interval_end,
    mode = excluded.mode, status = excluded.status, started_at = excluded.started_at,
    finished_at = excluded.finished_at, rows_extracted = excluded.rows_extracted,
    rows_inserted = excluded.rows_inserted, rows_updated = excluded.rows_updated,
    rows_unchanged = excluded.rows_unchanged, rows_quarantined = excluded.rows_quarantined,
    rows_deleted = excluded.rows_deleted, rows_warned = excluded.rows_warned, files_new = excluded.files_new,
    files_unchanged = excluded.files_unchanged, files_rejected = excluded.files_rejected,
    items_delivered = excluded.items_delivered,
    error = NULL, blocking_checks = NULL
RETURNING load_id, resource_code, run_id;
