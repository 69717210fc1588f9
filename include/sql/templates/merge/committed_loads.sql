-- The resource's committed loads so far: a token that moves whenever a load of the resource commits
-- (its run goes to 'loaded' in the load's own transaction, then to 'success'). Validation reads it
-- before its first unchanged-row probe; the merge, under the load lock, compares: if it moved, a
-- load committed after the probes' snapshots could begin, and the rows set aside as unchanged are
-- classified again.
SELECT count(*) FROM ops.load_run WHERE resource_code = %(resource_code)s AND status IN ('loaded', 'success')
