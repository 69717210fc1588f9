-- One sharing application's state, to say why a view it justified goes. Parameter: its id.
SELECT application_id, status, period_end, superseded_by, revoke_reason, consumer_code, resource_code
FROM sharing.application WHERE application_id = %s;
