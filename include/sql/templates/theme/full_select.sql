-- The model evaluated for every key (first, full and reconcile refreshes).
SELECT {columns_m} FROM (
{model}
) AS m
