-- Indexes on the loads that opened and closed an input's versions: a theme refresh reads the
-- versions of the input loads it has not consumed yet (templates/theme/changed_keys).
CREATE INDEX IF NOT EXISTS {opened_name} ON {history} (_load_id);
CREATE INDEX IF NOT EXISTS {closed_name} ON {history} (_closed_by_load_id) WHERE _closed_by_load_id IS NOT NULL
