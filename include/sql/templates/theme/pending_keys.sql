-- Refresh keys an earlier load of the theme quarantined (ops.theme_pending_key): recomputed by the
-- next incremental refresh even when no input changed. {columns}: each text value cast back to the
-- type of the theme's refresh-key column.
SELECT {columns} FROM ops.theme_pending_key AS p WHERE p.theme_code = {theme_code}
