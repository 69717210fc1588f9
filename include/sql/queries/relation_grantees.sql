-- Roles holding any privilege on a relation (table-level or on one of its columns), other than
-- its owner and PUBLIC. Parameter: the relation's qualified name, twice.
SELECT r.rolname
FROM pg_class AS c
CROSS JOIN LATERAL aclexplode(c.relacl) AS a
JOIN pg_roles AS r ON r.oid = a.grantee
WHERE c.oid = to_regclass(%s) AND a.grantee <> c.relowner
UNION
SELECT r.rolname
FROM pg_attribute AS att
JOIN pg_class AS c ON c.oid = att.attrelid
CROSS JOIN LATERAL aclexplode(att.attacl) AS a
JOIN pg_roles AS r ON r.oid = a.grantee
WHERE att.attrelid = to_regclass(%s) AND a.grantee <> c.relowner
ORDER BY 1;
