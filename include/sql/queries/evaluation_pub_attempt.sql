-- One attempt to publish a key, committed on its own. status: published / refused / failed / retrying.
INSERT INTO evaluation.publish_attempt (department_code, period_kind, period, run_id, attempt, status,
                                        http_status, error, payload_sha256)
VALUES (%(department_code)s, %(period_kind)s, %(period)s, %(run_id)s, %(attempt)s, %(status)s,
        %(http_status)s, %(error)s, %(payload_sha256)s)
