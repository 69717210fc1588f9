-- Whether a live row of the resource has the record key (key columns as text joined by '/', as
-- ops.quarantine.record_key). {current}: the resource's consumer view; {key_columns}: its keys.
SELECT 1 FROM {current} WHERE concat_ws('/', {key_columns}) = %(record_key)s LIMIT 1;
