-- Sync metrics for the evaluation system (共享评价). Publishing them is a later step.
CREATE TABLE IF NOT EXISTS evaluation.sync_metrics (
    load_id                 bigint PRIMARY KEY REFERENCES ops.load_run (load_id),
    provider_code           text NOT NULL,
    provider_name           text NOT NULL,
    resource_code           text NOT NULL,
    logical_date            timestamptz,
    rows_extracted          bigint NOT NULL,
    rows_inserted           bigint NOT NULL,
    rows_updated            bigint NOT NULL,
    rows_unchanged          bigint NOT NULL,
    rows_quarantined        bigint NOT NULL,
    rows_deleted            bigint NOT NULL,
    quality_pass_rate       numeric(7, 6),          -- (extracted - quarantined) / extracted; NULL when nothing extracted
    newest_source_update    timestamptz,
    loaded_at               timestamptz NOT NULL,
    timeliness_lag_seconds  double precision,       -- greatest(0, judged_at - newest_source_update): judged when due, not when loaded
    update_cycle            text NOT NULL,
    within_update_cycle     boolean,
    recorded_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sync_metrics_resource_date ON evaluation.sync_metrics (resource_code, logical_date);

-- Cross-library match rates (how well a provider's data joins the other base libraries).
ALTER TABLE evaluation.sync_metrics ADD COLUMN IF NOT EXISTS cross_check_rates jsonb;
