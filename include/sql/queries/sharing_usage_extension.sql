-- The schema pg_stat_statements is installed in, in this database (no row: not created here).
SELECT n.nspname
FROM pg_extension AS e
JOIN pg_namespace AS n ON n.oid = e.extnamespace
WHERE e.extname = %(name)s;
