-- The yearly sharing report: every department's stored year indicators (evaluation.indicator),
-- best score first (not scored last).
-- Parameters: period (the year label, e.g. '2026').
SELECT department_code, department_name, indicators, flags, score, grade, computed_at
FROM evaluation.indicator
WHERE period_kind = 'year' AND period = %(period)s
ORDER BY score DESC NULLS LAST, department_code
