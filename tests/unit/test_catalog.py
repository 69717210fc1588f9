"""Catalog loading: the real entry loads; every malformed entry fails with a CatalogError that
names the file path and the field."""
from __future__ import annotations

import copy
import json
import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from baselib.catalog import Resource, load_catalog, load_entry
from baselib.catalog import loader
from baselib.catalog.model import DataType, SharingType
from baselib.errors import CatalogError
from baselib.identifiers import credit_code
from baselib.settings import CATALOG_DIR, EXPECTATIONS_DIR

BASE_FILE = CATALOG_DIR / "base_population_person.yaml"
BASE = yaml.safe_load(BASE_FILE.read_text(encoding="utf-8"))


def base() -> dict:
    return copy.deepcopy(BASE)


def write(directory: Path, data, name: str = "entry.yaml") -> Path:
    path = directory / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def catalog_error(path: Path, **kwargs) -> str:
    with pytest.raises(CatalogError) as info:
        load_entry(path, **kwargs)
    message = str(info.value)
    assert str(path) in message, message
    return message


def item_index(data: dict, name: str) -> int:
    return next(n for n, item in enumerate(data["items"]) if item["name"] == name)


# --- the real catalog --------------------------------------------------------------------------
def test_load_catalog_reads_the_population_entry():
    resources = load_catalog()
    assert len(resources) == len(list(CATALOG_DIR.glob("*.yaml"))) >= 1
    population = next(r for r in resources if r.code == "101001/000001")
    assert isinstance(population, Resource)
    assert population.dag_id == "base_population__person"
    assert population.pipeline.target.qualified == "base_population.person"
    assert population.column_names == [
        "id_number", "name", "sex", "ethnicity", "birth_date",
        "division_code", "address", "registration_status", "updated_at",
    ]
    assert population.pipeline.key_columns == ["id_number"]
    assert population.item("id_number").key and not population.item("id_number").nullable
    assert population.item("birth_date").type is DataType.D
    assert population.item("nope") is None
    assert population.classification.code == "101001"
    assert population.sharing.type is SharingType.conditional
    assert population.publish_date == dt.date(2026, 1, 15)
    assert credit_code.is_valid(population.provider.code)
    assert population.pipeline.quarantine_threshold == pytest.approx(0.10)


def test_load_catalog_sorted_by_code(tmp_path):
    second = base()
    second["code"] = "101001/000002"
    second["pipeline"]["target"]["table"] = "person_b"
    write(tmp_path, second, "a_second.yaml")
    write(tmp_path, base(), "b_first.yaml")
    assert [r.code for r in load_catalog(tmp_path)] == ["101001/000001", "101001/000002"]


def test_base_copy_round_trips(tmp_path):
    # guards every negative test below: the unmodified copy must load
    resource = load_entry(write(tmp_path, base()))
    assert resource == load_entry(BASE_FILE)


def test_find_by_code_or_dag_id():
    assert loader.find("base_population__person").code == "101001/000001"
    assert loader.find("101001/000001").dag_id == "base_population__person"
    with pytest.raises(CatalogError, match="no catalog entry"):
        loader.find("nope__nothing")


# --- malformed entries -------------------------------------------------------------------------
def test_missing_name(tmp_path):
    data = base()
    del data["name"]
    message = catalog_error(write(tmp_path, data))
    assert "field 'name'" in message
    assert "required" in message.lower()


def test_unknown_data_type_code(tmp_path):
    data = base()
    data["items"][0]["type"] = "Z"
    message = catalog_error(write(tmp_path, data))
    assert "items.0.type" in message
    assert "'C', 'N', 'Y', 'D', 'T'" in message  # lists the allowed codes


def test_unknown_data_type_in_later_item_names_its_index(tmp_path):
    data = base()
    data["items"][4]["type"] = "DATE"
    message = catalog_error(write(tmp_path, data))
    assert "items.4.type" in message


def test_key_flag_mismatch_with_key_columns(tmp_path):
    data = base()
    data["pipeline"]["key_columns"] = ["id_number", "name"]  # name is not flagged key
    message = catalog_error(write(tmp_path, data))
    assert "pipeline.key_columns" in message
    assert "id_number" in message


def test_key_flag_without_key_column(tmp_path):
    data = base()
    data["items"][item_index(data, "sex")]["key"] = True
    message = catalog_error(write(tmp_path, data))
    assert "pipeline.key_columns" in message
    assert "sex" in message


def test_nullable_key_item(tmp_path):
    data = base()
    data["items"][0]["nullable"] = True
    message = catalog_error(write(tmp_path, data))
    assert "items.0" in message
    assert "nullable" in message


def test_incremental_column_not_an_item(tmp_path):
    data = base()
    data["pipeline"]["source"]["incremental_column"] = "modified_at"
    message = catalog_error(write(tmp_path, data))
    assert "pipeline.source.incremental_column" in message
    assert "modified_at" in message


def test_incremental_column_wrong_type(tmp_path):
    data = base()
    data["pipeline"]["source"]["incremental_column"] = "name"  # type C
    message = catalog_error(write(tmp_path, data))
    assert "pipeline.source.incremental_column" in message
    assert "type D or T" in message


def test_incremental_column_of_type_d_allowed(tmp_path):
    data = base()
    data["pipeline"]["source"]["incremental_column"] = "birth_date"
    assert load_entry(write(tmp_path, data)).pipeline.source.incremental_column == "birth_date"


@pytest.mark.parametrize("condition", [None, ""])
def test_conditional_sharing_without_condition(tmp_path, condition):
    data = base()
    if condition is None:
        del data["sharing"]["condition"]
    else:
        data["sharing"]["condition"] = condition
    message = catalog_error(write(tmp_path, data))
    assert "field 'sharing'" in message
    assert "有条件共享" in message and "condition" in message


def test_not_shared_without_legal_basis(tmp_path):
    data = base()
    data["sharing"] = {"type": "不予共享", "method": "共享平台方式/数据库"}
    message = catalog_error(write(tmp_path, data))
    assert "field 'sharing'" in message
    assert "不予共享" in message


def test_personal_readers_only_with_conditional_sharing(tmp_path):
    data = base()
    data["sharing"]["type"] = "无条件共享"
    message = catalog_error(write(tmp_path, data))
    assert "field 'sharing'" in message and "personal_data_readers" in message


def test_not_shared_cannot_be_open(tmp_path):
    data = base()
    data["sharing"] = {"type": "不予共享", "condition": "《某法》第十条", "method": "共享平台方式/数据库"}
    data["open"] = {"open_to_public": True}
    message = catalog_error(write(tmp_path, data))
    assert "open to the public" in message


def test_provider_credit_code_bad_check_character(tmp_path):
    data = base()
    good = data["provider"]["code"]
    assert credit_code.is_valid(good)
    bad = good[:17] + next(c for c in credit_code.ALPHABET if c != good[17])
    data["provider"]["code"] = bad
    message = catalog_error(write(tmp_path, data))
    assert "provider.code" in message
    assert bad in message
    assert "check character" in message


def test_provider_code_not_a_credit_code_is_allowed(tmp_path):
    data = base()
    data["provider"]["code"] = "014400005"  # an organisation-style department code
    assert load_entry(write(tmp_path, data)).provider.code == "014400005"


def test_code_does_not_match_classification(tmp_path):
    data = base()
    data["code"] = "102001/000001"
    message = catalog_error(write(tmp_path, data))
    assert "102001/000001" in message
    assert "classification code 101001" in message


def test_bad_classification_class_code(tmp_path):
    data = base()
    data["classification"]["class_code"] = "4"
    message = catalog_error(write(tmp_path, data))
    assert "classification.class_code" in message


def test_bad_classification_item_pattern(tmp_path):
    data = base()
    data["classification"]["item"] = "1"
    message = catalog_error(write(tmp_path, data))
    assert "classification.item" in message


def test_invalid_yaml_reports_line(tmp_path):
    text = BASE_FILE.read_text(encoding="utf-8").replace("format: 数据库", "format: [数据库", 1)
    lines = text.splitlines()
    message = catalog_error(write(tmp_path, text))
    assert "invalid YAML" in message
    assert "line " in message
    line_no = int(message.split("line ")[1].split(",")[0])
    # the parser reports the broken flow sequence at or shortly after the edited line
    edited = next(n for n, line in enumerate(lines, start=1) if line.startswith("format: ["))
    assert edited <= line_no <= len(lines) + 1


def test_tab_indentation_reports_line(tmp_path):
    message = catalog_error(write(tmp_path, "name: x\ncode: y\n\tbad: 1\n"))
    assert "invalid YAML at line 3" in message


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("just a string\n", "str"), ("", "NoneType")])
def test_non_mapping_yaml(tmp_path, text, kind):
    message = catalog_error(write(tmp_path, text))
    assert "must be a mapping" in message
    assert kind in message


def test_not_utf8(tmp_path):
    path = tmp_path / "entry.yaml"
    path.write_bytes(BASE_FILE.read_text(encoding="utf-8").encode("gbk"))
    message = catalog_error(path)
    assert "not UTF-8" in message


def test_missing_expectation_suite_file(tmp_path):
    empty = tmp_path / "expectations"
    empty.mkdir()
    path = write(tmp_path, base())
    message = catalog_error(path, expectations_dir=empty)
    assert "pipeline.expectation_suite" in message
    assert str(empty / "base_population.person.json") in message
    with pytest.raises(CatalogError, match="no suite file"):
        load_catalog(tmp_path, expectations_dir=empty)


def test_a_suite_repeating_a_catalog_derived_check_is_a_catalog_error_naming_the_suite_file(tmp_path):
    suites = tmp_path / "expectations"
    suites.mkdir()
    suite = suites / "base_population.person.json"
    spec = json.loads((EXPECTATIONS_DIR / suite.name).read_text(encoding="utf-8"))
    spec["expectations"].append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"},
                                 "meta": {"reason": "姓名为空 / name is empty"}})
    suite.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    message = catalog_error(write(tmp_path, base()), expectations_dir=suites)
    assert "field 'pipeline.expectation_suite'" in message and str(suite) in message
    assert f"expectations[{len(spec['expectations']) - 1}]" in message
    assert "姓名(name) 为空 / value is missing" in message and "remove it from the suite" in message


@pytest.mark.parametrize("schedule", ["0 2 * *", "0 25 * * *", "every day", "*/0 * * * *", "0 2 * * * * *"])
def test_an_invalid_schedule_names_the_field(tmp_path, schedule):
    data = base()
    data["pipeline"]["schedule"] = schedule
    message = catalog_error(write(tmp_path, data))
    assert "field 'pipeline.schedule'" in message and repr(schedule) in message


@pytest.mark.parametrize("schedule", ["0 2 * * *", "30 1 1,15 * 1-5", "@daily", "0 */6 * * *"])
def test_a_valid_schedule_loads(tmp_path, schedule):
    data = base()
    data["pipeline"]["schedule"] = schedule
    assert load_entry(write(tmp_path, data)).pipeline.schedule == schedule


def test_suite_file_found_in_custom_dir(tmp_path):
    suites = tmp_path / "expectations"
    suites.mkdir()
    shutil.copy(EXPECTATIONS_DIR / "base_population.person.json", suites)
    entries = tmp_path / "catalog"
    entries.mkdir()
    write(entries, base())
    assert [r.code for r in load_catalog(entries, expectations_dir=suites)] == ["101001/000001"]


def test_duplicate_resource_code_across_files(tmp_path):
    first = write(tmp_path, base(), "a.yaml")
    other = base()
    other["pipeline"]["target"]["table"] = "person_copy"  # only the code collides
    second = write(tmp_path, other, "b.yaml")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    message = str(info.value)
    assert message.startswith(str(second))
    assert "field 'code'" in message
    assert "101001/000001" in message
    assert str(first) in message


def test_duplicate_target_across_files(tmp_path):
    first = write(tmp_path, base(), "a.yaml")
    other = base()
    other["code"] = "101001/000002"
    second = write(tmp_path, other, "b.yaml")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    message = str(info.value)
    assert message.startswith(str(second))
    assert "field 'pipeline.target'" in message
    assert "base_population.person" in message
    assert str(first) in message


@pytest.mark.parametrize(
    "where, field",
    [((), "colour"), (("pipeline",), "pipeline.colour"), (("pipeline", "source"), "pipeline.source.colour")],
)
def test_unknown_extra_key(tmp_path, where, field):
    data = base()
    target = data
    for key in where:
        target = target[key]
    target["colour"] = "blue"
    message = catalog_error(write(tmp_path, data))
    assert f"field '{field}'" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_extra_key_in_item(tmp_path):
    data = base()
    data["items"][2]["colour"] = "blue"
    message = catalog_error(write(tmp_path, data))
    assert "items.2.colour" in message


def test_duplicate_item_names(tmp_path):
    data = base()
    data["items"].append(dict(data["items"][1]))
    message = catalog_error(write(tmp_path, data))
    assert "repeat" in message and "name" in message


def test_source_needs_exactly_one_of_table_or_query(tmp_path):
    data = base()
    data["pipeline"]["source"]["query"] = "select * from frontend.population_person"
    message = catalog_error(write(tmp_path, data))
    assert "pipeline.source" in message
    assert "exactly one of 'table' or 'query'" in message


def test_source_query_must_be_select(tmp_path):
    data = base()
    del data["pipeline"]["source"]["table"]
    data["pipeline"]["source"]["query"] = "delete from frontend.population_person"
    message = catalog_error(write(tmp_path, data))
    assert "pipeline.source" in message and "SELECT" in message


def test_several_errors_are_all_reported(tmp_path):
    data = base()
    del data["name"]
    data["items"][0]["type"] = "Z"
    message = catalog_error(write(tmp_path, data))
    assert "field 'name'" in message and "items.0.type" in message


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["pipeline"].__setitem__("quarantine_threshold", 1.5), "pipeline.quarantine_threshold"),
        (lambda d: d["pipeline"].__setitem__("chunk_rows", 10), "pipeline.chunk_rows"),
        (lambda d: d["pipeline"]["target"].__setitem__("table", "Person"), "pipeline.target.table"),
        (lambda d: d.__setitem__("update_cycle", "每两天"), "update_cycle"),
        (lambda d: d.__setitem__("publish_date", "2026-13-01"), "publish_date"),
        (lambda d: d.__setitem__("items", []), "items"),
    ],
)
def test_field_constraints(tmp_path, mutate, field):
    data = base()
    mutate(data)
    message = catalog_error(write(tmp_path, data))
    assert f"field '{field}'" in message


# --- file-drop entries ---------------------------------------------------------------------------
VALUES = yaml.safe_load((CATALOG_DIR / "base_macro_economy_indicator_value.yaml").read_text(encoding="utf-8"))
BOUNDARIES = yaml.safe_load((CATALOG_DIR / "base_spatial_admin_division.yaml").read_text(encoding="utf-8"))


def test_file_drop_entries_load_with_their_settings():
    resources = {r.code: r for r in load_catalog()}
    values, boundaries = resources["104001/000002"], resources["103001/000001"]
    assert values.delivery_based and values.pipeline.source.incremental_column is None
    assert values.pipeline.source.wide.names_to == "period"
    assert [c.kind for c in values.pipeline.context_checks] == [
        "reference_match", "reference_match", "year_over_year", "province_total"]
    assert boundaries.pipeline.source.geometry.srid == 4490
    assert boundaries.pipeline.source.geometry.postgis_type == "MultiPolygon"


@pytest.mark.parametrize("mutate, field, message", [
    (lambda d: d["pipeline"]["source"].pop("geometry"), "pipeline.source",
     "'geometry' is required for the geojson format"),
    (lambda d: d["pipeline"]["source"]["geometry"].update(bbox_columns=["bbox_min_lon"]), "(entry)",
     "a polygon needs [min_lon, min_lat, max_lon, max_lat]"),
    (lambda d: d["pipeline"]["source"]["geometry"].update(column="division_name"), "(entry)",
     "item 'division_name' must be of type G"),
    (lambda d: d["pipeline"]["source"].update(formats=["shapefile"]), "pipeline.source.formats.0", "Input should be"),
    (lambda d: d["pipeline"]["source"].update(landing="../elsewhere"), "pipeline.source",
     "must be a relative folder or a URI"),
])
def test_bad_geometry_settings_name_the_field(tmp_path, mutate, field, message):
    data = copy.deepcopy(BOUNDARIES)
    mutate(data)
    text = catalog_error(write(tmp_path, data))
    assert f"field '{field}'" in text and message in text, text


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["pipeline"]["context_checks"][1].update(reference_columns=["indicator_code"]),
     "columns and reference_columns must have the same length"),
    (lambda d: d["pipeline"]["context_checks"][2].update(value="amount"),
     "context_checks 'year_over_year_within_band': 'amount' is not an item"),
    (lambda d: d["pipeline"]["source"]["wide"].update(header_pattern="(unclosed"), "not a regular expression"),
    (lambda d: d["pipeline"]["source"]["periods"].update(start_column="unit"), "must be of type D"),
    (lambda d: d["pipeline"]["context_checks"][3].update(kind="median_check"), "does not match any of the expected tags"),
])
def test_bad_context_checks_and_layouts_are_refused(tmp_path, mutate, message):
    data = copy.deepcopy(VALUES)
    mutate(data)
    text = catalog_error(write(tmp_path, data))
    assert message in text, text


# --- one broken entry affects that entry alone ---------------------------------------------------

def _theme_readers(catalog, table: str) -> list:
    """The errors of theme entries broken only because their input ``table`` did not load."""
    return [e for e in catalog.errors if f"input {table} is not a catalog resource" in e.message]


def _catalog_copy(tmp_path) -> tuple[Path, Path]:
    """A copy of the real catalog and suites, to break one entry in."""
    entries, suites = tmp_path / "catalog", tmp_path / "expectations"
    shutil.copytree(CATALOG_DIR, entries)
    shutil.copytree(EXPECTATIONS_DIR, suites)
    return entries, suites


def test_scan_keeps_the_good_entries_and_names_the_broken_one(tmp_path):
    entries, suites = _catalog_copy(tmp_path)
    broken = entries / "base_population_person.yaml"
    data = yaml.safe_load(broken.read_text(encoding="utf-8"))
    data["items"][0]["type"] = "Q"
    write(entries, data, broken.name)

    catalog = loader.scan_catalog(entries, suites)

    readers = _theme_readers(catalog, "base_population.person")  # themes reading it break with it
    assert len(catalog.resources) == len(list(CATALOG_DIR.glob("*.yaml"))) - 1 - len(readers)
    assert "base_population__person" not in {r.dag_id for r in catalog.resources}
    [error] = [e for e in catalog.errors if e not in readers]
    assert error.path == broken
    assert str(broken) in error.message and "field 'items.0.type'" in error.message
    with pytest.raises(CatalogError, match="items.0.type"):   # strict loading still refuses the catalog
        load_catalog(entries, suites)


def test_scan_reports_a_duplicate_against_the_later_file(tmp_path):
    first = write(tmp_path, base(), "a.yaml")
    other = base()
    other["pipeline"]["target"]["table"] = "person_copy"
    second = write(tmp_path, other, "b.yaml")
    catalog = loader.scan_catalog(tmp_path)
    assert [r.pipeline.target.table for r in catalog.resources] == ["person"]
    assert [e.path for e in catalog.errors] == [second]
    assert "field 'code'" in catalog.errors[0].message and str(first) in catalog.errors[0].message


def test_find_ignores_other_broken_entries(tmp_path):
    entries, suites = _catalog_copy(tmp_path)
    (entries / "base_legal_entity_legal_entity.yaml").write_text("code: [unclosed\n", encoding="utf-8")
    assert loader.find("base_population__person", entries, suites).code == "101001/000001"
    with pytest.raises(CatalogError) as info:
        loader.find("base_legal_entity__legal_entity", entries, suites)
    assert "no catalog entry" in str(info.value)
    assert "base_legal_entity_legal_entity.yaml" in str(info.value)   # says which entry might be it


# --- suites are checked when the catalog is loaded ----------------------------------------------

def _suite_dir_with(tmp_path, mutate) -> tuple[Path, Path]:
    suites = tmp_path / "expectations"
    suites.mkdir()
    path = suites / "base_population.person.json"
    spec = json.loads((EXPECTATIONS_DIR / path.name).read_text(encoding="utf-8"))
    mutate(spec)
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return suites, path


def test_unknown_expectation_type_is_caught_at_load_naming_the_suite(tmp_path):
    def typo(spec):
        spec["expectations"].insert(1, {"type": "expect_column_values_to_be_in_sett",
                                        "kwargs": {"column": "sex", "value_set": ["1", "2"]}})
    suites, suite = _suite_dir_with(tmp_path, typo)
    message = catalog_error(write(tmp_path, base()), expectations_dir=suites)
    assert str(suite) in message
    assert "expectations[1]" in message
    assert "'expect_column_values_to_be_in_sett'" in message
    assert "did you mean 'expect_column_values_to_be_in_set'" in message


@pytest.mark.parametrize("mutate, expected", [
    (lambda spec: spec["expectations"].append({"type": "expect_nothing_like_this", "kwargs": {}}),
     "unknown expectation type 'expect_nothing_like_this'"),
    (lambda spec: spec["expectations"].append({"kwargs": {}}), "needs 'type', 'kwargs'"),
    (lambda spec: spec["expectations"].append({"type": "expect_column_to_exist", "kwargs": {}, "severity": "fatal"}),
     "severity of critical/warning/info"),
    (lambda spec: spec.update(name="other"), "a suite needs 'name'"),
], ids=["unknown-type-no-suggestion", "no-type", "bad-severity", "wrong-name"])
def test_malformed_suites_are_caught_at_load(tmp_path, mutate, expected):
    suites, suite = _suite_dir_with(tmp_path, mutate)
    message = catalog_error(write(tmp_path, base()), expectations_dir=suites)
    assert str(suite) in message and expected in message
    assert "did you mean" not in message or "unknown" in expected


def test_suite_that_is_not_json_is_caught_at_load(tmp_path):
    suites = tmp_path / "expectations"
    suites.mkdir()
    suite = suites / "base_population.person.json"
    suite.write_text('{"name": "base_population.person", "expectations": [', encoding="utf-8")
    message = catalog_error(write(tmp_path, base()), expectations_dir=suites)
    assert str(suite) in message and "not valid JSON" in message


def test_known_expectation_types_match_great_expectations_and_the_custom_ones():
    """The checked-in list (catalog loading must not import GX) cannot drift from GX's registry."""
    from great_expectations.expectations import registry

    import baselib.validation.expectations  # noqa: F401  (registers the custom ones)

    # told apart by where each class lives, whatever other tests imported before this one
    registered = {name: registry.get_expectation_impl(name)
                  for name in registry.list_registered_expectation_implementations()}
    custom = {name for name, impl in registered.items() if impl.__module__.startswith("baselib.")}
    core = set(registered) - custom
    known = json.loads(loader.EXPECTATION_TYPES_FILE.read_text(encoding="utf-8"))
    assert set(known["great_expectations"]) == core
    assert set(known["baselib"]) == custom
    assert loader.known_expectation_types() == core | custom


def test_an_unreadable_entry_is_reported_not_raised(tmp_path):
    write(tmp_path, base(), "a.yaml")
    (tmp_path / "b.yaml").mkdir()   # a folder named like an entry: reading it fails
    catalog = loader.scan_catalog(tmp_path)
    assert [r.code for r in catalog.resources] == ["101001/000001"]
    assert [e.path.name for e in catalog.errors] == ["b.yaml"]
    assert "cannot read the entry" in catalog.errors[0].message


# --- the validation plan is compiled when the catalog is loaded ---------------------------------

@pytest.mark.parametrize("field, value, says", [
    ("dimension", "correctness", "it must be one of normative"),
    ("severity", "info", "severity must be one of ('critical', 'warning')"),  # the plan knows no 'info'
])
def test_a_plan_that_cannot_compile_breaks_only_its_entry_at_catalog_load(tmp_path, field, value, says):
    entries, suites = _catalog_copy(tmp_path)
    suite = suites / "base_population.person.json"
    spec = json.loads(suite.read_text(encoding="utf-8"))
    if field == "dimension":
        spec["expectations"][0].setdefault("meta", {})["dimension"] = value
    else:
        spec["expectations"][0]["severity"] = value
    suite.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")

    catalog = loader.scan_catalog(entries, suites)

    assert "base_population__person" not in {r.dag_id for r in catalog.resources}
    readers = _theme_readers(catalog, "base_population.person")  # themes reading it break with it
    assert len(catalog.resources) == len(list(CATALOG_DIR.glob("*.yaml"))) - 1 - len(readers)
    [error] = [e for e in catalog.errors if e not in readers]
    assert error.path == entries / "base_population_person.yaml"
    assert "field 'pipeline.expectation_suite'" in error.message and str(suite) in error.message
    assert says in error.message and repr(value) in error.message
