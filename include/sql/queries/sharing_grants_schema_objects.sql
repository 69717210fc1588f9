-- Relations in a consumer's schema: name, kind ('v' view, 'r' table, …) and the comment the
-- engine writes on its views ("baselib.sharing application=<id> resource=<code> fingerprint=<hex>").
-- Parameter: the schema name.
SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') AS comment
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
ORDER BY c.relname;
