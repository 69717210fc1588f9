-- The resource codes of the published catalog entries whose targets a theme reads.
SELECT target_table, resource_code FROM catalog.resource WHERE target_table = ANY(%(tables)s)
