-- A newly declared consumer. Parameters: code, name, department name and code, role, schema,
-- password fingerprint.
INSERT INTO sharing.consumer (consumer_code, consumer_name, department_name, department_code, role_name,
                              share_schema, password_fingerprint)
VALUES (%s, %s, %s, %s, %s, %s, %s);
