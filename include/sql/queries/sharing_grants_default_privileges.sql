-- Default privileges (ALTER DEFAULT PRIVILEGES, pg_default_acl) that give the roles named by the
-- parameter roles (consumer roles, the sharing_consumer group) anything, in any schema or for all
-- schemas, and those that give PUBLIC anything in the schemas named by the parameter schemas (the
-- global defaults PostgreSQL gives PUBLIC on functions and types are not rows here). owner: whose
-- future objects they apply to; schema NULL: all schemas; objtype: r tables, S sequences,
-- f functions, T types, n schemas; grantee 'PUBLIC' for PUBLIC.
SELECT pg_get_userbyid(d.defaclrole)::text AS owner, n.nspname::text AS schema, d.defaclobjtype::text AS objtype,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS grantee,
       string_agg(DISTINCT a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
FROM pg_default_acl AS d
LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a
WHERE (a.grantee <> 0 AND pg_get_userbyid(a.grantee) = ANY (%(roles)s))
   OR (a.grantee = 0 AND n.nspname = ANY (%(schemas)s))
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;
