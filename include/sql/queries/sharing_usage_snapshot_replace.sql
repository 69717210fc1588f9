-- The counters just read become the baseline of the next collection.
DELETE FROM sharing.usage_snapshot;
INSERT INTO sharing.usage_snapshot (userid, queryid, toplevel, role_name, calls, rows, collected_at)
SELECT userid, queryid, toplevel, role_name, calls, rows, %(now)s FROM pg_temp.usage_now;
