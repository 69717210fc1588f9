-- Staging housekeeping (DAG staging_housekeeping, baselib.records.housekeeping): the staging folders
-- (BASELIB_STAGING_URL/<dag_id>/load-<id>) of failed or blocked runs, and orphan folders with no run,
-- removed once older than the retention period (BASELIB_STAGING_RETENTION_DAYS).
-- When the run's staging folder was removed by housekeeping (NULL: never, or removed by its own record step).
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS staging_removed_at timestamptz;

-- One row per folder removed: what, why, how much.
CREATE TABLE IF NOT EXISTS ops.staging_removal (
    removal_id   bigserial PRIMARY KEY,
    removed_at   timestamptz NOT NULL DEFAULT now(),
    load_id      bigint REFERENCES ops.load_run (load_id),   -- NULL for an orphan folder
    dag_id       text NOT NULL,
    uri          text NOT NULL,                               -- the folder removed
    reason       text NOT NULL CHECK (reason IN ('failed', 'blocked', 'success', 'orphan')),
    files        bigint NOT NULL,
    bytes        bigint NOT NULL,
    newest_file  timestamptz                                  -- newest modification time seen in the folder
);
CREATE INDEX IF NOT EXISTS staging_removal_removed_at ON ops.staging_removal (removed_at);
