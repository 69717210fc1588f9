-- Run records, watermarks and quarantine.
CREATE TABLE IF NOT EXISTS ops.load_run (
    load_id               bigserial PRIMARY KEY,
    resource_code         text NOT NULL,
    dag_id                text NOT NULL,
    run_id                text NOT NULL,
    logical_date          timestamptz,
    data_interval_start   timestamptz,
    data_interval_end     timestamptz,
    mode                  text NOT NULL CHECK (mode IN ('full', 'incremental', 'reconcile')),
    status                text NOT NULL DEFAULT 'running'
                          CHECK (status IN ('running', 'validated', 'loaded', 'success', 'blocked', 'failed')),
    started_at            timestamptz NOT NULL DEFAULT now(),
    finished_at           timestamptz,
    extract_seconds       double precision,
    validate_seconds      double precision,
    load_seconds          double precision,
    watermark_from        timestamptz,   -- exclusive lower bound of the extract (NULL: full)
    watermark_to          timestamptz,   -- inclusive upper bound (the data interval end)
    max_source_updated_at timestamptz,   -- newest incremental-column value seen
    rows_extracted        bigint,
    rows_inserted         bigint,
    rows_updated          bigint,
    rows_unchanged        bigint,
    rows_quarantined      bigint,
    rows_deleted          bigint,        -- keys closed by a reconciliation (not part of the extract)
    rows_warned           bigint,        -- rows that failed warning-level expectations (still loaded)
    blocking_checks       jsonb,
    error                 text,
    report_path           text,
    UNIQUE (resource_code, run_id),
    -- every extracted row is accounted for once the load has happened
    CONSTRAINT load_run_rows_accounted CHECK (
        status NOT IN ('loaded', 'success')
        OR rows_extracted = rows_inserted + rows_updated + rows_unchanged + rows_quarantined
    )
);
CREATE INDEX IF NOT EXISTS load_run_resource_started ON ops.load_run (resource_code, started_at DESC);

CREATE TABLE IF NOT EXISTS ops.watermark (
    resource_code  text PRIMARY KEY,
    column_name    text NOT NULL,
    value          timestamptz NOT NULL,
    load_id        bigint NOT NULL REFERENCES ops.load_run (load_id),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Rows rejected by critical row-level expectations. One row per distinct source row:
-- a rerun that rejects the same row again bumps last_load_id instead of adding a copy.
CREATE TABLE IF NOT EXISTS ops.quarantine (
    quarantine_id        bigserial PRIMARY KEY,
    resource_code        text NOT NULL,
    load_id              bigint NOT NULL REFERENCES ops.load_run (load_id),  -- first load that rejected it
    last_load_id         bigint NOT NULL REFERENCES ops.load_run (load_id),  -- latest load that rejected it
    times_seen           integer NOT NULL DEFAULT 1,
    record_key           text,               -- key value(s) of the row, for the provider's lookup
    source_row           jsonb NOT NULL,     -- the row as extracted
    failed_expectations  jsonb NOT NULL,     -- [{"expectation": ..., "column": ..., "severity": ...}]
    reason               text NOT NULL,      -- readable, for sending back to the provider
    row_fingerprint      text NOT NULL,      -- md5 of the source row
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'returned', 'resolved')),
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resource_code, row_fingerprint)
);
CREATE INDEX IF NOT EXISTS quarantine_last_load ON ops.quarantine (last_load_id);
CREATE INDEX IF NOT EXISTS quarantine_open ON ops.quarantine (resource_code) WHERE status = 'open';

-- Added after the first release: columns are added idempotently, never by recreating the table.
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS resolved_by_load_id bigint REFERENCES ops.load_run (load_id);
-- Cross-library check results of the run: {name: {checked, matched, match_rate, reference_exists}}.
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS cross_checks jsonb;
-- Every error recorded for the run, oldest first: [{at, step, status, error_class, error}]. `error`
-- holds the latest unresolved one and is cleared when a retried step succeeds.
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS error_history jsonb;
-- Values the documented text rules changed on extract, by rule: {rule: count}.
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS values_normalised jsonb;
-- What each load delivered, per catalog item: {item: rows holding a value (non-null)} over the rows the
-- extract read (from the Parquet parts' row-group statistics, baselib.storage.non_null_counts), recorded
-- by baselib.pipeline.extract. NULL: a load recorded before this column existed. Catalog completeness
-- (baselib.evaluation.indicators) counts an item delivered when a load of the period delivered it.
-- (Here, before 060_theme_refresh.sql makes ops.committed_load as SELECT * FROM ops.load_run.)
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS items_delivered jsonb;
-- When staging housekeeping (090_housekeeping.sql) removed the run's staging folder (NULL: never, or
-- removed by the run's own record step).
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS staging_removed_at timestamptz;
