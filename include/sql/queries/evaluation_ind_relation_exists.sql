-- Whether a relation exists (schema-qualified name).
SELECT to_regclass(%(name)s) IS NOT NULL;
