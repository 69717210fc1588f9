-- Simulated runs (run id simulated__<date>) of the given resources in [range_start, range_end) that the
-- current simulation did not write (by run day: the interval end) (e.g. a resource that became a zombie): their load ids.
SELECT load_id FROM ops.load_run
WHERE run_id LIKE 'simulated\_\_%%'
  AND resource_code = ANY(%(resource_codes)s)
  AND data_interval_end >= %(range_start)s AND data_interval_end < %(range_end)s
  AND NOT (load_id = ANY(%(keep)s));
