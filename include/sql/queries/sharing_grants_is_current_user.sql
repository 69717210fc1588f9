-- Whether the role named by the parameter is the role the engine runs as.
SELECT %s = current_user;
