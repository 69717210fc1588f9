-- A relation's columns in order. Parameter: its qualified name.
SELECT a.attname FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
