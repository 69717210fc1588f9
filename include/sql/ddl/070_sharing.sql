-- Sharing control (共享管理): consumers, sharing applications and their decisions, and the audit
-- trail of every role and grant change the engine makes. Consumers read base and theme data only
-- through the views of their own schema share_<consumer_code>, built from approved applications
-- (baselib.sharing.grants). Idempotent: the engine applies this file on every run.
CREATE SCHEMA IF NOT EXISTS sharing;
COMMENT ON SCHEMA sharing IS 'Sharing control: consumers, applications, grant audit, objections (include/sql/ddl/07x_sharing*.sql)';
REVOKE ALL ON SCHEMA sharing FROM PUBLIC;

-- The group every consumer LOGIN role belongs to, and the only role it belongs to: it holds what
-- every consumer may do whatever it applied for (read the published catalog, raise objections).
-- Its privileges are granted by baselib.sharing.grants, which also revokes anything else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sharing_consumer') THEN
        CREATE ROLE sharing_consumer NOLOGIN;
    END IF;
END
$$;

-- Consumers declared in include/sharing/consumers.yaml (departments' systems that query shared data).
CREATE TABLE IF NOT EXISTS sharing.consumer (
    consumer_code    text PRIMARY KEY CHECK (consumer_code ~ '^[a-z][a-z0-9_]{1,40}$'),
    consumer_name    text NOT NULL,                 -- 使用系统名称
    department_name  text NOT NULL,                 -- 使用部门
    department_code  text NOT NULL,                 -- 使用部门统一社会信用代码
    role_name        text NOT NULL UNIQUE,          -- its PostgreSQL LOGIN role (consumer_<code>)
    share_schema     text NOT NULL UNIQUE,          -- the schema of its views (share_<code>)
    active           boolean NOT NULL DEFAULT true, -- false once removed from consumers.yaml: NOLOGIN, no grants
    declared_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Sharing applications (共享申请) and their decisions. Times are instants; periods are Asia/Shanghai
-- calendar dates, inclusive: access ends at 00:00 Asia/Shanghai on the day after period_end.
CREATE TABLE IF NOT EXISTS sharing.application (
    application_id        bigserial PRIMARY KEY,
    consumer_code         text NOT NULL REFERENCES sharing.consumer (consumer_code),
    resource_code         text NOT NULL,            -- catalog.resource (no FK: history outlives an entry)
    provider_code         text NOT NULL,            -- who answers a conditional application
    sharing_type          text NOT NULL CHECK (sharing_type IN ('无条件共享', '有条件共享', '不予共享')),
    items                 text[] NOT NULL,          -- item names applied for (the resource's item names)
    personal              boolean NOT NULL DEFAULT false,  -- asks for raw personal items (有条件共享 only)
    purpose               text NOT NULL,            -- 用途
    legal_basis           text NOT NULL,            -- 依据
    period_start          date NOT NULL,
    period_end            date NOT NULL,
    status                text NOT NULL DEFAULT 'submitted'
                          CHECK (status IN ('submitted', 'approved', 'refused', 'revoked', 'expired', 'superseded')),
    submitted_at          timestamptz NOT NULL DEFAULT now(),
    response_limit_days   integer NOT NULL,         -- working days allowed: 2 review, 5 answer, 10 publish first
    due_at                timestamptz NOT NULL,     -- end of the last working day allowed
    decided_at            timestamptz,
    decided_by            text,
    decision_reason       text,                     -- required for a refusal
    response_working_days integer,                  -- working days from submission to decision
    revoked_at            timestamptz,
    revoked_by            text,
    revoke_reason         text,
    superseded_by         bigint REFERENCES sharing.application (application_id),
    CHECK (period_end >= period_start),
    CHECK (status <> 'refused' OR decision_reason IS NOT NULL),
    CHECK (status NOT IN ('approved', 'refused') OR decided_at IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS application_consumer_resource ON sharing.application (consumer_code, resource_code, status);

-- Every role, membership, view and privilege change the engine makes for sharing, with its reason.
CREATE TABLE IF NOT EXISTS sharing.grant_change (
    change_id       bigserial PRIMARY KEY,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    consumer_code   text,                 -- NULL for the sharing_consumer group or PUBLIC
    role_name       text NOT NULL,        -- the role changed or granted to
    action          text NOT NULL,        -- create_role, enable_login, disable_login, set_password, grant,
                                          -- revoke, create_view, replace_view, drop_view, drop_schema, ...
    object          text NOT NULL,        -- the relation, schema or role it applies to
    detail          text,                 -- e.g. the privilege or the columns
    reason          text NOT NULL,        -- why: "application 12 approved", "not justified by any application"
    application_id  bigint,
    run_id          text                  -- the Airflow run id, or 'cli'
);
CREATE INDEX IF NOT EXISTS grant_change_role_time ON sharing.grant_change (role_name, changed_at);
