-- Which of the given resources have runs (a trend page to write). Parameters: resource_codes (text[]).
SELECT DISTINCT resource_code FROM ops.load_run WHERE resource_code = ANY(%(resource_codes)s)
