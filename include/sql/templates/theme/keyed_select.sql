-- The model evaluated for the affected refresh keys only. The key filter sits inside a LATERAL
-- subquery, so PostgreSQL pushes it into the model (through GROUP BY and into its own LATERAL
-- lookups) and drives the model from the affected keys through the inputs' indexes.
SELECT {columns_x}
FROM {affected} AS a
CROSS JOIN LATERAL (SELECT {columns_m} FROM (
{model}
) AS m WHERE {key_match}) AS x
