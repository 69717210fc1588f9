-- A resource's SCD2 table: every version of every key, one open version (_valid_to IS NULL) per
-- key ever loaded. The base table of the same name is a view of the open versions
-- (templates/base_view), the consumer view reads the live ones (templates/current_view).
-- Placeholders are identifiers composed by baselib.warehouse.schema (psycopg2.sql), never values.
-- No primary key on (keys, _valid_from): the partial unique index is what the merge needs. Measured
-- at 1,000,000 people, a primary key made the first load 3.8x raw COPY instead of 2.3x (a
-- constraint's index stays during the COPY) and later loads about 5 % slower.
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {history} (
    {columns},
    _row_hash          text        NOT NULL, -- hash of the item columns (baselib.loading.changes), a change hint
    _valid_from        timestamptz NOT NULL, -- when the load that opened this version took the load lock
    _valid_to          timestamptz,          -- NULL: the open version
    _load_id           bigint      NOT NULL, -- load that opened this version
    _closed_by_load_id bigint,               -- load that closed it (changed, deleted at source, reappeared)
    _change            char(1)     NOT NULL CHECK (_change IN ('I', 'U', 'D')), -- D: tombstone of a deletion
    _delivery_id       bigint,               -- file delivery (ops.file_delivery) that brought this version
    _first_loaded_at   timestamptz NOT NULL, -- when the key was first loaded, carried to every later version
    _deleted_at        timestamptz           -- set on a tombstone: when a reconcile found the key gone
);
CREATE UNIQUE INDEX IF NOT EXISTS {history_open_index} ON {history} ({keys}) WHERE _valid_to IS NULL;
