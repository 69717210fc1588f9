-- The counters of the consumer roles' statements in this database, read once per collection:
-- the differences and the next snapshot both come from this copy, so a statement that runs
-- while the collection does is counted by the next one, never twice and never lost.
-- {pss}: the schema of the extension (composed identifier).
CREATE TEMP TABLE usage_now ON COMMIT DROP AS
SELECT s.userid, s.queryid, s.toplevel, c.role_name, c.consumer_code, c.share_schema, s.calls, s.rows, s.query
FROM {pss}.pg_stat_statements AS s
JOIN pg_roles AS r ON r.oid = s.userid
JOIN sharing.consumer AS c ON c.role_name = r.rolname
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.queryid IS NOT NULL;
