-- The consumer whose views a schema holds: code and role. Parameter: the schema name.
SELECT consumer_code, role_name FROM sharing.consumer WHERE share_schema = %s;
