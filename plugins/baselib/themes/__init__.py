"""Theme libraries (主题库): resources built by a SQL model over warehouse tables.

* :mod:`~baselib.themes.model`: the model file — where it lives, what it reads, its parameters,
  its fingerprint, and the catalog checks on it;
* :mod:`~baselib.themes.inputs`: a theme's inputs as catalog resources (cross-entry checks,
  derived related resource codes);
* :mod:`~baselib.themes.indexes`: the partial indexes the keyed lookups of a refresh need;
* :mod:`~baselib.themes.refresh`: refresh state, the input loads not yet consumed, and the
  affected refresh keys;
* :mod:`~baselib.themes.scope`: which keys a run may flag deleted.

The source itself is :class:`baselib.sources.sql_model.SqlModelSource`.
"""
