-- Runs once, when the warehouse container initialises an empty data volume (after the postgis
-- image's own script, which creates postgis in POSTGRES_DB). airflow-init checks both again on
-- every start, and the engine creates postgis itself when it loads (baselib.warehouse.schema).
-- pg_stat_statements also needs shared_preload_libraries (the service's command sets it).
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
