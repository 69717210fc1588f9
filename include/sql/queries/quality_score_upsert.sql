-- One dimension score of a load (evaluation.quality_score); scoring a load again replaces its rows.
-- Parameters: load_id, resource_code, provider_code, dimension, checks, elements, failed, score, grade.
INSERT INTO evaluation.quality_score AS s
    (load_id, resource_code, provider_code, dimension, checks, elements, failed, score, grade)
VALUES (%(load_id)s, %(resource_code)s, %(provider_code)s, %(dimension)s, %(checks)s, %(elements)s, %(failed)s,
        %(score)s, %(grade)s)
ON CONFLICT (load_id, dimension) DO UPDATE SET
    resource_code = excluded.resource_code, provider_code = excluded.provider_code, checks = excluded.checks,
    elements = excluded.elements, failed = excluded.failed, score = excluded.score, grade = excluded.grade,
    scored_at = now()
