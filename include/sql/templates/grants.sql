-- Read access derived from the catalog's sharing settings: the schema's reader role may read the
-- non-personal items of the current view. Roles the catalog names as personal-data readers are
-- granted the whole view separately (baselib.warehouse.schema).
GRANT USAGE ON SCHEMA {schema} TO {reader};
REVOKE ALL ON {current_view} FROM {reader};
GRANT SELECT ({shared_columns}) ON {current_view} TO {reader};
