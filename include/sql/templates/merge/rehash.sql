-- Open versions whose values equal the staged row but whose stored hash came from another
-- algorithm: the hash is rewritten in place, no version is made.
UPDATE {history} AS h SET _row_hash = c._row_hash
FROM {changes} AS c
WHERE c._change = 'R' AND h._valid_to IS NULL AND {key_join_hc};
