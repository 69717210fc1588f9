-- The theme's last committed refresh, or no row.
SELECT as_of, fingerprint, load_id FROM ops.theme_refresh WHERE theme_code = %(theme_code)s
