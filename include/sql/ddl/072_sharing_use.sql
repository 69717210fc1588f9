-- Measured use of shared data and data objections (数据异议). Idempotent: the engine applies this
-- file on every run (baselib.warehouse.schema.apply_shared_ddl).

-- Use per consumer, per resource and per day, measured by the server from real execution
-- (pg_stat_statements, collected by baselib.sharing.usage.collect): the statements that named a
-- shared view of the consumer's schema, and the rows they returned. A statement naming two views
-- counts for both. For the evaluation (共享评价).
CREATE TABLE IF NOT EXISTS evaluation.sharing_usage (
    usage_date          date NOT NULL,        -- Asia/Shanghai date the collection attributed the use to
    consumer_code       text NOT NULL,        -- sharing.consumer
    resource_code       text NOT NULL,        -- catalog.resource
    provider_code       text NOT NULL,        -- the providing department (catalog), for per-provider figures
    queries             bigint NOT NULL DEFAULT 0 CHECK (queries >= 0),    -- statements executed (calls)
    rows_read           bigint NOT NULL DEFAULT 0 CHECK (rows_read >= 0),  -- rows those statements returned
    first_collected_at  timestamptz NOT NULL DEFAULT now(),
    last_collected_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (usage_date, consumer_code, resource_code)
);

-- The pg_stat_statements counters of consumer roles in this database as last collected: the next
-- collection adds only what grew since. Replaced whole by each collection.
CREATE TABLE IF NOT EXISTS sharing.usage_snapshot (
    userid        oid NOT NULL,
    queryid       bigint NOT NULL,
    toplevel      boolean NOT NULL,
    role_name     text NOT NULL,
    calls         bigint NOT NULL,
    rows          bigint NOT NULL,
    collected_at  timestamptz NOT NULL,
    PRIMARY KEY (userid, queryid, toplevel)
);

-- One row per collection: what it saw, and whether the statistics were reset since the previous
-- one (use between that collection and the reset is lost).
CREATE TABLE IF NOT EXISTS sharing.usage_collection (
    collection_id     bigserial PRIMARY KEY,
    collected_at      timestamptz NOT NULL,
    usage_date        date NOT NULL,
    stats_reset       timestamptz,          -- pg_stat_statements_info.stats_reset at the collection
    reset_detected    boolean NOT NULL,     -- stats_reset moved since the previous collection
    statements        integer NOT NULL,     -- consumer statements with new calls
    counted           integer NOT NULL,     -- of those, naming at least one shared view
    skipped           integer NOT NULL,     -- of those, whose text could not be parsed (not counted)
    usage_rows        integer NOT NULL,     -- (consumer, resource) figures added to
    run_id            text
);

-- Data objections (数据异议): a consumer says a value it was shared is wrong. Routed to the
-- provider, which confirms (then a load must correct it) or rejects it with a reason.
CREATE TABLE IF NOT EXISTS sharing.objection (
    objection_id         bigserial PRIMARY KEY,
    consumer_code        text NOT NULL REFERENCES sharing.consumer (consumer_code),
    resource_code        text NOT NULL,
    provider_code        text NOT NULL,          -- the department that must answer (catalog)
    record_key           text NOT NULL,          -- the row's key, concat_ws('/', key columns) as ops.quarantine
    row_key              text,                   -- the key as the consumer saw it (_row_key), when given
    item_name            text NOT NULL,          -- the item (column) the objection is about
    value_seen           text,                   -- as the consumer saw it (masked when it was masked)
    value_expected       text NOT NULL,          -- the value the consumer believes right
    evidence             text NOT NULL,
    status               text NOT NULL DEFAULT 'open'
                         CHECK (status IN ('open', 'confirmed', 'rejected', 'resolved')),
    raised_at            timestamptz NOT NULL,
    answer_due_at        timestamptz NOT NULL,   -- policy objection_answer working days after raising
    answered_at          timestamptz,
    answered_by          text,
    answer_reason        text,                   -- required for a rejection
    correction_due_at    timestamptz,            -- policy objection_correction working days after confirmation
    resolved_at          timestamptz,            -- the instant of the load that changed the value
    resolved_by_load_id  bigint REFERENCES ops.load_run (load_id),
    CHECK (status = 'open' OR (answered_at IS NOT NULL AND answered_by IS NOT NULL)),
    CHECK (status <> 'rejected' OR answer_reason IS NOT NULL),
    CHECK (status NOT IN ('confirmed', 'resolved') OR correction_due_at IS NOT NULL),
    CHECK (status <> 'resolved' OR (resolved_at IS NOT NULL AND resolved_by_load_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS objection_confirmed ON sharing.objection (resource_code) WHERE status = 'confirmed';
CREATE INDEX IF NOT EXISTS objection_provider ON sharing.objection (provider_code, status);
CREATE INDEX IF NOT EXISTS objection_consumer ON sharing.objection (consumer_code, status);

-- One pending (open or confirmed) objection per consumer, resource, row and item: the same
-- objection raised again is refused (baselib.sharing.objections checks first, under a lock, and
-- names the pending one). A warehouse that already holds such duplicates (raised before this
-- index) keeps them: the index is then not created, with a WARNING naming them, and this DDL
-- goes on; it is created by the first run after the provider has answered the duplicates.
DO $$
DECLARE
    duplicates text;
BEGIN
    CREATE UNIQUE INDEX IF NOT EXISTS objection_pending_once
        ON sharing.objection (consumer_code, resource_code, record_key, item_name)
        WHERE status IN ('open', 'confirmed');
EXCEPTION WHEN unique_violation THEN
    SELECT string_agg(ids, '; ') INTO duplicates
    FROM (SELECT string_agg(objection_id::text, ', ' ORDER BY objection_id) AS ids
          FROM sharing.objection WHERE status IN ('open', 'confirmed')
          GROUP BY consumer_code, resource_code, record_key, item_name HAVING count(*) > 1) AS d;
    RAISE WARNING 'sharing.objection holds the same pending objection more than once (objections %): the unique index objection_pending_once is created once the provider has answered all but one of each', duplicates;
END
$$;

-- Each objection with its state at the time of the query: overdue when open at or after
-- answer_due_at or confirmed at or after correction_due_at; hours to answer and to resolution
-- (working days are counted by baselib.sharing.objections with the policy calendar, which SQL
-- does not know).
CREATE OR REPLACE VIEW sharing.objection_status AS
-- The computed columns come first, so that a column added to the table later appends (CREATE OR
-- REPLACE VIEW can only add columns at the end).
SELECT (o.status = 'open' AND now() >= o.answer_due_at)
           OR (o.status = 'confirmed' AND now() >= o.correction_due_at) AS overdue,
       extract(epoch FROM o.answered_at - o.raised_at) / 3600.0 AS hours_to_answer,
       extract(epoch FROM o.resolved_at - o.raised_at) / 3600.0 AS hours_to_resolution,
       o.*
FROM sharing.objection AS o;

-- A consumer's own objections (filtered by the session's login role), for the consumer group. The
-- real record key only where the consumer gave it itself (it raised with --key); an objection
-- raised on a hashed _row_key shows that row key only, never the personal key behind it.
CREATE OR REPLACE VIEW sharing.my_objection WITH (security_barrier) AS
SELECT o.objection_id, o.resource_code, CASE WHEN o.row_key IS NULL THEN o.record_key END AS record_key, o.row_key, o.item_name, o.value_seen, o.value_expected,
       o.status, o.raised_at, o.answer_due_at, o.answered_at, o.answer_reason, o.correction_due_at, o.resolved_at
FROM sharing.objection AS o
JOIN sharing.consumer AS c USING (consumer_code)
WHERE c.role_name = session_user;

-- Per provider, for the evaluation (共享评价, issue 12): objections open, overdue, confirmed,
-- resolved (and of those on time: resolved_at <= correction_due_at), rejected, answered on time
-- (answered_at <= answer_due_at), and the mean hours to answer and to resolution.
CREATE OR REPLACE VIEW evaluation.objection_outcome AS
SELECT s.provider_code,
       count(*)                                                              AS raised,
       count(*) FILTER (WHERE s.status = 'open')                             AS open,
       count(*) FILTER (WHERE s.overdue)                                     AS overdue,
       count(*) FILTER (WHERE s.status = 'confirmed')                        AS confirmed,
       count(*) FILTER (WHERE s.status = 'resolved')                         AS resolved,
       count(*) FILTER (WHERE s.status = 'resolved' AND s.resolved_at <= s.correction_due_at) AS resolved_on_time,
       count(*) FILTER (WHERE s.status = 'rejected')                         AS rejected,
       count(*) FILTER (WHERE s.answered_at IS NOT NULL AND s.answered_at <= s.answer_due_at) AS answered_on_time,
       avg(s.hours_to_answer)                                                AS mean_hours_to_answer,
       avg(s.hours_to_resolution)                                            AS mean_hours_to_resolution
FROM sharing.objection_status AS s
GROUP BY s.provider_code;
