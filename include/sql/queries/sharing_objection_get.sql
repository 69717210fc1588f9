-- One objection, columns in the order of baselib.sharing.objections.Objection (the caller may
-- append FOR UPDATE: no semicolon here).
SELECT objection_id, consumer_code, resource_code, provider_code, record_key, row_key, item_name, value_seen,
       value_expected, evidence, status, raised_at, answer_due_at, answered_at, answered_by, answer_reason,
       correction_due_at, resolved_at, resolved_by_load_id
FROM sharing.objection
WHERE objection_id = %(objection_id)s
