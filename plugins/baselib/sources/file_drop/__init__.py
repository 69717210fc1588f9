"""File-drop sources: a department drops files into a landing folder; each file is a delivery.

- ``landing``: list, hash, read and move files in object storage (pyarrow filesystems).
- ``encoding``: decode text as declared, or detect UTF-8, UTF-8 with BOM, GBK or GB18030.
- ``periods``: statistical periods (2025, 2025Q3, 2025-10) to type, start and end.
- ``tabular`` / ``geojson``: read one delivery into rows of catalog items.
- ``manifest``: ``ops.file_delivery``, which makes each file processed once.
- ``source``: the extract that ties them together (``FileDropSource``).
"""
