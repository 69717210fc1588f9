"""Where the project's files live. Every path can be overridden from the environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("BASELIB_PROJECT_ROOT", Path(__file__).resolve().parents[2]))
INCLUDE_DIR = PROJECT_ROOT / "include"
CATALOG_DIR = Path(os.environ.get("BASELIB_CATALOG_DIR", INCLUDE_DIR / "catalog"))
SQL_DIR = INCLUDE_DIR / "sql"
REFERENCE_DIR = INCLUDE_DIR / "reference"
EXPECTATIONS_DIR = Path(os.environ.get("BASELIB_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations"))
REPORTS_DIR = Path(os.environ.get("BASELIB_REPORTS_DIR", PROJECT_ROOT / "reports"))


def staging_url() -> str:
    """Object-storage prefix for intermediate Parquet files (``file://`` by default, ``s3://`` in production)."""
    default = (PROJECT_ROOT / "data" / "staging").as_uri()
    return os.environ.get("BASELIB_STAGING_URL", default).rstrip("/")


def landing_url() -> str:
    """Root of the file-drop landing folders (``file://`` by default, ``s3://bucket/prefix`` in production).

    A catalog entry's ``landing`` is a folder under it, unless it is a full URI itself."""
    default = (PROJECT_ROOT / "data" / "landing").as_uri()
    return os.environ.get("BASELIB_LANDING_URL", default).rstrip("/")


def returns_url() -> str:
    """Root of the providers' return folders (数据回退): ``<root>/<provider code>/`` receives each
    provider's workbooks (``file://`` by default, ``s3://bucket/prefix`` in production)."""
    default = (PROJECT_ROOT / "data" / "returns").as_uri()
    return os.environ.get("BASELIB_RETURNS_URL", default).rstrip("/")
