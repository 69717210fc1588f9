-- Forget the rows of sharing.consumer_view whose view no longer exists (dropped by the reconcile,
-- by a resource's DDL or by hand).
DELETE FROM sharing.consumer_view AS v
WHERE NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = v.view_oid AND c.relkind = 'v');
