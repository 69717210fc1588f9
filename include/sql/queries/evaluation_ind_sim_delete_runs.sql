-- Remove simulated runs (and what was recorded for them) by load id.
WITH s AS (DELETE FROM evaluation.quality_score WHERE load_id = ANY(%(load_ids)s)),
     m AS (DELETE FROM evaluation.sync_metrics WHERE load_id = ANY(%(load_ids)s))
DELETE FROM ops.load_run WHERE load_id = ANY(%(load_ids)s) AND run_id LIKE 'simulated\_\_%%';
