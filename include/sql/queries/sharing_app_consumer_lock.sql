-- The consumer, its row locked until the transaction ends, so that decisions about one consumer's
-- applications (approve, refuse, revoke, and the supersede an approval makes) happen one at a time.
SELECT consumer_code, active FROM sharing.consumer WHERE consumer_code = %(consumer_code)s FOR UPDATE
