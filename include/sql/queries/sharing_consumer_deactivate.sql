-- A consumer no longer declared: inactive (it keeps its history). Parameter: its code.
UPDATE sharing.consumer SET active = false, updated_at = now() WHERE consumer_code = %s;
