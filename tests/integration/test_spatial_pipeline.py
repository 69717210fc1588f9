"""The spatial base library from GeoJSON file drops, against real PostgreSQL and real GX suites:
county boundaries (polygons) and place names (points) in CGCS2000."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import shapely

from baselib_simulators import spatial as sim
from baselib_simulators.delivery import deliver
from tests.conftest import DAY1, DAY2
from tests.integration.file_drop_helpers import assert_defects_quarantined, assert_deliveries_accounted, deliveries
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, load_snapshot, run

BOUNDARIES, PLACES = "103001/000001", "103002/000001"
REASON_FOR_DIVISION_DEFECT = {
    "self_intersection": "几何无效",
    "swapped_axes": "经纬度颠倒",
    "unknown_code": "行政区划代码不存在",
    "name_mismatch": "行政区划名称与代码不符",
    "outside_china": "坐标超出中国范围",
    "missing_crs": "文件未声明坐标参考系",
}
REASON_FOR_PLACE_DEFECT = {
    "outside_china": "坐标超出中国范围",
    "swapped_axes": "经纬度颠倒",
    "not_in_county": "定位点不在所属县级行政区界线内",
    "unknown_county": "所在县级行政区代码不存在",
    "missing_crs": "文件未声明坐标参考系",
}


@pytest.fixture
def no_postgis(monkeypatch):
    monkeypatch.setenv("BASELIB_POSTGIS", "off")


def load_both(interval=DAY1):
    return run(catalog_entry("base_spatial.admin_division"), interval), run(catalog_entry("base_spatial.place_name"), interval)


def test_every_defect_is_quarantined_with_its_reason_and_unreadable_files_are_rejected(dbs, landing, no_postgis):
    drop = sim.write_drop(landing, seed=7)
    boundaries, places = load_both()

    assert_accounted(boundaries)
    assert_accounted(places)
    assert boundaries["rows_inserted"] == drop.divisions_clean
    assert places["rows_inserted"] == drop.places_clean
    assert_defects_quarantined(dbs, BOUNDARIES, drop.division_defects, REASON_FOR_DIVISION_DEFECT)
    assert_defects_quarantined(dbs, PLACES, drop.place_defects, REASON_FOR_PLACE_DEFECT)
    assert boundaries["rows_quarantined"] == sum(len(v) for v in drop.division_defects.values())
    assert places["rows_quarantined"] == sum(len(v) for v in drop.place_defects.values())

    # a lossless repair loads, flagged, and is counted as a warning
    assert drop.repaired
    repaired = dbs.query("SELECT division_code FROM base_spatial.admin_division WHERE boundary_repaired")
    assert sorted(r[0] for r in repaired) == sorted(drop.repaired)
    assert boundaries["rows_warned"] == len(drop.repaired)

    # unreadable files moved aside with their reason; the other files of the drop loaded
    files = deliveries(dbs, BOUNDARIES)
    for name, kind in drop.rejected_files.items():
        assert files[name]["status"] == "rejected", (name, files[name])
        assert not (drop.admin_dir / name).exists()
        moved = drop.admin_dir / "_rejected" / f"load-{boundaries['load_id']}" / name
        assert moved.exists() and (moved.parent / f"{name}.reason.txt").read_text(encoding="utf-8").strip()
    assert "truncated" in files["boundaries_truncated.geojson"]["reason"]
    assert "not valid UTF-8, GBK or GB18030" in files["boundaries_latin1.geojson"]["reason"]
    # a file without a CRS fails for every feature: above the threshold, it is sent back whole
    sent_back = {n for n, d in files.items() if n not in drop.rejected_files and d["status"] == "rejected"}
    assert sent_back == {n for n in files if n.endswith("_supplement.geojson")}
    assert all("整个文件退回" in files[n]["reason"] and (drop.admin_dir / "_rejected" / f"load-{boundaries['load_id']}" / n)
               .exists() for n in sent_back)
    assert {d["status"] for n, d in files.items() if n not in set(drop.rejected_files) | sent_back} == {"loaded"}
    place_files = deliveries(dbs, PLACES)
    assert {n for n, d in place_files.items() if d["status"] == "rejected"} == \
        {n for n in place_files if n.endswith("_nocrs.geojson")}
    assert dbs.query("SELECT files_new, files_rejected FROM ops.load_run WHERE load_id = %s",
                     (boundaries["load_id"],)) == [(len(files) - len(drop.rejected_files) - len(sent_back),
                                                    len(drop.rejected_files) + len(sent_back))]
    assert_deliveries_accounted(dbs, BOUNDARIES)
    assert_deliveries_accounted(dbs, PLACES)

    # quality officers see the file and feature of each quarantined row
    refs = dbs.query("SELECT source_ref, delivery_id FROM ops.quarantine WHERE resource_code = %s", (BOUNDARIES,))
    assert all(ref and " feature " in ref and delivery for ref, delivery in refs)


def test_geometry_is_stored_as_wkb_geojson_and_bbox_and_chinese_text_round_trips(dbs, landing, no_postgis):
    drop = sim.write_drop(landing, seed=8)
    load_both()

    columns = {r[0] for r in dbs.query("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_schema = 'base_spatial' AND table_name = 'admin_division'")}
    assert "boundary_geom" not in columns  # the WKB-only path
    for code, wkb, geojson, box in dbs.query(
            "SELECT division_code, encode(boundary, 'hex'), boundary_geojson, "
            "ARRAY[bbox_min_lon, bbox_min_lat, bbox_max_lon, bbox_max_lat] FROM base_spatial.admin_division"):
        geometry = shapely.from_wkb(bytes.fromhex(wkb))
        assert geometry.geom_type == "MultiPolygon" and geometry.is_valid
        assert shapely.equals(geometry, shapely.from_geojson(geojson))
        assert list(geometry.bounds) == pytest.approx(box)
        if code in drop.county_boxes and code not in drop.repaired:
            assert list(geometry.bounds) == pytest.approx(list(drop.county_boxes[code]), abs=1e-6)
    # GB18030-only characters, a GBK/GB18030 file and a UTF-8 file all round-trip exactly
    assert drop.rare_names
    stored = dict(dbs.query("SELECT place_code, place_name FROM base_spatial.place_name WHERE place_code = ANY(%s)",
                            (list(drop.rare_names),)))
    assert stored == drop.rare_names
    encodings = {d["encoding"] for d in deliveries(dbs, PLACES).values() if d["status"] == "loaded"}
    assert {"gb18030", "utf-8"} <= encodings
    assert "utf-8-sig" in {d["encoding"] for d in deliveries(dbs, BOUNDARIES).values()}


def test_a_redropped_file_is_a_no_op_and_a_changed_boundary_is_a_new_version(dbs, landing, no_postgis):
    drop = sim.write_drop(landing, seed=9)
    resource = catalog_entry("base_spatial.admin_division")
    run(resource, DAY1)
    before = load_snapshot(dbs, resource)
    manifest_before = deliveries(dbs, BOUNDARIES)

    sim.write_drop(landing, seed=9)  # the department drops the same files again
    again = run(resource, DAY2)
    assert again["rows_extracted"] == 0 and again["rows_inserted"] == again["rows_updated"] == 0
    assert load_snapshot(dbs, resource)[:2] == before[:2]
    loaded = [n for n, d in manifest_before.items() if d["status"] == "loaded"]
    assert dbs.scalar("SELECT files_unchanged FROM ops.load_run WHERE load_id = %s", (again["load_id"],)) == len(loaded)
    assert {n: d["attempts"] for n, d in deliveries(dbs, BOUNDARIES).items() if n in loaded} == {n: 1 for n in loaded}

    # a boundary change under the same file name: a new delivery, a new history version
    name = "boundaries_360000.geojson"
    path = drop.admin_dir / name
    document = json.loads(path.read_text(encoding="utf-8"))
    feature = next(f for f in document["features"]
                   if f["properties"].get("division_code", f["properties"].get("行政区划代码")) not in
                   {c for codes in drop.division_defects.values() for c in codes} | set(drop.repaired))
    code = feature["properties"].get("division_code") or feature["properties"]["行政区划代码"]
    ring = feature["geometry"]["coordinates"][0]
    ring[0][0] -= 0.01
    ring[-1][0] -= 0.01
    deliver(path, json.dumps(document, ensure_ascii=False))
    changed = run(resource, (DAY2[1], DAY2[1] + dt.timedelta(days=1)))

    assert_accounted(changed)
    assert changed["rows_updated"] == 1 and changed["rows_inserted"] == 0 and changed["rows_unchanged"] > 0
    new_delivery = dbs.scalar("SELECT delivery_id FROM ops.file_delivery WHERE path LIKE %s AND status = 'loaded' "
                              "ORDER BY delivery_id DESC LIMIT 1", (f"%/{name}",))
    versions = dbs.query("SELECT _delivery_id, _valid_to IS NULL FROM base_spatial.admin_division_history "
                         "WHERE division_code = %s ORDER BY _valid_from", (code,))
    assert len(versions) == 2 and versions[1] == (new_delivery, True) and versions[0][1] is False
    assert versions[0][0] != new_delivery
    assert dbs.scalar("SELECT _delivery_id FROM base_spatial.admin_division WHERE division_code = %s",
                      (code,)) == new_delivery
    assert_deliveries_accounted(dbs, BOUNDARIES)


POSTGIS = "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"


def test_postgis_columns_when_postgis_is_present(dbs, landing, monkeypatch):
    if not dbs.scalar(POSTGIS):
        pytest.skip("this PostgreSQL server has no PostGIS (CI installs postgresql-15-postgis-3)")
    monkeypatch.setenv("BASELIB_POSTGIS", "on")
    drop = sim.write_drop(landing, seed=10)
    boundaries, places = load_both()
    assert boundaries["status"] == places["status"] == "success"

    assert dbs.scalar("SELECT count(*) FROM base_spatial.admin_division WHERE ST_SRID(boundary_geom) = 4490 "
                      "AND GeometryType(boundary_geom) = 'MULTIPOLYGON' AND ST_IsValid(boundary_geom)") == \
        boundaries["rows_inserted"]
    # the GiST index lives on the SCD2 table: the first load dropped it and built it again
    assert dbs.scalar("SELECT indexdef FROM pg_indexes WHERE tablename = 'admin_division_history' "
                      "AND indexname = 'admin_division_boundary_geom_gist'").find("USING gist") > 0
    # the generated column agrees with the WKB, and downstream readers get it in the view
    assert dbs.scalar("SELECT bool_and(ST_Equals(boundary_geom, ST_GeomFromWKB(boundary, 4490))) "
                      "FROM base_spatial.admin_division")
    assert dbs.scalar("SELECT count(*) FROM base_spatial.admin_division_current WHERE boundary_geom IS NOT NULL") > 0
    # every loaded place lies in its county: the engine's check and PostGIS agree
    assert dbs.scalar("SELECT count(*) FROM base_spatial.place_name p JOIN base_spatial.admin_division d "
                      "ON d.division_code = p.county_code WHERE NOT ST_Covers(d.boundary_geom, p.location_geom)") == 0
    assert dbs.scalar("SELECT count(*) FROM base_spatial.place_name") == drop.places_clean
