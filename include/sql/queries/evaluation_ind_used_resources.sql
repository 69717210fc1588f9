-- Of the given resources, those some consumer queried in a period (measured use > 0).
-- Parameters: resource_codes (text[]), first_day, end_day (local dates, [first_day, end_day)).
SELECT resource_code FROM evaluation.sharing_usage
WHERE resource_code = ANY(%(resource_codes)s) AND usage_date >= %(first_day)s AND usage_date < %(end_day)s
GROUP BY resource_code
HAVING sum(queries) > 0;
