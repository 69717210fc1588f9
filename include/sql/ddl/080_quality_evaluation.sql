-- Quality dimensions per run, returns to providers (数据回退), evaluation indicators per department and
-- period, and their publication to the evaluation system. Idempotent: applied on every run.

-- Timeliness is judged at the time the data was due, not when the platform loaded it: the run's data
-- interval end (a backfilled day: that day), else its logical date, else finished_at; never later than finished_at.
-- timeliness_lag_seconds = greatest(0, judged_at - newest_source_update).
ALTER TABLE evaluation.sync_metrics ADD COLUMN IF NOT EXISTS judged_at timestamptz;
-- scheduled / backfill / manual / asset_triggered / other (from the Airflow run id's prefix), for the reader.
ALTER TABLE evaluation.sync_metrics ADD COLUMN IF NOT EXISTS run_type text;

-- One row per load and GB/T 36344-2018 dimension (plus 'overall'), include/quality/scoring.yaml.
-- score = 1 - failed / elements (NULL when nothing was judged); grade from the same file.
CREATE TABLE IF NOT EXISTS evaluation.quality_score (
    load_id        bigint NOT NULL REFERENCES ops.load_run (load_id),
    resource_code  text NOT NULL,
    provider_code  text NOT NULL,
    dimension      text NOT NULL CHECK (dimension IN ('normative', 'complete', 'accurate', 'consistent',
                                                        'timely', 'accessible', 'overall')),
    checks         integer NOT NULL DEFAULT 0,
    elements       bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    score          numeric(7, 6) CHECK (score BETWEEN 0 AND 1),
    grade          text,
    scored_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (load_id, dimension)
);
CREATE INDEX IF NOT EXISTS quality_score_provider ON evaluation.quality_score (provider_code, dimension);
CREATE INDEX IF NOT EXISTS quality_score_resource ON evaluation.quality_score (resource_code, load_id);

-- Returns to providers: each workbook dropped into a provider's return folder.
CREATE TABLE IF NOT EXISTS ops.quality_return (
    return_id           bigserial PRIMARY KEY,
    provider_code       text NOT NULL,
    uri                 text NOT NULL,          -- where the workbook is (object storage)
    quarantine_entries  integer NOT NULL,
    objections          integer NOT NULL,
    run_id              text,                   -- the Airflow run (or 'cli')
    created_at          timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS returned_at timestamptz;
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS return_id bigint REFERENCES ops.quality_return (return_id);
ALTER TABLE sharing.objection ADD COLUMN IF NOT EXISTS return_id bigint REFERENCES ops.quality_return (return_id);

-- Evaluation indicators (include/evaluation/indicators.yaml) per department and period.
-- period: '2026-11' (month), '2026Q4' (quarter), '2026' (year); [period_start, period_end) local dates.
CREATE TABLE IF NOT EXISTS evaluation.indicator (
    department_code   text NOT NULL,
    department_name   text NOT NULL,
    period_kind       text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period            text NOT NULL,
    period_start      date NOT NULL,
    period_end        date NOT NULL,
    indicators        jsonb NOT NULL,   -- {name: {"value", "score", "weight", "unit", "detail"}}
    flags             jsonb NOT NULL,   -- {"zombie_resources": [...], "unused_resources": [...]}
    score             numeric(7, 3),    -- weighted 0..100 over the indicators that apply
    grade             text,
    payload_sha256    text NOT NULL,    -- of the payload publishing sends
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department_code, period_kind, period)
);

-- Publication to the evaluation system: the latest state per key, and every attempt.
CREATE TABLE IF NOT EXISTS evaluation.publication (
    department_code   text NOT NULL,
    period_kind       text NOT NULL,
    period            text NOT NULL,
    status            text NOT NULL CHECK (status IN ('published', 'refused', 'failed')),
    attempts          integer NOT NULL,
    http_status       integer,
    error             text,             -- redacted
    payload_sha256    text NOT NULL,
    published_at      timestamptz,      -- the last successful publish
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department_code, period_kind, period)
);
CREATE TABLE IF NOT EXISTS evaluation.publish_attempt (
    attempt_id        bigserial PRIMARY KEY,
    department_code   text NOT NULL,
    period_kind       text NOT NULL,
    period            text NOT NULL,
    run_id            text,
    attempt           integer NOT NULL,
    status            text NOT NULL CHECK (status IN ('published', 'refused', 'failed', 'retrying')),
    http_status       integer,
    error             text,             -- redacted
    payload_sha256    text NOT NULL,
    attempted_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS publish_attempt_key ON evaluation.publish_attempt (department_code, period_kind, period);
