-- Sync metrics for one finished load, derived from its run record and the catalog.
INSERT INTO evaluation.sync_metrics AS m (
    load_id, provider_code, provider_name, resource_code, logical_date,
    rows_extracted, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, rows_deleted,
    quality_pass_rate, newest_source_update, loaded_at, timeliness_lag_seconds, update_cycle, within_update_cycle,
    cross_check_rates, files_delivered, files_rejected)
SELECT r.load_id, c.provider_code, c.provider_name, r.resource_code, r.logical_date,
       r.rows_extracted, r.rows_inserted, r.rows_updated, r.rows_unchanged, r.rows_quarantined, r.rows_deleted,
       CASE WHEN r.rows_extracted > 0
            THEN round((r.rows_extracted - r.rows_quarantined)::numeric / r.rows_extracted, 6) END,
       %(newest_source_update)s,
       r.finished_at,
       extract(epoch FROM r.finished_at - %(newest_source_update)s),
       c.update_cycle,
       CASE WHEN %(cycle_seconds)s IS NULL OR %(newest_source_update)s IS NULL THEN NULL
            ELSE extract(epoch FROM r.finished_at - %(newest_source_update)s) <= %(cycle_seconds)s END,
       r.cross_checks,
       r.files_new + r.files_rejected, r.files_rejected
FROM ops.load_run r
JOIN catalog.resource c ON c.resource_code = r.resource_code
WHERE r.load_id = %(load_id)s
ON CONFLICT (load_id) DO UPDATE SET
    rows_extracted = excluded.rows_extracted, rows_inserted = excluded.rows_inserted,
    rows_updated = excluded.rows_updated, rows_unchanged = excluded.rows_unchanged,
    rows_quarantined = excluded.rows_quarantined, rows_deleted = excluded.rows_deleted,
    quality_pass_rate = excluded.quality_pass_rate, newest_source_update = excluded.newest_source_update,
    loaded_at = excluded.loaded_at, timeliness_lag_seconds = excluded.timeliness_lag_seconds,
    within_update_cycle = excluded.within_update_cycle, cross_check_rates = excluded.cross_check_rates,
    files_delivered = excluded.files_delivered, files_rejected = excluded.files_rejected,
    recorded_at = now();
