-- Whether the resource has a committed load (the provider has published its data).
SELECT EXISTS (SELECT 1 FROM ops.committed_load WHERE resource_code = %(resource_code)s)
