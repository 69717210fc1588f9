-- A consumer's view of one resource, justified by one approved sharing application
-- (baselib.sharing.grants): the row key, exactly the approved items (raw, or masked by the
-- masking functions of include/sql/ddl/050_masking.sql), the load time; over the live rows.
-- security_barrier: the consumer's own functions in a WHERE clause run only on rows the view
-- returns, after sharing.require_active has let the query through.
CREATE VIEW {view} WITH (security_barrier) AS
    SELECT {select_list}
    FROM {current_view}
    WHERE sharing.require_active({application_id}, {ends_at});
