-- Whether a schema exists. Parameter: its name.
SELECT 1 FROM pg_namespace WHERE nspname = %s;
