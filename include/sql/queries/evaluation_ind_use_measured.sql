-- The last local day of a period on which use was measured (a usage row or a usage collection that day);
-- NULL: use was not measured at all in the period.
-- Parameters: first_day, end_day (local dates, [first_day, end_day)).
SELECT greatest(
    (SELECT max(usage_date) FROM evaluation.sharing_usage WHERE usage_date >= %(first_day)s AND usage_date < %(end_day)s),
    (SELECT max(usage_date) FROM sharing.usage_collection WHERE usage_date >= %(first_day)s AND usage_date < %(end_day)s));
