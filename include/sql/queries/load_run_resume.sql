-- A retried validate or load step takes its run back from 'failed' to 'running' before it reads
-- the staging parts, so staging housekeeping (which keeps a failed run's folder only for the retry
-- back-off) leaves them alone while the retry works; the row lock waits for a sweep deleting them.
UPDATE ops.load_run
SET status = 'running'
WHERE load_id = %(load_id)s AND status = 'failed'
