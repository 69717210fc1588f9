-- The scope of a scoped reconcile (an incremental theme refresh): the row's refresh key is one the
-- refresh recomputed ({scope_keys}, text columns). The key cast to text keeps a text key's index usable.
  AND EXISTS (SELECT 1 FROM {scope_keys} AS s WHERE {scope_join})