-- Can this server measure use? The extension's availability in the build, whether the library
-- is preloaded (it must be, to count anything), whether the collecting role may read every
-- role's statements (superuser or pg_read_all_stats), and who and where we are, for the message.
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = %(name)s) AS available,
       %(name)s = ANY (string_to_array(
           replace(replace(current_setting('shared_preload_libraries'), ' ', ''), '"', ''), ',')) AS preloaded,
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
           OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS can_read_all,
       current_database(),
       current_user;
