-- A resource's latest runs that have dimension scores, newest data day first (then newest load), for
-- `quality scores --resource`. Data day: the local date (Asia/Shanghai) of the run's data interval
-- start, else of its logical date, else of the moment it started.
-- Parameters: resource_code, runs (how many).
SELECT r.load_id, r.run_id, r.status,
       (coalesce(r.data_interval_start, r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date AS data_day,
       jsonb_object_agg(s.dimension, jsonb_build_object('score', s.score, 'grade', s.grade)) AS scores
FROM ops.load_run r
JOIN evaluation.quality_score s ON s.load_id = r.load_id
WHERE r.resource_code = %(resource_code)s
GROUP BY r.load_id
ORDER BY data_day DESC, r.load_id DESC
LIMIT %(runs)s
