-- Every run of a resource for its trend page (baselib.quality.trend), newest data day first (then newest
-- load): the run, its sync metrics (run type, timeliness) and its dimension scores as
-- {dimension: {"score", "grade"}}. The data day is the local date (Asia/Shanghai) of the run's data
-- interval start, else of its logical date, else of the moment it started: a backfilled year of history
-- loaded after a real run sorts by the days it covers, not by when it was loaded.
-- Parameters: resource_code.
SELECT r.load_id, r.run_id, r.status, r.mode,
       (coalesce(r.data_interval_start, r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date AS data_day,
       r.started_at, r.rows_extracted, r.rows_quarantined, r.report_path,
       m.run_type, m.within_update_cycle, m.timeliness_lag_seconds,
       coalesce((SELECT jsonb_object_agg(s.dimension, jsonb_build_object('score', s.score, 'grade', s.grade))
                 FROM evaluation.quality_score s WHERE s.load_id = r.load_id), '{}'::jsonb) AS scores
FROM ops.load_run r
LEFT JOIN evaluation.sync_metrics m ON m.load_id = r.load_id
WHERE r.resource_code = %(resource_code)s
ORDER BY data_day DESC, r.load_id DESC
