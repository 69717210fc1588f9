-- Consumer views (in a schema of sharing.consumer) built on a relation (the parameter), as
-- "schema.view".
SELECT DISTINCT n.nspname || '.' || v.relname
FROM pg_depend AS d
JOIN pg_rewrite AS rw ON rw.oid = d.objid
JOIN pg_class AS v ON v.oid = rw.ev_class
JOIN pg_namespace AS n ON n.oid = v.relnamespace
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = to_regclass(%s) AND v.oid <> d.refobjid
  AND n.nspname IN (SELECT share_schema FROM sharing.consumer)
ORDER BY 1;
