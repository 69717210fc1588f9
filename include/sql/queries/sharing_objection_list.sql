-- Objections in the order raised, filtered by provider, consumer and status; 'overdue' is open at
-- or after answer_due_at, or confirmed at or after correction_due_at, judged at the given instant.
-- Columns as sharing_objection_get.
SELECT objection_id, consumer_code, resource_code, provider_code, record_key, row_key, item_name, value_seen,
       value_expected, evidence, status, raised_at, answer_due_at, answered_at, answered_by, answer_reason,
       correction_due_at, resolved_at, resolved_by_load_id
FROM sharing.objection
WHERE (%(provider_code)s::text IS NULL OR provider_code = %(provider_code)s)
  AND (%(consumer_code)s::text IS NULL OR consumer_code = %(consumer_code)s)
  AND (%(status)s::text IS NULL
       OR status = %(status)s
       OR (%(status)s = 'overdue' AND ((status = 'open' AND %(now)s >= answer_due_at)
                                      OR (status = 'confirmed' AND %(now)s >= correction_due_at))))
ORDER BY objection_id;
