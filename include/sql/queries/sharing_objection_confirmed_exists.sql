-- Whether the resource has a confirmed objection waiting for a load (partial index objection_confirmed).
SELECT EXISTS (SELECT 1 FROM sharing.objection WHERE resource_code = %(resource_code)s AND status = 'confirmed');
