-- Live keys a full extract no longer holds: what a reconcile flags deleted.
-- {extracted_keys} holds every key of the extract, quarantined rows included. A key loaded since the
-- extract began (by a run that overlapped this one) is never judged by this extract, which may
-- have read the source before the key existed there. The scope line below is empty, or (an incremental theme
-- refresh) only rows whose refresh key the refresh recomputed (templates/merge/in_scope).
SELECT {key_columns_h} FROM {history} AS h
WHERE h._valid_to IS NULL
  AND h._deleted_at IS NULL
  AND h._valid_from < %(extract_started)s
{scope}
  AND NOT EXISTS (SELECT 1 FROM {extracted_keys} AS k WHERE {key_join_hk})
