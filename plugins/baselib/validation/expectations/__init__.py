"""Custom GX 1.x expectations, one module per family of identifiers.

Each is a map expectation (per-row yes/no) backed by a vectorised metric provider, so failing
rows come back in ``unexpected_index_list`` and can be quarantined. Importing this package
registers them all; suites refer to them by their snake_case ``type``. The conditions themselves
(which value meets the expectation) are defined once, GX-free, in ``baselib.validation.vectorised``
and called from here, so GX and the fast path cannot drift.
"""
from baselib.validation.expectations import (  # noqa: F401  (registration)
    certificate, citizen, common, geometry, organisation,
)
