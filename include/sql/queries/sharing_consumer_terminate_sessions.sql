-- End every session of a consumer role in this database (not this one), waiting up to the
-- parameter timeout_ms for each to exit: what it holds (locks on its views, an open transaction)
-- goes with it. Returns one row per session, with whether it ended. Parameters: role, timeout_ms.
SELECT a.pid, pg_terminate_backend(a.pid, %(timeout_ms)s) AS ended
FROM pg_stat_activity AS a
WHERE a.usename = %(role)s AND a.datname = current_database() AND a.pid <> pg_backend_pid();
