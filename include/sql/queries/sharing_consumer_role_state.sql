-- A consumer role's state: login, connection limit, its settings (ALTER ROLE … SET, all databases),
-- the attributes a consumer never has, and its settings for this database only (ALTER ROLE … IN
-- DATABASE). Parameter: the role name. No row: the role does not exist.
SELECT r.rolcanlogin, r.rolconnlimit, coalesce(r.rolconfig, '{}') AS config,
       r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
       coalesce((SELECT s.setconfig FROM pg_db_role_setting AS s
                 JOIN pg_database AS d ON d.oid = s.setdatabase
                 WHERE s.setrole = r.oid AND d.datname = current_database()), '{}') AS database_config
FROM pg_roles AS r WHERE r.rolname = %s;
