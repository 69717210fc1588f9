-- A confirmed objection whose value a load already corrected (sharing_objection_correction):
-- resolved by that load, at that load's instant.
UPDATE sharing.objection
SET status = 'resolved', resolved_at = %(resolved_at)s, resolved_by_load_id = %(load_id)s
WHERE objection_id = %(objection_id)s AND status = 'confirmed';
