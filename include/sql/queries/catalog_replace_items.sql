-- Replace a resource's items from a JSON array (only called when the entry changed).
DELETE FROM catalog.resource_item WHERE resource_code = %(resource_code)s;
INSERT INTO catalog.resource_item
    (resource_code, position, item_name, item_label, data_type, length, nullable, is_key, is_personal)
SELECT %(resource_code)s, i.position, i.name, i.label, i.type, i.length, i.nullable, i.key, i.personal
FROM jsonb_to_recordset(%(items)s::jsonb) AS i(
    position integer, name text, label text, type text, length integer,
    nullable boolean, key boolean, personal boolean);
