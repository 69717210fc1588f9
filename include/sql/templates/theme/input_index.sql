-- An index on an input's versions for a theme's keyed lookups (its model filtered on the refresh
-- key, the input-age window): on the open versions (WHERE _valid_to IS NULL), or on
-- every version when the model reads the input's SCD2 table. Derived from the catalog entry and
-- the model (baselib.themes.indexes), never hand-written; idempotent.
CREATE INDEX IF NOT EXISTS {index} ON {history} ({columns}){open_only}
