-- Whether use was measured at all in a period: a usage row or a usage collection in it.
-- Parameters: first_day, end_day (local dates, [first_day, end_day)).
SELECT EXISTS (SELECT 1 FROM evaluation.sharing_usage WHERE usage_date >= %(first_day)s AND usage_date < %(end_day)s)
    OR EXISTS (SELECT 1 FROM sharing.usage_collection WHERE usage_date >= %(first_day)s AND usage_date < %(end_day)s);
