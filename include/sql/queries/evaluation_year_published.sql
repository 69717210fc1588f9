-- The yearly sharing report: resources in the published catalog (catalog.resource), with their items.
SELECT r.resource_code, r.publish_date, r.updated_at, count(i.item_name)::bigint AS items,
       count(i.item_name) FILTER (WHERE i.is_personal)::bigint AS personal_items
FROM catalog.resource r
LEFT JOIN catalog.resource_item i ON i.resource_code = r.resource_code
GROUP BY r.resource_code, r.publish_date, r.updated_at
