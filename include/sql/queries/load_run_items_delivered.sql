-- Record what a load's extract delivered: {catalog item: non-null values read} (baselib.pipeline.extract).
-- Parameters: load_id, items_delivered (JSON text).
UPDATE ops.load_run SET items_delivered = %(items_delivered)s::jsonb WHERE load_id = %(load_id)s;
