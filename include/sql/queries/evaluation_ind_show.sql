-- The stored indicators of a period, by department.
-- Parameters: period_kind, period, departments (text[] or NULL for all).
SELECT department_code, department_name, period_kind, period, period_start, period_end, indicators, flags, score,
       grade, payload_sha256, computed_at
FROM evaluation.indicator
WHERE period_kind = %(period_kind)s AND period = %(period)s
  AND (%(departments)s::text[] IS NULL OR department_code = ANY(%(departments)s::text[]))
ORDER BY department_code;
