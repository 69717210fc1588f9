-- Refresh keys whose input rows crossed an age boundary since the last refresh: open, live input
-- versions whose `column + after` falls in (lower, upper]. The first pair of conditions is a
-- slightly wider, index-friendly range on the column itself (month arithmetic is not exactly
-- invertible: 29 February + 1 year); the second pair is the exact test.
SELECT {columns} FROM {history}
WHERE _valid_to IS NULL AND _deleted_at IS NULL{when}
  AND {column} > {lower_local} - {after} - interval '3 days'
  AND {column} <= {upper_local} - {after} + interval '3 days'
  AND {instant} > {lower}
  AND {instant} <= {upper}
