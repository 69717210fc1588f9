-- The opaque row key of a consumer without personal-data approval on a resource whose key is
-- personal: hex SHA-256 of the warehouse's secret, the consumer code and the record key. Stable
-- for the consumer, different for every consumer, not reversible without the secret.
encode(sha256(convert_to((SELECT s.secret FROM sharing.row_key_secret AS s) || '|' || {consumer_code} || '|' || {record_key}, 'UTF8')), 'hex')
