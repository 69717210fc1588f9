-- Single flight per publication key: held until the transaction that records the key's final state
-- commits. Parameters: key (text, 'department/kind/period').
SELECT pg_advisory_xact_lock(hashtext('evaluation.publication'), hashtext(%(key)s))
