-- One workbook dropped into a provider's return folder.
INSERT INTO ops.quality_return (provider_code, uri, quarantine_entries, objections, run_id)
VALUES (%(provider_code)s, %(uri)s, %(quarantine_entries)s, %(objections)s, %(run_id)s)
RETURNING return_id, created_at;
