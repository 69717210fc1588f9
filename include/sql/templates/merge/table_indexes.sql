-- The indexes of a table that no constraint owns (name, CREATE statement): the first load drops
-- them before its COPY and builds them again afterwards.
SELECT i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
WHERE x.indrelid = %(table)s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
