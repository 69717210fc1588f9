-- 参保人员信息 (theme_social_security.insured_person): one row per citizen ID that the
-- human-resources department holds an enrolment OR a pension payment for (a person paid without
-- any enrolment is exactly what paid_without_pension_enrolment is for), keyed and refreshed by
-- citizen_id. Parameters: none.
-- The driving rows are the two inputs' rows as a UNION ALL of two plain single-table scans, cut to
-- one row per citizen by conditions at the top level (not DISTINCT or UNION, and no subquery inside
-- an arm: PostgreSQL flattens such a UNION ALL, so the engine's filter on citizen_id reaches both
-- arms through index lookups instead of reading whole tables). Everything else
-- comes from LATERAL subqueries keyed on the citizen ID.
SELECT k.citizen_id,
       nm.name,
       en.enrolment_status,
       en.insurance_types,
       en.pension_enrolment_status,
       en.pension_status,
       pay.months_paid,
       pay.last_pay_month,
       p.registration_status,
       death.registered_at AS death_registered_at,
       pay.months_paid_after_death,
       p.id_number IS NULL AS not_in_population,
       pay.months_paid_after_death > 0 AS paid_after_death,
       coalesce(p.registration_status = '死亡' AND en.pension_status = '领取中', false) AS receiving_while_deceased,
       pay.months_paid > 0 AND en.pension_enrolment_status IS NULL AS paid_without_pension_enrolment,
       coalesce(p.name <> nm.name, false) AS name_mismatch
FROM (
    SELECT e.citizen_id, e.insurance_type AS enrolment_type, NULL::date AS pay_month
    FROM dept_human_resources.insurance_enrolment_current AS e
    UNION ALL
    SELECT pp.citizen_id, NULL::text, pp.pay_month
    FROM dept_human_resources.pension_payment_current AS pp
) AS k
-- the person's open, live version (the base view: it carries _loaded_at and _first_loaded_at)
LEFT JOIN base_population.person AS p ON p.id_number = k.citizen_id AND p._deleted_at IS NULL
-- the name of the most recently updated enrolment (NULL without any enrolment)
LEFT JOIN LATERAL (
    SELECT n.name
    FROM dept_human_resources.insurance_enrolment_current AS n
    WHERE n.citizen_id = k.citizen_id
    ORDER BY n.updated_at DESC, n.insurance_type DESC
    LIMIT 1
) AS nm ON true
-- all of the citizen's enrolments (one per insurance type), summarised; NULL without any
CROSS JOIN LATERAL (
    SELECT CASE WHEN count(*) = 0 THEN NULL
                WHEN bool_or(a.status = '参保缴费') THEN '参保缴费'
                WHEN bool_or(a.status = '暂停缴费') THEN '暂停缴费'
                ELSE '终止参保' END AS enrolment_status,
           string_agg(a.insurance_type, ',' ORDER BY a.insurance_type) FILTER (WHERE a.status <> '终止参保')
               AS insurance_types,
           CASE WHEN bool_or(a.status = '参保缴费') FILTER (WHERE a.insurance_type IN ('110', '120', '170')) THEN '参保缴费'
                WHEN bool_or(a.status = '暂停缴费') FILTER (WHERE a.insurance_type IN ('110', '120', '170')) THEN '暂停缴费'
                WHEN bool_or(true) FILTER (WHERE a.insurance_type IN ('110', '120', '170')) THEN '终止参保'
           END AS pension_enrolment_status,
           CASE WHEN bool_or(a.pension_status = '领取中') FILTER (WHERE a.insurance_type IN ('110', '120', '170')) THEN '领取中'
                WHEN bool_or(a.pension_status = '已停发') FILTER (WHERE a.insurance_type IN ('110', '120', '170')) THEN '已停发'
                WHEN bool_or(true) FILTER (WHERE a.insurance_type IN ('110', '120', '170')) THEN '未领取'
           END AS pension_status
    FROM dept_human_resources.insurance_enrolment_current AS a
    WHERE a.citizen_id = k.citizen_id
) AS en
-- when the registration became 死亡: the updated_at of the earliest version of the latest unbroken
-- run of 死亡 versions ending at the current one (NULL unless the person is 死亡 now). A version
-- that is not 死亡, or a tombstone (_change 'D': the person was deleted, its items copied), breaks
-- the run. When the open version is the key's first (_loaded_at = _first_loaded_at) it is the run.
LEFT JOIN LATERAL (
    SELECT CASE
               WHEN p._loaded_at = p._first_loaded_at THEN p.updated_at
               ELSE (SELECT h.updated_at
                     FROM base_population.person_history AS h
                     WHERE h.id_number = p.id_number
                       AND h._valid_from > coalesce((SELECT max(b._valid_from)
                                                     FROM base_population.person_history AS b
                                                     WHERE b.id_number = p.id_number
                                                       AND (b.registration_status <> '死亡' OR b._change = 'D')),
                                                    '-infinity')
                     ORDER BY h._valid_from
                     LIMIT 1)
           END AS registered_at
    WHERE p.registration_status = '死亡'
) AS death ON true
-- pension payments: months paid, the last month, and the months after the death month
CROSS JOIN LATERAL (
    SELECT count(*) AS months_paid,
           max(pp.pay_month) AS last_pay_month,
           count(*) FILTER (WHERE pp.pay_month > (date_trunc('month', death.registered_at AT TIME ZONE 'Asia/Shanghai'))::date)
               AS months_paid_after_death
    FROM dept_human_resources.pension_payment_current AS pp
    WHERE pp.citizen_id = k.citizen_id
) AS pay
-- one driving row per citizen: an enrolled citizen's enrolment of the lowest insurance type, a
-- citizen paid without any enrolment their earliest payment (scalar subqueries, not anti-joins: the
-- planner then drives the UNION ALL from the refresh key, see above)
WHERE k.enrolment_type IS NOT DISTINCT FROM (SELECT min(x.insurance_type)
                                             FROM dept_human_resources.insurance_enrolment_current AS x
                                             WHERE x.citizen_id = k.citizen_id)
  AND k.pay_month IS NOT DISTINCT FROM (CASE WHEN k.enrolment_type IS NULL
                                             THEN (SELECT min(y.pay_month)
                                                   FROM dept_human_resources.pension_payment_current AS y
                                                   WHERE y.citizen_id = k.citizen_id)
                                        END)
