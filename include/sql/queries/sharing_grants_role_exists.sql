-- Whether a role exists. Parameter: its name.
SELECT 1 FROM pg_roles WHERE rolname = %s;
