-- Grants derived from sharing applications (baselib.sharing.grants): what the per-consumer views
-- share_<code>.<schema>__<table> rely on, and the one view every consumer reads about itself.
-- Idempotent: the engine applies this file on every run (under its DDL lock).

-- The secret that makes a masked consumer's row key opaque: _row_key is the hex SHA-256 of
-- secret || '|' || consumer_code || '|' || record key when a key item is personal and the
-- application is not. One row, random, made once; nobody but the warehouse owner reads it (the
-- consumer views read it with their owner's privileges). Replacing it changes every hashed key.
CREATE TABLE IF NOT EXISTS sharing.row_key_secret (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     text NOT NULL CHECK (char_length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
-- gen_random_uuid() draws from the server's strong random source: two give 244 random bits.
INSERT INTO sharing.row_key_secret (secret)
SELECT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
ON CONFLICT (singleton) DO NOTHING;
REVOKE ALL ON sharing.row_key_secret FROM PUBLIC;

-- A salted, slow fingerprint of the password last set on the consumer's role (PBKDF2-SHA256,
-- never the password): consumers.apply_roles compares it to tell whether the password changed.
ALTER TABLE sharing.consumer ADD COLUMN IF NOT EXISTS password_fingerprint text;

-- Every consumer view is filtered by this: true while the application's access lasts, a clear
-- insufficient_privilege error from `ends_at` on (00:00 Asia/Shanghai the day after period_end),
-- so access ends on time even before the daily reconcile drops the view. It compares the time
-- the statement started (statement_timestamp(), not now(), the transaction's start): a consumer
-- that opened its transaction before the end cannot keep reading after it. Its arguments are
-- constants, so PostgreSQL evaluates it once per query (a one-time filter), even on an empty view.
CREATE OR REPLACE FUNCTION sharing.require_active(application_id bigint, ends_at timestamptz) RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    IF statement_timestamp() >= ends_at THEN
        RAISE EXCEPTION 'sharing application % ended at % (Asia/Shanghai): its access has ended',
            application_id, to_char(ends_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'File a new sharing application for this resource (python -m baselib.cli sharing apply).';
    END IF;
    RETURN true;
END
$$;
-- Consumers call it through their views (a view's functions run with the caller's privileges):
-- the sharing_consumer group may execute it (baselib.sharing.grants grants it), PUBLIC may not.
REVOKE ALL ON FUNCTION sharing.require_active(bigint, timestamptz) FROM PUBLIC;

-- A consumer's own sharing applications: the rows of sharing.application whose consumer logs in
-- as session_user. security_barrier: a consumer's own functions in a WHERE clause never see
-- another consumer's rows. The sharing_consumer group reads it (baselib.sharing.grants).
CREATE OR REPLACE VIEW sharing.my_application WITH (security_barrier) AS
    SELECT a.*
    FROM sharing.application AS a
    JOIN sharing.consumer AS c ON c.consumer_code = a.consumer_code
    WHERE c.role_name = session_user;
COMMENT ON VIEW sharing.my_application IS 'The logged-in consumer''s own sharing applications (共享申请)';

-- What the engine knows of each consumer view it made (baselib.sharing.grants): the application
-- that justifies it, the resource, the fingerprint of the statement that made it and the md5 of
-- the definition PostgreSQL stored (a view edited by hand no longer matches). Kept here, not in a
-- COMMENT, because every role reads comments (pg_description): other consumers must not see
-- which applications a consumer holds. Keyed by the view's oid, so a row of a view dropped by
-- other means never describes a later view; the reconcile deletes such rows.
CREATE TABLE IF NOT EXISTS sharing.consumer_view (
    view_oid        oid PRIMARY KEY,
    view_name       text NOT NULL,          -- share_<code>.<schema>__<table>, when made
    application_id  bigint NOT NULL,
    resource_code   text NOT NULL,
    fingerprint     text NOT NULL,
    definition_md5  text NOT NULL,
    made_at         timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON sharing.consumer_view FROM PUBLIC;
