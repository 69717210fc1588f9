-- The history simulator's dimension scores (one row per load and dimension, plus 'overall').
-- Used with psycopg2.extras.execute_values.
INSERT INTO evaluation.quality_score AS q
    (load_id, resource_code, provider_code, dimension, checks, elements, failed, score, grade, scored_at)
VALUES %s
ON CONFLICT (load_id, dimension) DO UPDATE SET
    resource_code = excluded.resource_code, provider_code = excluded.provider_code, checks = excluded.checks,
    elements = excluded.elements, failed = excluded.failed, score = excluded.score, grade = excluded.grade,
    scored_at = excluded.scored_at;
