-- Record what the engine made a consumer view from (sharing.consumer_view): parameters view
-- (qualified name), application_id, resource_code, fingerprint, definition_md5.
INSERT INTO sharing.consumer_view (view_oid, view_name, application_id, resource_code, fingerprint, definition_md5)
VALUES (to_regclass(%(view)s)::oid, %(view)s, %(application_id)s, %(resource_code)s, %(fingerprint)s,
        %(definition_md5)s)
ON CONFLICT (view_oid) DO UPDATE
SET view_name = excluded.view_name, application_id = excluded.application_id,
    resource_code = excluded.resource_code, fingerprint = excluded.fingerprint,
    definition_md5 = excluded.definition_md5, made_at = now();
