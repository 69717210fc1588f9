-- The schemas named by the parameter schemas on which PUBLIC holds CREATE (any role could plant
-- tables or functions where the engine and other consumers resolve names), per grantor.
SELECT n.nspname::text AS schema, pg_get_userbyid(a.grantor)::text AS grantor, a.grantor = n.nspowner AS by_owner
FROM pg_namespace AS n
CROSS JOIN LATERAL aclexplode(n.nspacl) AS a
WHERE n.nspname = ANY (%(schemas)s) AND a.grantee = 0 AND a.privilege_type = 'CREATE'
ORDER BY 1, 2;
