-- 企业信用画像 (theme_credit.enterprise_credit_profile): one row per live registrant of the
-- legal-entity library, keyed and refreshed by credit_code.
-- Parameters: %(as_of_date)s (date of the run's as-of instant in Asia/Shanghai), %(grade_rules)s
-- (jsonb: the ordered rules of the catalog entry) and %(default_grade)s.
-- Written "driving table + LATERAL subqueries keyed on le.credit_code" so that the engine's filter
-- on the refresh key (credit_code IN <affected keys>) reaches every input through an index lookup
-- on its key column instead of aggregating whole tables.
SELECT le.credit_code,
       le.entity_name,
       le.status AS entity_status,
       le.division_code,
       pen.penalty_count_3y,
       pen.penalty_amount_3y,
       dd.dishonest_case_count > 0 AS on_dishonest_list,
       dd.dishonest_case_count,
       tax.rating AS tax_rating,
       tax.rating_year AS tax_rating_year,
       cert.valid_certificate_count,
       coalesce(grade.grade, %(default_grade)s::text) AS credit_grade,
       coalesce(grade.rule_name, '默认') AS credit_grade_rule
FROM base_legal_entity.legal_entity_current AS le
-- penalties decided in the 3 years up to the as-of date. Both edges are written exactly as the
-- entry's `ages` instants (decision_date + 0 days: the penalty enters; decision_date + 3 years: it
-- leaves), so a penalty changes window on the very as-of date the engine recomputes its key, also
-- for a decision of 29 February (+ 3 years = 28 February; "as_of_date - 3 years" would differ).
CROSS JOIN LATERAL (
    SELECT count(*) AS penalty_count_3y,
           coalesce(sum(ap.penalty_amount), 0)::numeric(20, 2) AS penalty_amount_3y
    FROM dept_market_regulation.administrative_penalty_current AS ap
    WHERE ap.party_credit_code = le.credit_code
      AND ap.decision_date + interval '3 years' > %(as_of_date)s::date
      AND ap.decision_date <= %(as_of_date)s::date
) AS pen
-- cases on the dishonest-debtor list now, registered under the credit code (type 001)
CROSS JOIN LATERAL (
    SELECT count(*) AS dishonest_case_count
    FROM dept_court.dishonest_debtor_current AS d
    WHERE d.party_code = le.credit_code
      AND d.party_code_type = '001'
      AND d.status = '在列'
) AS dd
-- the latest rating year's rating
LEFT JOIN LATERAL (
    SELECT t.rating, t.rating_year
    FROM dept_tax.tax_credit_rating_current AS t
    WHERE t.credit_code = le.credit_code
    ORDER BY t.rating_year DESC
    LIMIT 1
) AS tax ON true
-- certificates held under the credit code that are valid on the as-of date (not now(): the
-- certificate view's valid_today would make the theme depend on when it is read): in force from
-- valid_from (age valid_from + 0 days) through valid_to (age valid_to + 1 day), or long-term
CROSS JOIN LATERAL (
    SELECT count(*) AS valid_certificate_count
    FROM base_e_certificate.certificate_current AS c
    WHERE c.holder_code = le.credit_code
      AND c.holder_code_type = '001'
      AND c.status = '有效'
      AND c.valid_from <= %(as_of_date)s::date
      AND (c.long_term OR c.valid_to + interval '1 day' > %(as_of_date)s::date)
) AS cert
-- the first grade rule (in catalog order) whose every given condition holds
LEFT JOIN LATERAL (
    SELECT r.rule ->> 'grade' AS grade, r.rule ->> 'name' AS rule_name
    FROM jsonb_array_elements(%(grade_rules)s::jsonb) WITH ORDINALITY AS r (rule, n)
    WHERE (r.rule -> 'on_dishonest_list' IS NULL
           OR (r.rule ->> 'on_dishonest_list')::boolean = (dd.dishonest_case_count > 0))
      AND (r.rule -> 'status_in' IS NULL OR r.rule -> 'status_in' @> to_jsonb(le.status::text))
      AND (r.rule -> 'tax_rating_in' IS NULL
           OR r.rule -> 'tax_rating_in' @> coalesce(to_jsonb(tax.rating::text), 'null'::jsonb))
      AND (r.rule -> 'min_penalty_count' IS NULL OR pen.penalty_count_3y >= (r.rule ->> 'min_penalty_count')::bigint)
      AND (r.rule -> 'max_penalty_count' IS NULL OR pen.penalty_count_3y <= (r.rule ->> 'max_penalty_count')::bigint)
      AND (r.rule -> 'min_penalty_amount' IS NULL
           OR pen.penalty_amount_3y >= (r.rule ->> 'min_penalty_amount')::numeric)
      AND (r.rule -> 'max_penalty_amount' IS NULL
           OR pen.penalty_amount_3y <= (r.rule ->> 'max_penalty_amount')::numeric)
      AND (r.rule -> 'min_valid_certificates' IS NULL
           OR cert.valid_certificate_count >= (r.rule ->> 'min_valid_certificates')::bigint)
      AND (r.rule -> 'max_valid_certificates' IS NULL
           OR cert.valid_certificate_count <= (r.rule ->> 'max_valid_certificates')::bigint)
    ORDER BY r.n
    LIMIT 1
) AS grade ON true
-- Guard, evaluated once (an uncorrelated subquery): a rule with a key that is not a documented
-- condition, or without a grade, fails the run with that key in the message instead of being
-- silently ignored (the cast of the message to boolean raises "invalid input syntax").
WHERE (SELECT coalesce(bool_and(
               CASE WHEN k.key IN ('name', 'grade', 'on_dishonest_list', 'status_in', 'tax_rating_in',
                                   'min_penalty_count', 'max_penalty_count', 'min_penalty_amount',
                                   'max_penalty_amount', 'min_valid_certificates', 'max_valid_certificates')
                         AND r.rule -> 'grade' IS NOT NULL
                    THEN true
                    ELSE ('grade_rules[' || r.n || ']: unknown condition ' || k.key || ' or no grade')::boolean
               END), true)
       FROM jsonb_array_elements(%(grade_rules)s::jsonb) WITH ORDINALITY AS r (rule, n)
       CROSS JOIN LATERAL jsonb_object_keys(r.rule) AS k (key))
