-- Refresh state of the themes (SQL-model resources), written in the theme's load transaction
-- (baselib.pipeline.load): a failed or blocked run consumes nothing, so the next run recomputes
-- the same keys.

-- Loads whose load transaction committed: status loaded or success, or a later step's failure that
-- kept rows_inserted set. An input's Asset event fires when its load task commits (status loaded),
-- before its record task sets success. The one definition both the theme engine (new input loads)
-- and the theme guard (has every input loaded?) use.
CREATE OR REPLACE VIEW ops.committed_load AS
    SELECT * FROM ops.load_run WHERE status IN ('loaded', 'success') OR rows_inserted IS NOT NULL;

-- The input loads a theme has consumed. A committed input load (ops.load_run status loaded or
-- success) without a row here for the theme is "new": its versions' keys are refreshed next.
-- No load-id watermark: loads of different resources commit out of id order.
CREATE TABLE IF NOT EXISTS ops.theme_input_load (
    theme_code          text   NOT NULL,                                  -- the theme's resource code
    input_load_id       bigint NOT NULL REFERENCES ops.load_run (load_id),
    input_code          text   NOT NULL,                                  -- the input's resource code
    consumed_by_load_id bigint NOT NULL REFERENCES ops.load_run (load_id),
    consumed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (theme_code, input_load_id)
);
CREATE INDEX IF NOT EXISTS theme_input_load_consumed_by ON ops.theme_input_load (consumed_by_load_id);

-- Per theme, its last committed refresh: the as-of instant (the lower bound of the next run's
-- input-age window) and the fingerprint of the model (a change forces a full rebuild).
CREATE TABLE IF NOT EXISTS ops.theme_refresh (
    theme_code   text PRIMARY KEY,
    as_of        timestamptz NOT NULL,
    fingerprint  text NOT NULL,                                           -- baselib.themes.model.fingerprint
    load_id      bigint NOT NULL REFERENCES ops.load_run (load_id),       -- the load that refreshed it last
    mode         text NOT NULL,                                           -- full / incremental / reconcile
    keys         bigint,                                                  -- refresh keys recomputed (NULL: all)
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

-- Refresh keys whose recomputed row a theme's load quarantined (a critical check failed): the key's
-- older row stays open, and the input loads that touched it are consumed, so without this the key
-- would not be recomputed until an input changes again. The next incremental refresh adds these
-- keys to its affected set; each load of the theme (same transaction as ops.theme_refresh) first
-- empties the theme's set — every key in it was recomputed — then lists the keys it quarantined.
-- refresh_key: the refresh key's values as text, in the order of the catalog's refresh_key.
CREATE TABLE IF NOT EXISTS ops.theme_pending_key (
    theme_code  text   NOT NULL,
    refresh_key text[] NOT NULL,
    load_id     bigint NOT NULL REFERENCES ops.load_run (load_id),          -- the load that quarantined it
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (theme_code, refresh_key)
);
