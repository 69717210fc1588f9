-- Each consumer statement whose calls grew since the previous collection, with the new calls and
-- rows. Counted from zero: after a reset of the statistics (the reset parameter), for an entry the previous
-- collection did not see, and for one whose calls went down (evicted or reset for its role, then
-- created again: what it counted before the eviction is lost).
SELECT n.consumer_code, n.share_schema, n.query,
       CASE WHEN fresh THEN n.calls ELSE n.calls - p.calls END AS calls,
       CASE WHEN fresh THEN n.rows ELSE greatest(n.rows - p.rows, 0) END AS rows
FROM pg_temp.usage_now AS n
LEFT JOIN sharing.usage_snapshot AS p
       ON p.userid = n.userid AND p.queryid = n.queryid AND p.toplevel = n.toplevel
CROSS JOIN LATERAL (SELECT %(reset)s OR p.calls IS NULL OR n.calls < p.calls AS fresh) AS f
WHERE n.calls > 0 AND (fresh OR n.calls > p.calls)
ORDER BY n.consumer_code, n.queryid;
