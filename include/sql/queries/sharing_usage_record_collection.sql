-- One row per collection (sharing.usage_collection).
INSERT INTO sharing.usage_collection
    (collected_at, usage_date, stats_reset, reset_detected, statements, counted, skipped, usage_rows, run_id)
VALUES (%(now)s, %(usage_date)s, %(stats_reset)s, %(reset)s, %(statements)s, %(counted)s, %(skipped)s,
        %(usage_rows)s, %(run_id)s);
