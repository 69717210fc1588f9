-- A resource's base table and its SCD2 history (the current view is templates/current_view.sql).
-- Placeholders are identifiers composed by baselib.warehouse.schema (psycopg2.sql), never values.
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {table} (
    {columns},
    _row_hash        text        NOT NULL,   -- md5 of the item columns, for change detection
    _load_id         bigint      NOT NULL,   -- load that wrote the current version
    _first_loaded_at timestamptz NOT NULL,
    _loaded_at       timestamptz NOT NULL,
    _deleted_at      timestamptz,            -- set when a reconciliation finds the key gone at the source
    _delivery_id     bigint,                 -- file delivery (ops.file_delivery) of the current version
    PRIMARY KEY ({keys})
);

CREATE TABLE IF NOT EXISTS {history} (
    {columns},
    _row_hash          text        NOT NULL,
    _valid_from        timestamptz NOT NULL,
    _valid_to          timestamptz,          -- NULL: the open (current) version
    _load_id           bigint      NOT NULL, -- load that opened this version
    _closed_by_load_id bigint,               -- load that closed it (changed, or deleted at source)
    _change            char(1)     NOT NULL CHECK (_change IN ('I', 'U')),
    _delivery_id       bigint,               -- file delivery that brought (or revised to) this version
    PRIMARY KEY ({keys}, _valid_from)
);
-- Tables created before file-drop sources existed get the lineage column in place.
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS _delivery_id bigint;
ALTER TABLE {history} ADD COLUMN IF NOT EXISTS _delivery_id bigint;
CREATE UNIQUE INDEX IF NOT EXISTS {history_open_index} ON {history} ({keys}) WHERE _valid_to IS NULL;
