-- The exported objections carry the return that sent them (their status is the objection process's).
UPDATE sharing.objection
SET return_id = %(return_id)s
WHERE objection_id = ANY(%(ids)s) AND return_id IS NULL
RETURNING objection_id;
