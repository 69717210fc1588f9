-- Committed loads of the theme's inputs that the theme has not consumed yet. Committed: its load
-- transaction committed (status loaded/success; a later step's failure keeps rows_inserted set).
-- Not a load-id watermark: loads of different resources commit out of id order.
SELECT l.load_id, l.resource_code
FROM ops.load_run AS l
WHERE l.resource_code = ANY(%(input_codes)s)
  AND (l.status IN ('loaded', 'success') OR l.rows_inserted IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM ops.theme_input_load AS t
                  WHERE t.theme_code = %(theme_code)s AND t.input_load_id = l.load_id)
ORDER BY l.load_id
