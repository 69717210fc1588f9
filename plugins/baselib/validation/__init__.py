"""Data-quality validation: the GX 1.x suites in ``expectations/`` declare what is checked.

:mod:`~baselib.validation.plan` compiles a resource's checks (light: no GX, pandas or pyarrow),
:mod:`~baselib.validation.executor` runs them over an extract (vectorised, with GX only as the
fallback for types the fast path lacks, :mod:`~baselib.validation.gx_fallback`), and
:mod:`~baselib.validation.report` writes one quality report per load.
"""
