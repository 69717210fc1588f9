-- Simulated runs (run id simulated__<date>) of the given resources in [range_start, range_end) that the
-- current simulation did not write (by data day: the interval start) (e.g. a resource that became a zombie): their load ids.
SELECT load_id FROM ops.load_run
WHERE run_id LIKE 'simulated\_\_%%'
  AND resource_code = ANY(%(resource_codes)s)
  AND data_interval_start >= %(range_start)s AND data_interval_start < %(range_end)s
  AND NOT (load_id = ANY(%(keep)s));
