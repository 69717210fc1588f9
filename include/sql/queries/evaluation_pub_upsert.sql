-- The final state of a key after one publish: published / refused / failed. published_at is the time
-- of the last successful publish (kept when this one did not succeed).
INSERT INTO evaluation.publication AS p (department_code, period_kind, period, status, attempts, http_status,
                                         error, payload_sha256, published_at, updated_at)
VALUES (%(department_code)s, %(period_kind)s, %(period)s, %(status)s, %(attempts)s, %(http_status)s,
        %(error)s, %(payload_sha256)s, CASE WHEN %(status)s = 'published' THEN now() END, now())
ON CONFLICT (department_code, period_kind, period) DO UPDATE
   SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, http_status = EXCLUDED.http_status,
       error = EXCLUDED.error, payload_sha256 = EXCLUDED.payload_sha256,
       published_at = COALESCE(EXCLUDED.published_at, p.published_at), updated_at = now()
