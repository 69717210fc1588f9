"""Intermediate Parquet files, addressed by object-storage URIs (``file://`` locally, ``s3://`` …).

Tasks pass these URIs through XCom, never DataFrames. pyarrow's filesystem layer resolves the
scheme, so moving staging to object storage is a change of ``BASELIB_STAGING_URL`` only.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from baselib.settings import staging_url


def load_prefix(dag_id: str, load_id: int) -> str:
    return f"{staging_url()}/{dag_id}/load-{load_id}"


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri)


class PartWriter:
    """Writes numbered Parquet parts under ``prefix`` and remembers their URIs. ``progress``
    (optional :class:`baselib.records.progress.Progress`): counts each part written and its rows
    (a progress line at INFO, rate-limited)."""

    def __init__(self, prefix: str, progress=None):
        self.prefix = prefix.rstrip("/")
        self.fs, self.path = _fs(self.prefix)
        self.fs.create_dir(self.path, recursive=True)
        self.parts: list[str] = []
        self.progress = progress

    def write(self, table: pa.Table) -> str:
        name = f"part-{len(self.parts):05d}.parquet"
        pq.write_table(table, f"{self.path}/{name}", filesystem=self.fs, compression="zstd")
        uri = f"{self.prefix}/{name}"
        self.parts.append(uri)
        if self.progress is not None:
            self.progress.add(table.num_rows)
        return uri


def read_part(uri: str, columns: list[str] | None = None) -> pa.Table:
    fs, path = _fs(uri)
    return pq.read_table(path, filesystem=fs, columns=columns)


def non_null_counts(parts: list[str], columns: list[str] | None = None) -> dict[str, int]:
    """``{column: non-null values}`` summed over the Parquet ``parts`` (URIs), from their footers
    only: per row group and column, ``num_values - statistics.null_count`` (no data is read; a
    column chunk written without null statistics is the one exception: that chunk's column is read
    to count). ``columns``: the columns to count (default every column of the parts); a column
    absent from every part counts 0. No parts: every requested column 0."""
    counts: dict[str, int] = {c: 0 for c in (columns or [])}
    for uri in parts:
        fs, path = _fs(uri)
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            meta = pf.metadata
            names = [meta.schema.column(j).path for j in range(meta.num_columns)]
            wanted = [(j, n) for j, n in enumerate(names) if columns is None or n in counts]
            for i in range(meta.num_row_groups):
                group = meta.row_group(i)
                for j, name in wanted:
                    chunk = group.column(j)
                    stats = chunk.statistics
                    if stats is not None and stats.has_null_count:
                        non_null = chunk.num_values - stats.null_count
                    else:
                        non_null = pf.read_row_group(i, columns=[name]).column(0).drop_null().__len__()
                    counts[name] = counts.get(name, 0) + int(non_null)
    return counts


def remove(prefix: str) -> None:
    fs, path = _fs(prefix)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


def replace_local(target, content) -> None:
    """Write a local file atomically: a reader sees the old file or the new one, never half of it
    (the reports, trend pages and yearly reports that people open while a run rewrites them).

    ``content``: ``str`` (written as UTF-8), ``bytes``, or a callable ``writer(tmp_path)`` that
    writes the file itself (e.g. WeasyPrint's ``write_pdf``). The file is made in ``target``'s
    folder (which must exist), mode 0644, then renamed over ``target``; on any error the temporary
    file is removed and the error raised."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(content, str):
                fh.write(content.encode("utf-8"))
            elif isinstance(content, (bytes, bytearray)):
                fh.write(content)
        if callable(content):
            content(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
