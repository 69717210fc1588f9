-- Single-flight per evaluation period: one computation of a period's indicators at a time.
SELECT pg_advisory_xact_lock(hashtext('evaluation.indicator:' || %(period_kind)s || ':' || %(period)s));
