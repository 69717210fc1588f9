-- The consumers an application may name (active ones), for error messages.
SELECT consumer_code FROM sharing.consumer WHERE active ORDER BY consumer_code
