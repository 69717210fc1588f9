-- Whether a relation exists. Parameter: its qualified name.
SELECT to_regclass(%s) IS NOT NULL;
