"""The GeoJSON and spreadsheet file-drop simulators: deterministic bytes, real encodings, unreadable
files that really are unreadable, and manifests whose keys match what the files contain."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import shapely
import yaml
from shapely.geometry import shape

from baselib.geometry import shapes
from baselib.identifiers import divisions
from baselib_simulators import macro_economy, spatial

CATALOG = Path(__file__).resolve().parents[2] / "include" / "catalog"
BOM = b"\xef\xbb\xbf"
CHINESE = ("utf-8", "gbk", "gb18030", "big5")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _labels(resource: str) -> dict[str, str]:
    items = yaml.safe_load((CATALOG / f"{resource}.yaml").read_text(encoding="utf-8"))["items"]
    return {item["label"]: item["name"] for item in items}


def _fails(data: bytes, encodings=CHINESE) -> bool:
    for encoding in encodings:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return False
    return True


# --- spatial ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sdrop(tmp_path_factory):
    return spatial.write_drop(tmp_path_factory.mktemp("spatial"))


def _collection(path: Path) -> dict:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return json.loads(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise AssertionError(f"{path.name} does not decode")


def _features(directory: Path, rejected) -> list[tuple[str, dict, dict]]:
    """(file name, properties by item name, geometry) of every readable file."""
    names = {**_labels("base_spatial_admin_division"), **_labels("base_spatial_place_name")}
    out = []
    for path in sorted(directory.glob("*.geojson")):
        if path.name not in rejected:
            for f in _collection(path)["features"]:
                out.append((path.name, {names.get(k, k): v for k, v in f["properties"].items()}, f["geometry"]))
    return out


def test_spatial_same_seed_same_bytes(tmp_path, sdrop):
    spatial.write_drop(tmp_path / "a")
    spatial.write_drop(tmp_path / "b", seed=1)
    root = sdrop.admin_dir.parents[1]
    assert _files(tmp_path / "a") == _files(root)
    assert _files(tmp_path / "b") != _files(root)


def test_spatial_encodings_and_crs(sdrop):
    b1 = (sdrop.admin_dir / "boundaries_360000.geojson").read_bytes()
    b2 = (sdrop.admin_dir / "boundaries_430000.geojson").read_bytes()
    assert not b1.startswith(BOM) and json.loads(b1.decode("utf-8"))["crs"]["properties"]["name"] == \
        "urn:ogc:def:crs:EPSG::4490"
    assert b2.startswith(BOM)
    fc2 = json.loads(b2[3:].decode("utf-8"))
    assert fc2["crs"]["properties"]["name"] == "EPSG:4490"
    assert set(fc2["features"][0]["properties"]) == set(spatial.ADMIN_LABELS.values())
    assert {spatial.ADMIN_LABELS[k]: k for k in spatial.ADMIN_LABELS}.items() <= \
        _labels("base_spatial_admin_division").items()
    assert {spatial.PLACE_LABELS[k]: k for k in spatial.PLACE_LABELS}.items() <= \
        _labels("base_spatial_place_name").items()

    p1 = (sdrop.place_dir / "places_360000.geojson").read_bytes()
    assert _fails(p1, ("utf-8", "gbk"))
    text = p1.decode("gb18030")
    assert all(ch in text for ch in spatial.RARE_CHARS)
    assert "crs" not in json.loads((sdrop.place_dir / "places_360000_nocrs.geojson").read_bytes())
    p2 = (sdrop.place_dir / "places_430000.geojson").read_bytes()
    assert not p2.startswith(BOM) and "crs" in json.loads(p2.decode("utf-8"))


def test_spatial_rejected_files_are_unreadable(sdrop):
    assert sdrop.rejected_files == {"boundaries_truncated.geojson": "truncated",
                                    "boundaries_latin1.geojson": "encoding"}
    with pytest.raises(json.JSONDecodeError):
        json.loads((sdrop.admin_dir / "boundaries_truncated.geojson").read_bytes().decode("utf-8"))
    assert _fails((sdrop.admin_dir / "boundaries_latin1.geojson").read_bytes())


def test_division_manifest_matches_files(sdrop):
    ref = divisions.load()
    features = _features(sdrop.admin_dir, sdrop.rejected_files)
    by_code = {}
    for name, props, geom in features:
        assert props["division_code"] not in by_code, "division codes are unique across the drop"
        by_code[props["division_code"]] = (name, props, geom)
    flagged = [c for codes in sdrop.division_defects.values() for c in codes]
    assert all(len(codes) == 2 for codes in sdrop.division_defects.values())
    assert len(flagged) == len(set(flagged)) and not set(flagged) & set(sdrop.repaired)
    assert set(flagged) <= set(by_code) and set(sdrop.repaired) <= set(by_code)
    assert sdrop.divisions_clean == len(features) - len(flagged)

    for kind, codes in sdrop.division_defects.items():
        for code in codes:
            name, props, geom = by_code[code]
            geom = shape(geom)
            bounds = shapes.bounds(geom)
            if kind == "self_intersection":
                stored, repaired, _ = shapes.normalise(geom, "polygon")
                assert not repaired and not stored.is_valid
            elif kind == "swapped_axes":
                assert shapes.looks_swapped(bounds).all()
            elif kind == "outside_china":
                assert not shapes.within_box(bounds).any() and not shapes.looks_swapped(bounds).any()
            elif kind == "unknown_code":
                assert not ref.is_known(code)
            elif kind == "name_mismatch":
                assert props["division_name"] != ref.name(code)
                assert props["division_name"] in {c.name for c in ref.counties()}
            elif kind == "missing_crs":
                assert name.endswith("_supplement.geojson")
                assert "crs" not in _collection(sdrop.admin_dir / name)
    for code in sdrop.repaired:
        geom = shape(by_code[code][2])
        stored, repaired, _ = shapes.normalise(geom, "polygon")
        assert not geom.is_valid and repaired and stored.is_valid
        assert stored.area == pytest.approx(shapely.box(*sdrop.county_boxes[code]).area, rel=1e-9)
    for code, (name, props, geom) in by_code.items():
        if code in flagged or code in sdrop.repaired:
            continue
        geom = shape(geom)
        assert geom.is_valid and geom.geom_type == "Polygon"
        assert geom.bounds == pytest.approx(sdrop.county_boxes[code])
        assert props["division_name"] == ref.name(code) and props["level"] == "县级"
        assert props["parent_code"] in (code[:4] + "00", code[:2] + "0000") and ref.is_known(props["parent_code"])


def test_place_manifest_matches_files(sdrop):
    ref = divisions.load()
    features = _features(sdrop.place_dir, ())
    by_code = {props["place_code"]: (name, props, shape(geom)) for name, props, geom in features}
    assert len(by_code) == len(features), "place codes are unique"
    flagged = [c for codes in sdrop.place_defects.values() for c in codes]
    assert len(flagged) == len(set(flagged)) and set(flagged) <= set(by_code)
    assert sdrop.places_clean == len(features) - len(flagged)
    bad_counties = {c for codes in sdrop.division_defects.values() for c in codes} | set(sdrop.repaired)
    for code, (name, props, point) in by_code.items():
        kind = next((k for k, codes in sdrop.place_defects.items() if code in codes), None)
        bounds = shapes.bounds(point)
        if kind == "outside_china":
            assert not shapes.within_box(bounds).any() and not shapes.looks_swapped(bounds).any()
        elif kind == "swapped_axes":
            assert shapes.looks_swapped(bounds).all()
        elif kind == "unknown_county":
            assert not ref.is_known(props["county_code"])
        elif kind == "not_in_county":
            assert not shapely.box(*sdrop.county_boxes[props["county_code"]]).intersects(point)
            assert any(shapely.box(*b).contains(point) for b in sdrop.county_boxes.values())
        else:
            assert props["county_code"] not in bad_counties
            assert shapely.box(*sdrop.county_boxes[props["county_code"]]).contains(point)   # strictly inside
            assert props["place_type"] in spatial.PLACE_TYPES and code.startswith(props["county_code"])
            assert (kind == "missing_crs") == name.endswith("_nocrs.geojson")
    assert sdrop.rare_names and not set(sdrop.rare_names) & set(flagged)
    for code, text in sdrop.rare_names.items():
        assert by_code[code][1]["place_name"] == text
        assert any(ch in text for ch in spatial.RARE_CHARS)


def test_spatial_bench(tmp_path):
    drop = spatial.write_drop(tmp_path, polygons=300)
    assert sorted(p.name for p in drop.admin_dir.iterdir()) == ["boundaries_bench.geojson"]
    features = _collection(drop.admin_dir / "boundaries_bench.geojson")["features"]
    codes = [f["properties"]["division_code"] for f in features]
    assert len(features) == drop.divisions_clean == 300 and len(set(codes)) == 300
    assert set(codes) <= divisions.load().current_codes and {c[:2] for c in codes} > {"36", "43"}
    for f in features:
        assert len(f["geometry"]["coordinates"][0]) == 41 and shape(f["geometry"]).is_valid
    with pytest.raises(ValueError):
        spatial.write_drop(tmp_path / "x", polygons=100_000)


# --- macro economy ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mdrop(tmp_path_factory):
    return macro_economy.write_drop(tmp_path_factory.mktemp("macro"))


def _period(text: str) -> str:
    text = str(text).strip()
    if m := re.fullmatch(r"(\d{4})年(\d{1,2})月", text):
        return f"{m[1]}-{int(m[2]):02d}"
    return text.removesuffix("年") if re.fullmatch(r"\d{4}年", text) else text


def _records(value_dir: Path, rejected) -> list[tuple]:
    """(indicator, region, normalised period, value text, unit) of every long row / non-empty wide cell."""
    names = _labels("base_macro_economy_indicator_value")
    out = []

    def table(rows):
        header = [names.get(str(h), str(h)) for h in rows[0]]
        periods = [i for i, h in enumerate(header) if re.match(r"^\s*\d{4}", h)]
        for row in rows[1:]:
            rec = dict(zip(header, row))
            value = lambda v: v if isinstance(v, str) else f"{v:.2f}"   # noqa: E731
            if "period" in rec:
                out.append((rec["indicator_code"], rec["region_code"], _period(rec["period"]), value(rec["value"]),
                            rec["unit"]))
            for i in periods:
                if row[i] not in ("", None):
                    out.append((rec["indicator_code"], rec["region_code"], header[i], value(row[i]), rec["unit"]))

    for path in sorted(value_dir.iterdir()):
        if path.name in rejected:
            continue
        if path.suffix == ".csv":
            data = path.read_bytes()
            text = data.decode("gbk") if path.name.startswith("gdp") else data.decode("gb18030")
            table(list(csv.reader(io.StringIO(text))))
        else:
            for ws in openpyxl.load_workbook(path, read_only=True).worksheets:
                table([list(r) for r in ws.iter_rows(values_only=True)])
    return out


def test_macro_same_seed_same_bytes(tmp_path, mdrop):
    macro_economy.write_drop(tmp_path / "a")
    macro_economy.write_drop(tmp_path / "b", seed=1)
    root = mdrop.value_dir.parents[1]
    assert _files(tmp_path / "a") == _files(root)
    assert _files(tmp_path / "b") != _files(root)


def test_macro_encodings(mdrop):
    indicators = (mdrop.indicator_dir / "indicators.csv").read_bytes()
    assert _fails(indicators, ("utf-8",))
    rows = list(csv.reader(io.StringIO(indicators.decode("gbk"))))
    assert rows[0] == ["指标代码", "指标名称", "计量单位", "可加总", "统计频率"] and len(rows) - 1 == mdrop.indicators
    assert {r[3] for r in rows[1:]} == {"是", "否"}
    gdp = (mdrop.value_dir / "gdp_annual_long.csv").read_bytes()
    assert _fails(gdp, ("utf-8",)) and gdp.decode("gbk").startswith("指标代码,地区代码,时期,数值,计量单位")
    assert "2024年" in gdp.decode("gbk")
    population = (mdrop.value_dir / "population_annual_wide.csv").read_bytes()
    assert population.decode("gb18030").startswith("indicator_code,region_code,unit,2021")


def test_macro_rejected_files_are_unreadable(mdrop):
    assert mdrop.rejected_files == {"broken.xlsx": "truncated", "wrong_encoding.csv": "encoding"}
    with pytest.raises(zipfile.BadZipFile):
        openpyxl.load_workbook(mdrop.value_dir / "broken.xlsx")
    assert _fails((mdrop.value_dir / "wrong_encoding.csv").read_bytes())


def test_macro_manifest_matches_files(mdrop):
    ref = divisions.load()
    records = _records(mdrop.value_dir, mdrop.rejected_files)
    assert len(records) == mdrop.rows_total
    counts = Counter(r[:3] for r in records)
    flagged = [k for keys in mdrop.defects.values() for k in keys]
    assert all(len(keys) == 1 for keys in mdrop.defects.values())
    assert len(set(flagged)) == len(flagged) == len(macro_economy.DEFECTS)
    assert all(k in counts for k in flagged)
    assert mdrop.rows_clean == mdrop.rows_total - sum(counts[k] for k in flagged)
    assert [k for k, n in counts.items() if n > 1] == mdrop.defects["duplicate_in_delivery"]
    dup = [r for r in records if r[:3] == mdrop.defects["duplicate_in_delivery"][0]]
    assert dup[0][3] != dup[1][3]
    by_key = {r[:3]: r for r in records}
    assert by_key[mdrop.defects["non_numeric"][0]][3] == "—"
    assert by_key[mdrop.defects["unit_mismatch"][0]][4] == "万元"
    assert not ref.is_known(mdrop.defects["unknown_region"][0][1])
    assert mdrop.defects["bad_period"][0][2] == "2025Q5" and mdrop.defects["future_period"][0][2] == "2027"
    for k in [k for keys in mdrop.warnings.values() for k in keys]:
        assert counts[k] == 1 and k not in flagged


def test_wide_expected_matches_sheet(mdrop):
    ws = openpyxl.load_workbook(mdrop.value_dir / "gdp_quarterly_wide.xlsx").active
    header, *rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert header[:4] == ["指标代码", "地区代码", "地区名称", "计量单位"] and header[4:] == \
        ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    cells = [(r[0], r[1], h, f"{v:.2f}") for r in rows for h, v in zip(header[4:], r[4:])]
    assert cells == mdrop.wide_expected


def _check_sums(records, skip=()) -> None:
    """Every additive (indicator, period) group with a province and all its prefectures: total = sum."""
    regions = macro_economy._regions(divisions.load(), ("360000", "430000"))
    additive = {c for c, _, _, a, _ in macro_economy.INDICATORS if a}
    counts = Counter(r[:3] for r in records)
    values = {r[:3]: macro_economy._cents(r[3]) for r in records if r[0] in additive and r[3] != "—" and
              counts[r[:3]] == 1 and r[4] == macro_economy.UNITS[r[0]]}
    checked = 0
    for (indicator, region, period), total in values.items():
        if region in regions and (indicator, region, period) not in skip:
            parts = [values.get((indicator, c, period)) for c in regions[region]]
            if None not in parts:
                assert total == sum(parts), (indicator, region, period)
                checked += 1
    assert checked > 40


def test_sums_and_warnings(mdrop):
    records = _records(mdrop.value_dir, mdrop.rejected_files)
    _check_sums(records, skip=set(mdrop.warnings["province_mismatch"]))
    flagged = {k for keys in mdrop.defects.values() for k in keys}
    value = {r[:3]: float(r[3]) for r in records if r[:3] not in flagged}
    ind, region, period = mdrop.warnings["province_mismatch"][0]
    parts = sum(value[(ind, c, period)] for c in macro_economy._regions(divisions.load(), (region,))[region])
    assert value[(ind, region, period)] / parts == pytest.approx(1.15, abs=1e-4)
    ind, region, period = mdrop.warnings["yoy_outlier"][0]
    before = f"{int(period[:4]) - 1}{period[4:]}"
    assert value[(ind, region, period)] / value[(ind, region, before)] == pytest.approx(2.5, abs=1e-3)
    for (i, r, p), v in value.items():   # no other series jumps by more than 50 % year on year
        prior = value.get((i, r, f"{int(p[:4]) - 1}{p[4:]}")) if p[:4].isdigit() else None
        if prior and (i, r, p) != (ind, region, period):
            assert abs(v / prior - 1) < 0.5, (i, r, p)


def test_revision(tmp_path):
    drop = macro_economy.write_drop(tmp_path)
    before = _records(drop.value_dir, drop.rejected_files)
    changed = macro_economy.write_revision(tmp_path, drop, seed=5)
    after = _records(drop.value_dir, drop.rejected_files)
    assert len(changed) >= 4 and sum(r[1][2:] != "0000" for r in changed) == 3
    diff = [(a[:3], a[3]) for b, a in zip(before, after) if a != b]
    assert sorted(diff) == sorted((c[:3], c[3]) for c in changed)
    _check_sums(after, skip=set(drop.warnings["province_mismatch"]))
    first = (drop.value_dir / "gdp_annual_long.csv").read_bytes()
    macro_economy.write_drop(tmp_path)
    assert macro_economy.write_revision(tmp_path, drop, seed=5) == changed
    assert (drop.value_dir / "gdp_annual_long.csv").read_bytes() == first


def test_macro_bench(tmp_path):
    drop = macro_economy.write_drop(tmp_path, bench_bytes=400_000)
    assert sorted(p.name for p in drop.value_dir.iterdir()) == ["bench_long.csv"]
    data = (drop.value_dir / "bench_long.csv").read_bytes()
    assert len(data) >= 400_000
    header, *rows = list(csv.reader(io.StringIO(data.decode("gbk"))))
    assert header == macro_economy.LONG_LABELS and len(rows) == drop.rows_total == drop.rows_clean
    assert len({tuple(r[:3]) for r in rows}) == len(rows)
    assert all(r[4] == macro_economy.UNITS[r[0]] for r in rows)
    assert len({r[1] for r in rows}) > 300 and {r[0] for r in rows} <= set(macro_economy.UNITS)
