-- pg_stat_statements_info.stats_reset as the previous collection saw it (no row: first collection).
SELECT stats_reset FROM sharing.usage_collection ORDER BY collection_id DESC LIMIT 1;
