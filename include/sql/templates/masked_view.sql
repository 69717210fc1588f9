-- What a consumer without personal-data access reads (baselib.security.masking): the consumer
-- view's columns in its order, each item with a `mask:` rule replaced by its masked value
-- (include/sql/ddl/050_masking.sql) under the same name, personal items without a rule left out.
-- Built on the current view, so an override's derived columns (include/sql/views) are kept.
CREATE OR REPLACE VIEW {masked_view} AS
    SELECT {select_list} FROM {current_view};
