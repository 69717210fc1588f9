-- One row per resource per DAG run. A retried task reuses its run's row.
INSERT INTO ops.load_run AS r
    (resource_code, dag_id, run_id, logical_date, data_interval_start, data_interval_end, mode, status)
VALUES (%(resource_code)s, %(dag_id)s, %(run_id)s, %(logical_date)s, %(data_interval_start)s,
        %(data_interval_end)s, %(mode)s, 'running')
ON CONFLICT (resource_code, run_id) DO UPDATE SET
    mode = excluded.mode, status = 'running', error = NULL, blocking_checks = NULL, started_at = now(),
    finished_at = NULL
RETURNING load_id;
