-- The history simulator's earlier applications in the range (decided_by 'simulator'), replaced on rerun.
DELETE FROM sharing.application
WHERE decided_by = 'simulator' AND submitted_at >= %(range_start)s AND submitted_at < %(range_end)s;
