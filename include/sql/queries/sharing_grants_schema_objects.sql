-- Relations in a consumer's schema: name, kind ('v' view, 'r' table, …) and what the engine
-- recorded in sharing.consumer_view when it made the view, written as
-- "baselib.sharing application=<id> resource=<code> fingerprint=<hex> definition=<md5>" (NULL for
-- a relation the engine did not make). Parameter: the schema name.
SELECT c.relname, c.relkind,
       CASE WHEN v.view_oid IS NOT NULL THEN
           format('baselib.sharing application=%%s resource=%%s fingerprint=%%s definition=%%s',
                  v.application_id, v.resource_code, v.fingerprint, v.definition_md5)
       END AS comment
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN sharing.consumer_view AS v ON v.view_oid = c.oid
WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
ORDER BY c.relname;
