-- A confirmed data objection (sharing.objection) is resolved by the load whose new version of its
-- key changes the item objected to. Runs after the classification and before the changes are
-- applied, while {history}'s open version of each changed key is still the version the load
-- replaces (found through the partial unique index). An open objection is not resolved by a load
-- (the provider has not confirmed it); a load that leaves the item as it was does not resolve it.
-- Items are compared as jsonb values of the same typed columns, so NULL and '' differ.
UPDATE sharing.objection AS o
SET status = 'resolved', resolved_at = %(now)s, resolved_by_load_id = %(load_id)s
FROM {changes} AS c
JOIN {history} AS h ON {key_join_hc} AND h._valid_to IS NULL
WHERE o.resource_code = %(resource_code)s
  AND o.status = 'confirmed'
  AND c._change = 'U'
  AND o.record_key = concat_ws('/', {key_columns_c})
  AND (to_jsonb(c) -> o.item_name) IS DISTINCT FROM (to_jsonb(h) -> o.item_name);
