-- The provider's pending objections (open: to answer; confirmed: to correct); with
-- %(unsent_only)s only those no return has carried yet.
SELECT o.objection_id, o.resource_code, coalesce(r.resource_name, '') AS resource_name, o.record_key, o.item_name,
       o.value_seen, o.value_expected, o.evidence, o.raised_at, o.answer_due_at, o.correction_due_at, o.status,
       o.return_id
FROM sharing.objection AS o
LEFT JOIN catalog.resource AS r ON r.resource_code = o.resource_code
WHERE o.provider_code = %(provider_code)s AND o.status IN ('open', 'confirmed')
  AND (NOT %(unsent_only)s OR o.return_id IS NULL)
ORDER BY o.raised_at, o.objection_id;
