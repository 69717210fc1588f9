-- Catalog completeness of a resource with no load in the period (not due in it, e.g. a quarterly
-- resource in a month): what its latest recorded load before the period delivered. One row per given
-- resource that has one: the latest by data day (the evaluation's rule: the data interval start, else the
-- logical date, else the start), then load id.
-- Parameters: resource_codes (text[]), before (aware timestamp: the period's start).
SELECT DISTINCT ON (r.resource_code) r.load_id, r.resource_code
FROM ops.load_run r
JOIN evaluation.sync_metrics m ON m.load_id = r.load_id
WHERE r.resource_code = ANY(%(resource_codes)s::text[])
  AND coalesce(r.data_interval_start, r.logical_date, r.started_at) < %(before)s
ORDER BY r.resource_code, coalesce(r.data_interval_start, r.logical_date, r.started_at) DESC, r.load_id DESC;
