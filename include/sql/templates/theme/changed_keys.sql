-- Refresh keys an input's new loads touched: the mapped columns of every version those loads
-- opened or closed (both the old and the new version map, so a row moving from key A to key B
-- refreshes both), for rows where the input's `when` holds.
SELECT {columns} FROM {history}
WHERE (_load_id = ANY({loads}) OR _closed_by_load_id = ANY({loads})){when}
