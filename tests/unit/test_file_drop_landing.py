"""The landing folder without a database: the settle rule for files still being written, files
that vanish after the listing, and NUL text in a GeoJSON property reaching the row rules."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from baselib.catalog import load_catalog
from baselib.catalog.model import FileDropSource
from baselib_simulators.delivery import deliver
from baselib.sources.file_drop import geojson, landing
from tests.conftest import BUCKET

UTC = dt.timezone.utc


@pytest.fixture
def source(tmp_path) -> FileDropSource:
    return FileDropSource(kind="file_drop", landing=(tmp_path / "drop").as_uri(), formats=["csv"])


def only(source) -> landing.LandedFile:
    [landed] = landing.list_files(source)
    return landed


def test_the_settle_rule_is_the_age_of_the_last_modification(tmp_path, source):
    (tmp_path / "drop").mkdir()
    deliver(tmp_path / "drop" / "a.csv", "x\n", at=dt.datetime(2026, 11, 1, 12, tzinfo=UTC))
    landed = only(source)
    assert landed.modified_at == dt.datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert landing.settled(landed, 60, dt.datetime(2026, 11, 1, 12, 1, tzinfo=UTC))
    assert not landing.settled(landed, 60, dt.datetime(2026, 11, 1, 12, 0, 59, tzinfo=UTC))
    assert not landing.settled(landed, 0, dt.datetime(2026, 11, 1, 11, 59, tzinfo=UTC))  # dated in the future
    assert landing.settled(landed, 0, landed.modified_at)
    assert landing.settled(landing.LandedFile("u", "a.csv", 1, None, landed.fs, landed.path), 60,
                           dt.datetime(2026, 11, 1, tzinfo=UTC))  # a store without times cannot tell


def test_a_file_gone_after_the_listing_is_reported_not_raised(tmp_path, source):
    (tmp_path / "drop").mkdir()
    deliver(tmp_path / "drop" / "a.csv", "x\n")
    landed = only(source)
    assert landing.read_bytes(landed) == b"x\n"
    (tmp_path / "drop" / "a.csv").unlink()
    assert landing.read_bytes(landed) is None
    assert landing.reject(landed, 7, "原因 / reason") is False
    assert not (tmp_path / "drop" / "_rejected").exists()


def test_reject_moves_the_file_beside_its_reason(tmp_path, source):
    (tmp_path / "drop").mkdir()
    deliver(tmp_path / "drop" / "a.csv", "x\n")
    assert landing.reject(only(source), 7, "原因 / reason") is True
    moved = tmp_path / "drop" / "_rejected" / "load-7"
    assert (moved / "a.csv").read_bytes() == b"x\n"
    assert (moved / "a.csv.reason.txt").read_text(encoding="utf-8") == "a.csv: 原因 / reason\n"


def test_nul_and_3d_in_a_geojson_feature_reach_the_rows():
    resource = next(r for r in load_catalog() if r.pipeline.target.qualified == "base_spatial.place_name")
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [115.9, 28.6, 30.5]},
               "properties": {"place_code": "360102001", "place_name": "八一广场\u0000", "place_type": "广场",
                              "county_code": "360102"}}
    text = json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4490"}},
                       "features": [feature]})
    parsed = geojson.parse(resource, text, "p.geojson")
    assert parsed.column("place_name") == ["八一广场\u0000"]  # the row rules quarantine it with its cause
    assert parsed.ignored_columns == ["z (height) coordinates of 1 features: stored in 2D"]


# --- credentials in the landing URL are never stored or logged (review defect 10) ---------------
KEYED = "s3://AKIAEXAMPLEKEY:wJalr%2FSECRETkey@exchange-bucket/landing"


def test_landing_uris_name_the_folder_without_its_credentials(monkeypatch):
    monkeypatch.setenv("BASELIB_LANDING_URL", KEYED)
    source = FileDropSource(kind="file_drop", landing="statistics/indicator_value", formats=["csv"])
    landed = landing.LandedFile(f"{landing.folder_uri(source)}/a.csv", "a.csv", 1, None, None, "x/a.csv")
    assert landing.folder_uri(source) == "s3://exchange-bucket/landing/statistics/indicator_value"
    assert landing.rejected_uri(source, landed, 7) == \
        "s3://exchange-bucket/landing/statistics/indicator_value/_rejected/load-7/a.csv"
    direct = FileDropSource(kind="file_drop", landing="s3://user:pa55word@other/drop/", formats=["csv"])
    assert landing.folder_uri(direct) == "s3://other/drop"


def test_listed_files_are_read_with_the_credentials_and_named_without_them(s3, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")  # only the URL carries them
    with s3.open_output_stream(f"{BUCKET}/drop/a.csv") as out:
        out.write(b"x\n")
    source = FileDropSource(kind="file_drop", landing=f"s3://test-key:test-secret@{BUCKET}/drop", formats=["csv"])
    [landed] = landing.list_files(source)
    assert landed.uri == f"s3://{BUCKET}/drop/a.csv"
    assert landing.read_bytes(landed) == b"x\n"


def test_a_landing_url_password_is_a_known_secret():
    from baselib.security.redaction import known_secrets, redact

    environ = {"BASELIB_LANDING_URL": KEYED, "BASELIB_STAGING_URL": "s3://STAGEKEY:st4ge-secret@staging/x"}
    assert {"wJalr%2FSECRETkey", "wJalr/SECRETkey", "st4ge-secret"} <= known_secrets(environ)
    assert "SECRET" not in redact("could not open s3://exchange-bucket: wJalr/SECRETkey rejected", environ)
