-- The schema's reader role reads the whole masked view (SELECT * works); it is granted no raw
-- personal column anywhere (templates/grants gives it only the non-personal columns of the
-- current view). Nobody else reads the masked view unless granted here.
REVOKE ALL ON {masked_view} FROM PUBLIC;
GRANT SELECT ON {masked_view} TO {reader};
