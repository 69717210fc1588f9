-- An application's personal flag and when its access ends (00:00 in the zone on the day after
-- period_end). Parameters: zone, application_id.
SELECT personal, ((period_end + 1)::timestamp AT TIME ZONE %(zone)s) AS ends_at
FROM sharing.application WHERE application_id = %(application_id)s;
