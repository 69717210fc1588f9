-- Writing a resource's trend page is single-flight: held until the transaction ends, so the page written
-- last has read every committed run. Parameters: resource_code.
SELECT pg_advisory_xact_lock(hashtext('quality_trend'), hashtext(%(resource_code)s))
