-- One simulated past application, already decided and over (status expired or refused).
INSERT INTO sharing.application
    (consumer_code, resource_code, provider_code, sharing_type, items, personal, purpose, legal_basis,
     period_start, period_end, status, submitted_at, response_limit_days, due_at, decided_at, decided_by,
     decision_reason, response_working_days)
VALUES (%(consumer_code)s, %(resource_code)s, %(provider_code)s, %(sharing_type)s, %(items)s, false, %(purpose)s,
        %(legal_basis)s, %(period_start)s, %(period_end)s, %(status)s, %(submitted_at)s, %(response_limit_days)s,
        %(due_at)s, %(decided_at)s, 'simulator', %(decision_reason)s, %(response_working_days)s);
