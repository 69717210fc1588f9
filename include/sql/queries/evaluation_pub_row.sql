-- One key's stored indicators (evaluation.indicator), read again under the key's advisory lock so that
-- what is sent is the newest committed row, never one read before another publisher's recompute.
-- Parameters: department_code, period_kind, period (text). No row: the key was removed meanwhile.
SELECT department_code, department_name, period_kind, period, period_start, period_end,
       indicators, flags, score, grade, payload_sha256
  FROM evaluation.indicator
 WHERE department_code = %(department_code)s
   AND period_kind = %(period_kind)s
   AND period = %(period)s
