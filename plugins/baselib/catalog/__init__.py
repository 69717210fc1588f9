"""The resource catalog: one YAML entry per shared resource, the single source of truth."""
from baselib.catalog.loader import load_catalog, load_entry
from baselib.catalog.model import Resource

__all__ = ["Resource", "load_catalog", "load_entry"]
