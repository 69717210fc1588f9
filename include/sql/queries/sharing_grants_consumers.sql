-- The consumers of this warehouse (sharing.consumer), with whether their role exists and can log
-- in. The parameter consumer (NULL: all) narrows the result.
SELECT c.consumer_code, c.consumer_name, c.department_name, c.role_name, c.share_schema, c.active,
       r.oid IS NOT NULL AS role_exists, coalesce(r.rolcanlogin, false) AS can_login
FROM sharing.consumer AS c
LEFT JOIN pg_roles AS r ON r.rolname = c.role_name
WHERE %(consumer)s::text IS NULL OR c.consumer_code = %(consumer)s::text
ORDER BY c.consumer_code;
