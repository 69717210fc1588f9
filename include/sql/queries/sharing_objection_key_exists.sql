-- Whether a live row of the resource has the record key (key columns as text joined by '/', as
-- ops.quarantine.record_key). {current}: the resource's consumer view; {record_key}: the record
-- key expression of its key columns (baselib.sharing.grants.record_key_sql).
SELECT 1 FROM {current} WHERE {record_key} = %(record_key)s LIMIT 1;
