-- 死亡后发放养老金核查清单 (theme_social_security.pension_after_death): one row per pension payment
-- (citizen_id, pay_month) for a month after the month in which the person's registration in the
-- population library became 死亡. Refreshed by citizen_id. Parameters: none.
-- The registration "became 死亡" at the updated_at of the earliest version of the latest unbroken
-- run of 死亡 versions in base_population.person_history ending at the current open version (a
-- version that is not 死亡, or a tombstone — _change 'D', the person deleted — breaks the run); a
-- payment is after death when pay_month is later than that instant's month in Asia/Shanghai.
-- The person is read from the base view (open versions, with _loaded_at and _first_loaded_at): when
-- the open version is the key's first (_loaded_at = _first_loaded_at) it is the whole run and the
-- history is not read.
-- The list goes to the human-resources department: from the population library it takes only the
-- registration facts (死亡, when, the registered division); the name is the department's own, from
-- its most recently updated enrolment (NULL when it has none), never the population library's.
SELECT p.id_number AS citizen_id,
       pp.pay_month,
       nm.name,
       p.division_code,
       death.registered_at AS death_registered_at,
       death.death_month,
       ((extract(year FROM pp.pay_month) - extract(year FROM death.death_month)) * 12
        + extract(month FROM pp.pay_month) - extract(month FROM death.death_month))::bigint AS months_after_death,
       pp.amount,
       pp.paid_on
FROM base_population.person AS p
-- OFFSET 0 keeps the inner subquery from being inlined into each use of registered_at, so the
-- history is read once per person, not once per reference
CROSS JOIN LATERAL (
    SELECT d.registered_at,
           (date_trunc('month', d.registered_at AT TIME ZONE 'Asia/Shanghai'))::date AS death_month
    FROM (SELECT CASE
                     WHEN p._loaded_at = p._first_loaded_at THEN p.updated_at
                     ELSE (SELECT h.updated_at
                           FROM base_population.person_history AS h
                           WHERE h.id_number = p.id_number
                             AND h._valid_from > coalesce((SELECT max(b._valid_from)
                                                           FROM base_population.person_history AS b
                                                           WHERE b.id_number = p.id_number
                                                             AND (b.registration_status <> '死亡'
                                                                  OR b._change = 'D')),
                                                          '-infinity')
                           ORDER BY h._valid_from
                           LIMIT 1)
                 END AS registered_at
          OFFSET 0) AS d
) AS death
JOIN dept_human_resources.pension_payment_current AS pp
    ON pp.citizen_id = p.id_number AND pp.pay_month > death.death_month
-- the department's own record of the name
LEFT JOIN LATERAL (
    SELECT n.name
    FROM dept_human_resources.insurance_enrolment_current AS n
    WHERE n.citizen_id = p.id_number
    ORDER BY n.updated_at DESC, n.insurance_type DESC
    LIMIT 1
) AS nm ON true
WHERE p.registration_status = '死亡'
  AND p._deleted_at IS NULL
