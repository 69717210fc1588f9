-- Current certificates for downstream systems. Validity is derived at query time, never stored:
-- a certificate whose valid_to passed since the last load shows as 过期 without a source change.
-- "Today" is the calendar day in Asia/Shanghai, where the certificates are issued.
CREATE OR REPLACE VIEW {current_view} AS
    SELECT _valid_from AS loaded_at, {column_names},
           CASE
               WHEN status = '有效' AND NOT long_term AND valid_to < (now() AT TIME ZONE 'Asia/Shanghai')::date
                   THEN '过期'
               ELSE status
           END AS effective_status,
           status = '有效' AND (long_term OR valid_to >= (now() AT TIME ZONE 'Asia/Shanghai')::date) AS valid_today
    FROM {history} WHERE _valid_to IS NULL AND _deleted_at IS NULL;
