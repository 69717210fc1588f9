-- The theme guard: which of the input codes have at least one committed load (ops.committed_load,
-- the predicate the engine's theme_new_input_loads.sql uses too).
SELECT DISTINCT l.resource_code
FROM ops.committed_load AS l
WHERE l.resource_code = ANY(%(input_codes)s)
