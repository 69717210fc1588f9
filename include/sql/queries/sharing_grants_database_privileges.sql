-- Privileges on this database beyond CONNECT (CREATE: new schemas; TEMPORARY: temporary tables
-- and views, which a consumer could read shared data through unmeasured) held by the roles named
-- by the parameter roles or by PUBLIC (include_public), the built-in defaults included (a NULL
-- datacl means PUBLIC holds CONNECT and TEMPORARY); with the grantor and whether it is the owner.
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS grantee,
       a.privilege_type, pg_get_userbyid(a.grantor)::text AS grantor, a.grantor = d.datdba AS by_owner
FROM pg_database AS d
CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a
WHERE d.datname = current_database() AND a.privilege_type <> 'CONNECT'
  AND ((a.grantee = 0 AND %(include_public)s) OR (a.grantee <> 0 AND pg_get_userbyid(a.grantee) = ANY (%(roles)s)))
ORDER BY 1, 2, 3;
