-- Sync metrics for one finished load, derived from its run record and the catalog.
-- Timeliness is judged at the time the data was due, never at the time the platform happened to load it
-- (a backfill, a cleared old run or a manual run of a past day is judged at its own day):
--   judged_at = least(finished_at, coalesce(data_interval_end, logical_date)), else finished_at;
--   newest    = the newest source update the provider had by judged_at, never a later one:
--               for a file drop (%(delivery_based)s) the newest loaded delivery whose modification time
--               (else first sight) is at or before judged_at; for a table, API or model source the
--               newest of %(newest_source_update)s (what this run saw), the newest source update any
--               load of the resource saw (ops.load_run.max_source_updated_at) and its watermark, among
--               those at or before judged_at (a backfill of a quiet day gets the data of that day,
--               not the watermark of days loaded since);
--   timeliness_lag_seconds = greatest(0, judged_at - newest); within_update_cycle = lag <= the cycle.
-- run_type: the Airflow run id's prefix (scheduled__ / backfill__ / manual__ / asset_triggered__, Airflow 2's
-- dataset_triggered__ counted as asset_triggered), else 'other'.
-- Parameters: load_id, newest_source_update, delivery_based, cycle_seconds (NULL: 其他, not judged).
WITH r AS (
    SELECT r.*,
           CASE WHEN coalesce(r.data_interval_end, r.logical_date) IS NOT NULL AND r.finished_at IS NOT NULL
                THEN least(r.finished_at, coalesce(r.data_interval_end, r.logical_date))
                ELSE coalesce(r.finished_at, now()) END AS judged_at,
           CASE WHEN r.run_id LIKE 'scheduled\_\_%%' THEN 'scheduled'
                WHEN r.run_id LIKE 'backfill\_\_%%' THEN 'backfill'
                WHEN r.run_id LIKE 'manual\_\_%%' THEN 'manual'
                WHEN r.run_id LIKE 'asset\_triggered\_\_%%' OR r.run_id LIKE 'dataset\_triggered\_\_%%'
                     THEN 'asset_triggered'
                ELSE 'other' END AS run_type
    FROM ops.load_run r
    WHERE r.load_id = %(load_id)s
), n AS (
    SELECT r.*,
           CASE WHEN %(delivery_based)s
                THEN (SELECT max(coalesce(d.modified_at, d.first_seen_at)) FROM ops.file_delivery d
                      WHERE d.resource_code = r.resource_code AND d.status = 'loaded'
                        AND coalesce(d.modified_at, d.first_seen_at) <= r.judged_at)
                ELSE (SELECT max(seen.at) FROM (
                          SELECT %(newest_source_update)s::timestamptz AS at
                          UNION ALL
                          SELECT l.max_source_updated_at FROM ops.load_run l
                          WHERE l.resource_code = r.resource_code
                          UNION ALL
                          SELECT w.value FROM ops.watermark w WHERE w.resource_code = r.resource_code
                      ) seen WHERE seen.at <= r.judged_at) END AS newest
    FROM r
), j AS (
    SELECT n.*, greatest(0, extract(epoch FROM n.judged_at - n.newest))::double precision AS lag
    FROM n
)
INSERT INTO evaluation.sync_metrics AS m (
    load_id, provider_code, provider_name, resource_code, logical_date,
    rows_extracted, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, rows_deleted,
    quality_pass_rate, newest_source_update, loaded_at, timeliness_lag_seconds, update_cycle, within_update_cycle,
    cross_check_rates, files_delivered, files_rejected, judged_at, run_type)
SELECT j.load_id, c.provider_code, c.provider_name, j.resource_code, j.logical_date,
       j.rows_extracted, j.rows_inserted, j.rows_updated, j.rows_unchanged, j.rows_quarantined, j.rows_deleted,
       CASE WHEN j.rows_extracted > 0
            THEN round((j.rows_extracted - j.rows_quarantined)::numeric / j.rows_extracted, 6) END,
       j.newest,
       j.finished_at,
       j.lag,
       c.update_cycle,
       CASE WHEN %(cycle_seconds)s IS NULL OR j.newest IS NULL THEN NULL ELSE j.lag <= %(cycle_seconds)s END,
       j.cross_checks,
       j.files_new + j.files_rejected, j.files_rejected,
       j.judged_at, j.run_type
FROM j
JOIN catalog.resource c ON c.resource_code = j.resource_code
ON CONFLICT (load_id) DO UPDATE SET
    rows_extracted = excluded.rows_extracted, rows_inserted = excluded.rows_inserted,
    rows_updated = excluded.rows_updated, rows_unchanged = excluded.rows_unchanged,
    rows_quarantined = excluded.rows_quarantined, rows_deleted = excluded.rows_deleted,
    quality_pass_rate = excluded.quality_pass_rate, newest_source_update = excluded.newest_source_update,
    loaded_at = excluded.loaded_at, timeliness_lag_seconds = excluded.timeliness_lag_seconds,
    within_update_cycle = excluded.within_update_cycle, cross_check_rates = excluded.cross_check_rates,
    files_delivered = excluded.files_delivered, files_rejected = excluded.files_rejected,
    judged_at = excluded.judged_at, run_type = excluded.run_type,
    recorded_at = now();
