"""A resource's landing folder in object storage: list deliveries, read them, reject them.

Paths are URIs resolved by pyarrow's filesystem layer (``file://`` locally, ``s3://`` in
production), like the staging area. Only files directly in the folder are deliveries; names
starting with ``.`` or ending in ``.part`` / ``.tmp`` are uploads in progress and are left alone,
and so is a file modified less than the source's ``min_file_age_seconds`` ago (:func:`settled`):
it may still be being written, and a later run takes it once it has stopped changing.
A file that vanishes after it was listed is not an error: :func:`read_bytes` and :func:`reject`
report it. Rejected files move to ``<landing>/_rejected/load-<id>/`` beside a ``.reason.txt``.
Credentials in a landing URL (``s3://KEY:SECRET@bucket/…``) are used to open it, never stored or
logged: every URI this module hands out is without them.
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
    uri: str                 # how the manifest and the logs name it, without credentials (not re-parsed:
                             # names may hold 中文, spaces, %)
    name: str
    size: int
    modified_at: dt.datetime | None
    fs: pafs.FileSystem
    path: str                # the filesystem's own path, used for every operation on the file


def _location(source: FileDropSource) -> str:
    """The folder as the filesystem opens it: credentials in its userinfo included."""
    return source.landing.rstrip("/") if "://" in source.landing else f"{landing_url()}/{source.landing.rstrip('/')}"


def folder_uri(source: FileDropSource) -> str:
    """The folder as the manifest and the logs name it: ``s3://KEY:SECRET@bucket/x`` -> ``s3://bucket/x``."""
    scheme, sep, rest = _location(source).partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri)


def list_files(source: FileDropSource) -> list[LandedFile]:
    """Deliveries waiting in the landing folder, oldest first (then by name). A missing folder is empty."""
    folder = folder_uri(source)
    fs, path = _fs(_location(source))
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
        files.append(LandedFile(f"{folder}/{info.base_name}", info.base_name, info.size, mtime, fs, info.path))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(files, key=lambda f: (f.modified_at or epoch, f.name))


def settled(landed: LandedFile, min_age_seconds: int, now: dt.datetime) -> bool:
    """Whether the file was last modified at least ``min_age_seconds`` before ``now`` (aware).
    A store that gives no modification time cannot tell: its files count as settled."""
    return landed.modified_at is None or (now - landed.modified_at).total_seconds() >= min_age_seconds


def read_bytes(landed: LandedFile) -> bytes | None:
    """The file's content; None when it is no longer there (moved or deleted since it was listed)."""
    try:
        with landed.fs.open_input_stream(landed.path) as stream:
            return stream.read()
    except OSError:
        if _gone(landed):
            return None
        raise


def _gone(landed: LandedFile) -> bool:
    return landed.fs.get_file_info(landed.path).type == pafs.FileType.NotFound


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_of(name: str, formats: list[str]) -> str | None:
    """The declared format a file name's extension stands for, or None when it is not declared."""
    lower = name.lower()
    return next((f for f in formats if lower.endswith(EXTENSIONS[f])), None)


def rejected_uri(source: FileDropSource, landed: LandedFile, load_id: int) -> str:
    """Where :func:`reject` moves a file (recorded before the move, so a crash cannot lose it)."""
    return f"{folder_uri(source)}/{REJECTED_DIR}/load-{load_id}/{landed.name}"


def reject(landed: LandedFile, load_id: int, reason: str) -> bool:
    """Move the file to the rejected area, with a reason file next to it. False when the file is
    no longer there to move (taken away since it was listed)."""
    if _gone(landed):
        return False
    folder = landed.path.rsplit("/", 1)[0]
    target_dir = f"{folder}/{REJECTED_DIR}/load-{load_id}"
    landed.fs.create_dir(target_dir, recursive=True)
    with landed.fs.open_output_stream(f"{target_dir}/{landed.name}.reason.txt") as out:
        out.write(f"{landed.name}: {reason}\n".encode("utf-8"))
    try:
        landed.fs.move(landed.path, f"{target_dir}/{landed.name}")
    except OSError:
        if _gone(landed):
            return False
        raise
    return True
