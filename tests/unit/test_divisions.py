"""GB/T 2260 division codes from include/reference/division_codes_gbt2260.csv."""
from __future__ import annotations

import pytest

from baselib.identifiers import divisions

CURRENT = {
    "360000": "江西省",
    "360100": "南昌市",
    "430000": "湖南省",
    "430100": "长沙市",
    "610200": "铜川市",
    "320600": "南通市",
    "441900": "东莞市",
    "460400": "儋州市",
}


@pytest.fixture(scope="module")
def registry():
    return divisions.load()


def test_load_is_cached(registry):
    assert divisions.load() is registry


@pytest.mark.parametrize("code", sorted(CURRENT))
def test_current_codes_known_either_way(registry, code):
    assert registry.is_known(code)
    assert registry.is_known(code, include_abolished=False)
    assert code in registry.current_codes


@pytest.mark.parametrize("code, name", sorted(CURRENT.items()))
def test_names(registry, code, name):
    assert registry.name(code) == name


def test_abolished_chongwen_district(registry):
    assert registry.is_known("110103", include_abolished=True)
    assert registry.is_known("110103")  # default includes abolished codes
    assert not registry.is_known("110103", include_abolished=False)
    assert registry.name("110103") == "崇文区"
    (row,) = registry.by_code["110103"]
    assert row.in_use is False
    assert row.last_year == 2010
    assert row.level == "县级"


def test_reused_code_name_prefers_the_row_in_use(registry):
    # 120110 was 东郊区 (1981-1992), then 东丽区 — same code, two rows.
    assert len(registry.by_code["120110"]) == 2
    assert registry.name("120110") == "东丽区"


@pytest.mark.parametrize("code", ["990000", "990101", "000000", "36010", "3601000", "", None])
def test_unknown_codes_rejected(registry, code):
    assert not registry.is_known(code)
    assert not registry.is_known(code, include_abolished=False)


def test_unknown_name_is_none(registry):
    assert registry.name("990000") is None


def test_levels_and_code_shapes(registry):
    assert registry.by_code["360000"][0].level == "省级"
    assert registry.by_code["360100"][0].level == "地级"
    assert registry.current_codes < registry.all_codes
    assert all(len(code) == 6 and code.isdigit() for code in registry.all_codes)
    # ~3 000+ abolished or changed codes in the 1981-2024 history
    assert len(registry.all_codes - registry.current_codes) > 1000


def test_counties_in_use_sorted(registry):
    counties = registry.counties()
    codes = [c.code for c in counties]
    assert codes == sorted(codes)
    assert all(c.level == "县级" and c.in_use for c in counties)
    assert "110105" in codes and "110103" not in codes
    with_abolished = {c.code for c in registry.counties(in_use_only=False)}
    assert "110103" in with_abolished


def test_load_from_custom_file(tmp_path):
    path = tmp_path / "divisions.csv"
    path.write_text(
        "\ufeff代码,一级行政区,二级行政区,名称,级别,状态,启用时间,变更/弃用时间,新代码\n"
        "990000,测试省,,测试省,省级,在用,2020,,\n"
        "990101,测试省,测试市,旧区,县级,弃用,2020,2022,990102\n"
        "990102,测试省,测试市,改名区,县级,变更,2022,2023,990103\n",
        encoding="utf-8",
    )
    reg = divisions.load(path)
    assert reg.is_known("990000", include_abolished=False)
    assert reg.is_known("990101") and not reg.is_known("990101", include_abolished=False)
    assert reg.name("990101") == "旧区"
    assert reg.by_code["990101"][0].last_year == 2022
    # a record whose status is 变更 (changed) is history, not a current code
    assert reg.is_known("990102") and not reg.is_known("990102", include_abolished=False)
    assert reg.current_codes == {"990000"}
