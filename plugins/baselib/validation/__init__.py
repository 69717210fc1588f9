"""Data-quality validation with Great Expectations 1.x (GX Core, called directly).

Import :mod:`baselib.validation.runner` inside tasks only: GX takes seconds to import.
"""
