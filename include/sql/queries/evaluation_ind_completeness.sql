-- Of a resource's catalogued items, how many rows live at an instant hold a value: one count per item.
-- {counts}: count(<item>) per item, composed by baselib.evaluation.indicators; {history}: the SCD2 table.
-- Live at %(at)s: the version opened before it and not closed before it, not a deletion tombstone.
SELECT count(*), {counts}
FROM {history}
WHERE _valid_from < %(at)s AND (_valid_to IS NULL OR _valid_to >= %(at)s) AND _change <> 'D';
