-- Single-flight per provider: one return at a time builds, uploads and marks its entries.
SELECT pg_advisory_xact_lock(hashtext('baselib.quality_return'), hashtext(%(provider_code)s));
