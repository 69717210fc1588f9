-- Catalog completeness's fallback for loads recorded before ops.load_run.items_delivered existed: of a
-- resource's catalogued items, how many row versions those loads wrote hold a value: one count per item.
-- {counts}: count(<item>) per item, composed by baselib.evaluation.indicators; {history}: the SCD2 table.
-- Row versions written by %(load_ids)s (bigint[]), whether still live or since closed, not deletion tombstones.
SELECT count(*), {counts}
FROM {history}
WHERE _load_id = ANY(%(load_ids)s::bigint[]) AND _change <> 'D';
