-- The yearly sharing report: applications submitted in the year to a provider's resources.
-- approved: decided and not refused (an approval later revoked, expired or superseded still counts);
-- within_limit: decided before its deadline (decided_at < due_at); pending: not decided.
-- consumers_approved: the consumers with an approved application (text[]).
-- Parameters: period_start, period_end (aware timestamps, [start, end)); provider_code (NULL: all).
SELECT count(*)::bigint AS received,
       count(*) FILTER (WHERE decided_at IS NOT NULL AND status <> 'refused')::bigint AS approved,
       count(*) FILTER (WHERE status = 'refused')::bigint AS refused,
       count(*) FILTER (WHERE decided_at IS NULL)::bigint AS pending,
       count(*) FILTER (WHERE decided_at IS NOT NULL AND decided_at < due_at)::bigint AS within_limit,
       coalesce(array_agg(DISTINCT consumer_code) FILTER (WHERE decided_at IS NOT NULL AND status <> 'refused'),
                '{}') AS consumers_approved
FROM sharing.application
WHERE submitted_at >= %(period_start)s AND submitted_at < %(period_end)s
  AND (%(provider_code)s::text IS NULL OR provider_code = %(provider_code)s)
