-- The provider's answer to an open objection (the caller holds its row): confirmed, with the
-- correction's due time, or rejected, with the reason.
UPDATE sharing.objection
SET status = %(status)s, answered_at = %(now)s, answered_by = %(by)s, answer_reason = %(reason)s,
    correction_due_at = %(correction_due_at)s
WHERE objection_id = %(objection_id)s AND status = 'open';
