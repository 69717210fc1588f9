-- First load: the SCD2 table was truncated in this transaction, so the rows go straight in,
-- frozen (no later hint-bit or freeze rewrite), with their bookkeeping columns filled in Arrow.
COPY {history} ({columns}) FROM STDIN WITH (FORMAT csv, FREEZE)
