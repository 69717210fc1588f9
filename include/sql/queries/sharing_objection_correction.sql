-- The load that already corrected an objection's value, found when the provider confirms it: the
-- row's versions in {history} (the resource's SCD2 table; {record_key}: its record key expression)
-- after the version the consumer saw, which is the one open when the objection was raised (or, raised
-- before the row's first version, that first version). A later version corrects the value when its
-- item differs from the seen one (as jsonb values of the same typed column: NULL and '' differ) or
-- it is a tombstone (_change 'D': the row deleted at the source, the value no longer served). The
-- correction is the first version from which every version corrects it (a value changed and then
-- changed back is not corrected); none when the latest version still serves the value seen.
-- Returns the load id and its instant, or no row.
WITH versions AS (
    SELECT h._valid_from, h._load_id, h._change, to_jsonb(h) -> %(item_name)s AS value
    FROM {history} AS h
    WHERE {record_key} = %(record_key)s
),
seen AS (
    SELECT _valid_from, value
    FROM (SELECT 1 AS pick, _valid_from, value FROM versions WHERE _valid_from <= %(raised_at)s
          UNION ALL
          SELECT 2, _valid_from, value FROM versions) AS candidates
    ORDER BY pick, CASE WHEN pick = 1 THEN _valid_from END DESC, _valid_from
    LIMIT 1
),
later AS (
    SELECT v._valid_from, v._load_id, (v._change = 'D' OR v.value IS DISTINCT FROM s.value) AS corrects
    FROM versions AS v, seen AS s
    WHERE v._valid_from > s._valid_from
)
SELECT _load_id, _valid_from
FROM later
WHERE corrects
  AND _valid_from > coalesce((SELECT max(_valid_from) FROM later WHERE NOT corrects), '-infinity')
ORDER BY _valid_from
LIMIT 1;
