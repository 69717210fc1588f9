-- Staging housekeeping (DAG staging_housekeeping, baselib.records.housekeeping): the staging folders
-- (BASELIB_STAGING_URL/<dag_id>/load-<id>) of failed or blocked runs, of abandoned runs (left running,
-- validated or loaded by a task that died, idle past the retention and 2 days), and orphan folders
-- with no run, removed once older than the retention period (BASELIB_STAGING_RETENTION_DAYS).
-- ops.load_run.staging_removed_at (when housekeeping removed the run's folder) is added in 020_ops.sql,
-- before 060_theme_refresh.sql makes ops.committed_load as SELECT * FROM ops.load_run.

-- One row per folder removed: what, why, how much.
CREATE TABLE IF NOT EXISTS ops.staging_removal (
    removal_id   bigserial PRIMARY KEY,
    removed_at   timestamptz NOT NULL DEFAULT now(),
    load_id      bigint REFERENCES ops.load_run (load_id),   -- NULL for an orphan folder
    dag_id       text NOT NULL,
    uri          text NOT NULL,                               -- the folder removed
    reason       text NOT NULL CHECK (reason IN ('failed', 'blocked', 'success', 'abandoned', 'orphan')),
    files        bigint NOT NULL,
    bytes        bigint NOT NULL,
    newest_file  timestamptz                                  -- newest modification time seen in the folder
);
CREATE INDEX IF NOT EXISTS staging_removal_removed_at ON ops.staging_removal (removed_at);
