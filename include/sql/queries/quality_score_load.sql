-- What scoring a load needs besides its validation result (baselib.quality.scoring.score_load).
-- extract_failed: the run stands failed and its latest recorded error was in the extract step.
-- files_delivered: the files the run found new (loaded or sent back for their rows) or rejected.
-- files_unreadable: the deliveries this load rejected at extract, i.e. could not read (status
--   rejected with no row read; a readable file sent back whole for its rows has rows_read and is not
--   an accessibility failure - its rows count in their checks' dimensions).
-- within_update_cycle: NULL when not judged (cycle 其他, no source time) or no sync metrics yet.
-- Parameters: load_id.
SELECT r.load_id, r.report_path, r.status,
       (r.status = 'failed' AND r.error_history -> -1 ->> 'step' = 'extract') AS extract_failed,
       coalesce(r.files_new, 0) + coalesce(r.files_rejected, 0) AS files_delivered,
       coalesce(r.files_rejected, 0) AS files_rejected,
       least(coalesce(r.files_rejected, 0),
             (SELECT count(*) FROM ops.file_delivery d
              WHERE d.load_id = r.load_id AND d.status = 'rejected' AND d.rows_read IS NULL))::int AS files_unreadable,
       r.files_new IS NOT NULL OR r.files_rejected IS NOT NULL AS has_files,
       m.within_update_cycle
FROM ops.load_run r
LEFT JOIN evaluation.sync_metrics m ON m.load_id = r.load_id
WHERE r.load_id = %(load_id)s
