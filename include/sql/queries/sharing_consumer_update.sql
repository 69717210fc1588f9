-- A declared consumer as the consumers file states it now (active again). Parameters: name,
-- department name and code, role, schema, password fingerprint, code.
UPDATE sharing.consumer
SET consumer_name = %s, department_name = %s, department_code = %s, role_name = %s, share_schema = %s,
    active = true, password_fingerprint = %s, updated_at = now()
WHERE consumer_code = %s;
