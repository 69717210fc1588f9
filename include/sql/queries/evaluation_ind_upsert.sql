-- Store one department's indicators for a period; recomputing replaces (computed_at moves).
INSERT INTO evaluation.indicator AS i
    (department_code, department_name, period_kind, period, period_start, period_end, indicators, flags, score,
     grade, payload_sha256, computed_at)
VALUES (%(department_code)s, %(department_name)s, %(period_kind)s, %(period)s, %(period_start)s, %(period_end)s,
        %(indicators)s::jsonb, %(flags)s::jsonb, %(score)s, %(grade)s, %(payload_sha256)s, now())
ON CONFLICT (department_code, period_kind, period) DO UPDATE SET
    department_name = excluded.department_name, period_start = excluded.period_start,
    period_end = excluded.period_end, indicators = excluded.indicators, flags = excluded.flags,
    score = excluded.score, grade = excluded.grade, payload_sha256 = excluded.payload_sha256,
    computed_at = excluded.computed_at
RETURNING computed_at;
