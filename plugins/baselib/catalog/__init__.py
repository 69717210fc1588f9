"""The resource catalog: one YAML entry per shared resource, the single source of truth."""
from baselib.catalog.loader import Catalog, EntryError, find, load_catalog, load_entry, scan_catalog
from baselib.catalog.model import Resource

__all__ = ["Catalog", "EntryError", "Resource", "find", "load_catalog", "load_entry", "scan_catalog"]
