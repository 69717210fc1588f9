-- Tables, views and sequences in the schemas named by the parameter schemas on which PUBLIC holds a privilege, on the
-- relation or on one of its columns: what every role, consumers included, could read; per grantor
-- (a grant made by a role other than the owner is only revoked by that role), with whether the
-- grantor is the owner.
SELECT format('%%I.%%I', n.nspname, c.relname) AS object,
       CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'relation' END AS kind,
       string_agg(DISTINCT a.privilege_type, ', ') AS privileges,
       pg_get_userbyid(a.grantor)::text AS grantor, a.grantor = c.relowner AS by_owner
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute AS att ON att.attrelid = c.oid AND att.attnum > 0 AND att.attacl IS NOT NULL
CROSS JOIN LATERAL (SELECT * FROM aclexplode(c.relacl) UNION ALL SELECT * FROM aclexplode(att.attacl)) AS a
WHERE n.nspname = ANY (%(schemas)s) AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S') AND a.grantee = 0
GROUP BY n.nspname, c.relname, c.relkind, a.grantor, c.relowner
ORDER BY 1, 4;
