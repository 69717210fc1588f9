-- Role memberships that involve the roles in the parameter roles: the groups they belong to, and the roles
-- that belong to them.
SELECT g.rolname AS group_name, m.rolname AS member_name, am.admin_option
FROM pg_auth_members AS am
JOIN pg_roles AS g ON g.oid = am.roleid
JOIN pg_roles AS m ON m.oid = am.member
WHERE g.rolname = ANY (%(roles)s) OR m.rolname = ANY (%(roles)s)
ORDER BY 1, 2;
