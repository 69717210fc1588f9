-- Each key's latest publication state, with its last attempt's error (newest keys first).
-- Parameters: failed_only (boolean: only keys whose latest publish did not succeed).
SELECT p.department_code, p.period_kind, p.period, p.status, p.attempts, p.http_status, p.error,
       p.payload_sha256, p.published_at, p.updated_at,
       (SELECT count(*) FROM evaluation.publish_attempt a
         WHERE (a.department_code, a.period_kind, a.period) = (p.department_code, p.period_kind, p.period))
           AS total_attempts
  FROM evaluation.publication p
 WHERE NOT %(failed_only)s OR p.status <> 'published'
 ORDER BY p.period_kind, p.period DESC, p.department_code
