"""File drops and staging in S3-style object storage: the same pipeline against a real
S3-compatible server (moto's, in its own process on loopback), addressed by ``s3://`` URIs
with the endpoint and credentials in the environment, as in production."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from baselib.simulators import macro_economy as sim
from tests.conftest import DAY1, DAY2
from tests.integration.file_drop_helpers import assert_deliveries_accounted, deliveries
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, run

BUCKET = "baselib-exchange"
VALUES = "104001/000002"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3(monkeypatch, tmp_path):
    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "moto.log", "wb"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the S3 server did not start: {(tmp_path / 'moto.log').read_text()[-2000:]}")
        for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test-key",
                            "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                               access_key="test-key", secret_key="test-secret", allow_bucket_creation=True)
        fs.create_dir(BUCKET)
        yield fs
    finally:
        server.terminate()
        server.wait(10)


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

    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    values = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

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

    again = run(catalog_entry("base_macro_economy.indicator_value"), DAY2)
    assert again["rows_extracted"] == 0 and again["rows_inserted"] == again["rows_updated"] == 0
