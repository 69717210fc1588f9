-- Every privilege held in this database by the roles named in the parameter roles (consumer roles and the
-- sharing_consumer group): on relations (tables, views, sequences, …), single columns, schemas
-- and routines, with whether it was granted WITH GRANT OPTION, by whom (grantor), and whether
-- that is the object's owner (a grant made by another role holding the grant option is only
-- revoked by that role). The owner's implicit privileges are not listed. object: the qualified
-- name, quoted; for a routine its signature (regprocedure).
SELECT r.rolname AS grantee,
       CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'relation' END AS kind,
       format('%%I.%%I', n.nspname, c.relname) AS object, NULL::text AS column_name,
       a.privilege_type, a.is_grantable, pg_get_userbyid(a.grantor)::text AS grantor, a.grantor = c.relowner AS by_owner
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) AS a
JOIN pg_roles AS r ON r.oid = a.grantee
WHERE r.rolname = ANY (%(roles)s)
UNION ALL
SELECT r.rolname, 'column', format('%%I.%%I', n.nspname, c.relname), att.attname::text,
       a.privilege_type, a.is_grantable, pg_get_userbyid(a.grantor)::text, a.grantor = c.relowner
FROM pg_attribute AS att
JOIN pg_class AS c ON c.oid = att.attrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(att.attacl) AS a
JOIN pg_roles AS r ON r.oid = a.grantee
WHERE r.rolname = ANY (%(roles)s) AND att.attnum > 0 AND NOT att.attisdropped
UNION ALL
SELECT r.rolname, 'schema', format('%%I', n.nspname), NULL, a.privilege_type, a.is_grantable,
       pg_get_userbyid(a.grantor)::text, a.grantor = n.nspowner
FROM pg_namespace AS n
CROSS JOIN LATERAL aclexplode(n.nspacl) AS a
JOIN pg_roles AS r ON r.oid = a.grantee
WHERE r.rolname = ANY (%(roles)s)
UNION ALL
SELECT r.rolname, 'routine', p.oid::regprocedure::text, NULL, a.privilege_type, a.is_grantable,
       pg_get_userbyid(a.grantor)::text, a.grantor = p.proowner
FROM pg_proc AS p
CROSS JOIN LATERAL aclexplode(p.proacl) AS a
JOIN pg_roles AS r ON r.oid = a.grantee
WHERE r.rolname = ANY (%(roles)s)
ORDER BY 1, 2, 3, 4, 5, 7;
