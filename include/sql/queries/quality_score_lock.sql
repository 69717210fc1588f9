-- Scoring one load is single-flight: held until the scoring transaction ends. Parameters: load_id.
SELECT pg_advisory_xact_lock(hashtext('quality_score'), hashtext(%(load_id)s::text))
