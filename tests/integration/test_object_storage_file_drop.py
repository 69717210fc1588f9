"""File drops and staging in S3-style object storage: the same pipeline against a real
S3-compatible server (moto's, in its own process on loopback), addressed by ``s3://`` URIs
with the endpoint and credentials in the environment, as in production."""
from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from baselib_simulators import macro_economy as sim
from tests.conftest import BUCKET, DAY1, DAY2
from tests.integration.file_drop_helpers import assert_deliveries_accounted, deliveries, settling_at_once
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, run

VALUES = "104001/000002"


def upload(fs: pafs.S3FileSystem, local_root: Path, prefix: str) -> None:
    for path in local_root.rglob("*"):
        if path.is_file():
            with fs.open_output_stream(f"{prefix}/{path.relative_to(local_root).as_posix()}") as out:
                out.write(path.read_bytes())


def names(fs: pafs.S3FileSystem, folder: str, recursive: bool = False) -> set[str]:
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=recursive, allow_not_found=True))
    return {i.path[len(folder) + 1:] for i in infos if i.type == pafs.FileType.File}


def test_landing_and_staging_in_object_storage(dbs, s3, tmp_path, monkeypatch):
    drop = sim.write_drop(tmp_path / "local", seed=31)
    upload(s3, tmp_path / "local", f"{BUCKET}/landing")
    monkeypatch.setenv("BASELIB_LANDING_URL", f"s3://{BUCKET}/landing")
    monkeypatch.setenv("BASELIB_STAGING_URL", f"s3://{BUCKET}/staging")

    # an object's modification time is its upload time, just now: take the files at once
    run(settling_at_once(catalog_entry("base_macro_economy.indicator")), DAY1)
    values = run(settling_at_once(catalog_entry("base_macro_economy.indicator_value")), DAY1)

    assert_accounted(values)
    assert values["rows_inserted"] == drop.rows_clean
    folder = f"{BUCKET}/landing/statistics/indicator_value"
    assert not names(s3, folder) & set(drop.rejected_files)
    rejected = names(s3, f"{folder}/_rejected/load-{values['load_id']}")
    assert rejected == set(drop.rejected_files) | {f"{n}.reason.txt" for n in drop.rejected_files}
    files = deliveries(dbs, VALUES)
    assert all(d["path"].startswith(f"s3://{folder}/") for d in files.values())
    assert {d["status"] for n, d in files.items() if n not in drop.rejected_files} == {"loaded"}
    assert_deliveries_accounted(dbs, VALUES)
    assert names(s3, f"{BUCKET}/staging", recursive=True) == set()  # the run's Parquet parts were removed

    again = run(settling_at_once(catalog_entry("base_macro_economy.indicator_value")), DAY2)
    assert again["rows_extracted"] == 0 and again["rows_inserted"] == again["rows_updated"] == 0
