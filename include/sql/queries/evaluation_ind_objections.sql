-- A provider's objection limits (数据异议) whose deadline falls in a period: each answer limit
-- (answer_due_at) and each correction limit of a confirmed objection (correction_due_at) counts once, in
-- the period holding its deadline; on time as evaluation.objection_outcome counts it (answered_at <=
-- answer_due_at, resolved_at <= correction_due_at). A deadline not yet passed at %(now)s with nothing done
-- is not judged yet. Parameters: provider_code, period_start, period_end, now (aware timestamps).
WITH o AS (
    SELECT s.*,
           s.answer_due_at >= %(period_start)s AND s.answer_due_at < %(period_end)s
               AND (s.answered_at IS NOT NULL OR s.answer_due_at <= %(now)s)                       AS answer_judged,
           s.status IN ('confirmed', 'resolved')
               AND s.correction_due_at >= %(period_start)s AND s.correction_due_at < %(period_end)s
               AND (s.resolved_at IS NOT NULL OR s.correction_due_at <= %(now)s)                   AS correction_judged
    FROM sharing.objection_status s
    WHERE s.provider_code = %(provider_code)s
)
SELECT count(*) FILTER (WHERE raised_at >= %(period_start)s AND raised_at < %(period_end)s)        AS raised,
       count(*) FILTER (WHERE answer_judged)                                                       AS answers_due,
       count(*) FILTER (WHERE answer_judged AND answered_at IS NOT NULL AND answered_at <= answer_due_at)
                                                                                                   AS answered_on_time,
       count(*) FILTER (WHERE correction_judged)                                                   AS corrections_due,
       count(*) FILTER (WHERE correction_judged AND status = 'resolved' AND resolved_at <= correction_due_at)
                                                                                                   AS corrected_on_time,
       avg(hours_to_answer) FILTER (WHERE answered_at >= %(period_start)s AND answered_at < %(period_end)s)
                                                                                                   AS mean_hours_to_answer
FROM o;
