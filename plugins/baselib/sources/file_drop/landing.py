"""A resource's landing folder in object storage: list deliveries, read them, reject them.

Paths are URIs resolved by pyarrow's filesystem layer (``file://`` locally, ``s3://`` in
production), like the staging area. Only files directly in the folder are deliveries; names
starting with ``.`` or ending in ``.part`` / ``.tmp`` are uploads in progress and are left alone.
Rejected files move to ``<landing>/_rejected/load-<id>/`` beside a ``.reason.txt``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import pyarrow.fs as pafs

from baselib.catalog.model import FileDropSource
from baselib.settings import landing_url

REJECTED_DIR = "_rejected"
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload")
EXTENSIONS = {"geojson": (".geojson", ".json"), "csv": (".csv", ".txt"), "excel": (".xlsx", ".xlsm")}


@dataclass(frozen=True)
class LandedFile:
    uri: str
    name: str
    size: int
    modified_at: dt.datetime | None


def folder_uri(source: FileDropSource) -> str:
    return source.landing.rstrip("/") if "://" in source.landing else f"{landing_url()}/{source.landing.rstrip('/')}"


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri)


def list_files(source: FileDropSource) -> list[LandedFile]:
    """Deliveries waiting in the landing folder, oldest first (then by name). A missing folder is empty."""
    folder = folder_uri(source)
    fs, path = _fs(folder)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    files = []
    for info in fs.get_file_info(pafs.FileSelector(path, recursive=False)):
        if info.type != pafs.FileType.File or info.base_name.startswith(".") \
                or info.base_name.lower().endswith(IN_PROGRESS_SUFFIXES):
            continue
        mtime = info.mtime
        if mtime is not None and mtime.tzinfo is None:
            mtime = mtime.replace(tzinfo=dt.timezone.utc)
        files.append(LandedFile(f"{folder}/{info.base_name}", info.base_name, info.size, mtime))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(files, key=lambda f: (f.modified_at or epoch, f.name))


def read_bytes(uri: str) -> bytes:
    fs, path = _fs(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_of(name: str, formats: list[str]) -> str | None:
    """The declared format a file name's extension stands for, or None when it is not declared."""
    lower = name.lower()
    return next((f for f in formats if lower.endswith(EXTENSIONS[f])), None)


def reject(source: FileDropSource, landed: LandedFile, load_id: int, reason: str) -> str:
    """Move the file to the rejected area with a reason file next to it; return its new URI."""
    target_dir = f"{folder_uri(source)}/{REJECTED_DIR}/load-{load_id}"
    fs, dir_path = _fs(target_dir)
    fs.create_dir(dir_path, recursive=True)
    _, src_path = _fs(landed.uri)
    fs.move(src_path, f"{dir_path}/{landed.name}")
    with fs.open_output_stream(f"{dir_path}/{landed.name}.reason.txt") as out:
        out.write(f"{landed.name}: {reason}\n".encode("utf-8"))
    return f"{target_dir}/{landed.name}"
