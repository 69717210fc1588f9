-- Committed loads (ops.committed_load) of the theme's inputs that the theme has not consumed yet.
-- Not a load-id watermark: loads of different resources commit out of id order.
SELECT l.load_id, l.resource_code
FROM ops.committed_load AS l
WHERE l.resource_code = ANY(%(input_codes)s)
  AND NOT EXISTS (SELECT 1 FROM ops.theme_input_load AS t
                  WHERE t.theme_code = %(theme_code)s AND t.input_load_id = l.load_id)
ORDER BY l.load_id
