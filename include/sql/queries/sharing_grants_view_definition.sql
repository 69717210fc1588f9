-- md5 of a view's definition as PostgreSQL stores it (pg_get_viewdef). Parameter: its qualified name.
SELECT md5(pg_get_viewdef(to_regclass(%s)));
