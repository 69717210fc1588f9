-- The consumers recorded in this warehouse (sharing.consumer), as consumers.apply_roles compares them.
SELECT consumer_code, consumer_name, department_name, department_code, role_name, share_schema, active,
       password_fingerprint
FROM sharing.consumer;
