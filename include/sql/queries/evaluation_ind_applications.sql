-- Sharing applications to a provider's resources (共享申请) whose response limit ends in a period: each
-- counts once, in the period holding its due_at; on time iff decided_at < due_at (the applications'
-- own rule). A limit not yet passed at %(now)s with no decision is not judged yet. Also: the mean
-- working days and hours to a decision made in the period, applications received in it, and those
-- pending past their limit at the period's end (or now, if earlier).
-- Parameters: provider_code, period_start, period_end, now (aware timestamps).
WITH a AS (
    SELECT a.*,
           a.due_at >= %(period_start)s AND a.due_at < %(period_end)s
               AND (a.decided_at IS NOT NULL OR a.due_at <= %(now)s)                 AS judged,
           a.decided_at >= %(period_start)s AND a.decided_at < %(period_end)s        AS decided_in_period
    FROM sharing.application a
    WHERE a.provider_code = %(provider_code)s
)
SELECT count(*) FILTER (WHERE submitted_at >= %(period_start)s AND submitted_at < %(period_end)s) AS received,
       count(*) FILTER (WHERE judged)                                                 AS due,
       count(*) FILTER (WHERE judged AND decided_at IS NOT NULL AND decided_at < due_at) AS on_time,
       count(*) FILTER (WHERE decided_in_period)                                      AS decided,
       avg(response_working_days) FILTER (WHERE decided_in_period)                    AS mean_working_days,
       avg(extract(epoch FROM decided_at - submitted_at) / 3600.0) FILTER (WHERE decided_in_period)
                                                                                      AS mean_hours,
       count(*) FILTER (WHERE submitted_at < least(%(period_end)s, %(now)s)
                          AND due_at <= least(%(period_end)s, %(now)s)
                          AND (decided_at IS NULL OR decided_at >= least(%(period_end)s, %(now)s)))
                                                                                      AS pending_overdue
FROM a;
