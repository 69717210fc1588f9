"""Names of the engine columns a source writes beside the catalog items (all start with ``_``).

Kept apart from :mod:`baselib.sources.extract` (which needs pyarrow) so the suite the catalog
implies (:func:`baselib.validation.suites.catalog_expectations`) can be built at catalog load,
during DAG parsing, without importing pyarrow.
"""
from __future__ import annotations

ROW_ID = "_source_row"            # every source: 0-based int64 numbering rows across the whole extract
# Lineage and evidence columns a source may add beside the items (never loaded as items):
DELIVERY_ID = "_delivery_id"      # file sources: the ops.file_delivery row the row came from
SOURCE_REF = "_source_ref"        # file sources: where in the file (feature 3, line 17, Sheet1!C5)
LINEAGE_COLUMNS = (DELIVERY_ID, SOURCE_REF)
CONVERSION_ERROR = "_conversion_error"  # every source: values not of their item's type, or text with NUL
SOURCE_CRS = "_source_crs"              # GeoJSON: the CRS the file declared (NULL: none declared)
GEOMETRY_ERROR = "_geometry_error"      # GeoJSON: why a feature's geometry could not be read
