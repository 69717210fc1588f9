-- A new, open objection; returns its id.
INSERT INTO sharing.objection (consumer_code, resource_code, provider_code, record_key, row_key, item_name,
                               value_seen, value_expected, evidence, status, raised_at, answer_due_at)
VALUES (%(consumer_code)s, %(resource_code)s, %(provider_code)s, %(record_key)s, %(row_key)s, %(item_name)s,
        %(value_seen)s, %(value_expected)s, %(evidence)s, 'open', %(raised_at)s, %(answer_due_at)s)
RETURNING objection_id;
