"""Catalog checks of theme entries (SQL-model sources): the model file, its inputs, its
parameters, and the cross-entry checks. A broken theme entry breaks only itself."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from baselib.catalog import scan_catalog
from baselib.errors import CatalogError
from baselib.settings import CATALOG_DIR, EXPECTATIONS_DIR
from baselib.themes import model as theme_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "themes"
ENTRY = "theme_fixture_division_headcount.yaml"
MODEL = "theme_fixture.division_headcount.sql"


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A catalog of the population entry and the fixture theme, with their suites and model."""
    entries, suites, models = tmp_path / "catalog", tmp_path / "expectations", tmp_path / "models"
    for folder in (entries, suites, models):
        folder.mkdir()
    shutil.copy(CATALOG_DIR / "base_population_person.yaml", entries)
    shutil.copy(FIXTURE / "catalog" / ENTRY, entries)
    shutil.copy(EXPECTATIONS_DIR / "base_population.person.json", suites)
    shutil.copy(FIXTURE / "expectations" / "theme_fixture.division_headcount.json", suites)
    shutil.copy(FIXTURE / "models" / MODEL, models)
    monkeypatch.setenv("BASELIB_MODELS_DIR", str(models))
    return entries, suites, models


def _edit_entry(entries: Path, change) -> None:
    path = entries / ENTRY
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def _only_theme_broken(entries: Path, suites: Path) -> str:
    catalog = scan_catalog(entries, suites)
    assert [r.code for r in catalog.resources] == ["101001/000001"]  # the population entry still loads
    assert len(catalog.errors) == 1 and catalog.errors[0].path.name == ENTRY
    message = catalog.errors[0].message
    assert ENTRY in message
    return message


def test_fixture_theme_loads_with_derived_related_codes(dirs):
    entries, suites, _ = dirs
    catalog = scan_catalog(entries, suites)
    assert catalog.errors == []
    theme = next(r for r in catalog.resources if r.is_theme)
    assert theme.related_codes == ["101001/000001"]


def test_model_reading_an_undeclared_table_breaks_only_its_entry(dirs):
    entries, suites, models = dirs
    path = models / MODEL
    path.write_text(path.read_text(encoding="utf-8").replace(
        "FROM base_population.person_current AS p)",
        "FROM base_population.person_current AS p JOIN base_legal_entity.legal_entity AS e ON false)"),
        encoding="utf-8")
    message = _only_theme_broken(entries, suites)
    assert "field 'pipeline.source.inputs'" in message and "base_legal_entity.legal_entity" in message
    assert "do not declare" in message and MODEL in message


def test_declared_input_the_model_does_not_read(dirs):
    entries, suites, _ = dirs
    shutil.copy(CATALOG_DIR / "base_legal_entity_legal_entity.yaml", entries)
    shutil.copy(EXPECTATIONS_DIR / "base_legal_entity.legal_entity.json", suites)
    _edit_entry(entries, lambda raw: raw["pipeline"]["source"]["inputs"].append(
        {"table": "base_legal_entity.legal_entity", "columns": ["division_code"]}))
    catalog = scan_catalog(entries, suites)
    assert sorted(r.code for r in catalog.resources) == sorted(
        r.code for r in catalog.resources if not r.is_theme)  # the theme alone is broken
    [error] = catalog.errors
    assert error.path.name == ENTRY
    assert "field 'pipeline.source.inputs'" in error.message
    assert "['base_legal_entity.legal_entity'], which the model does not read" in error.message


def test_unknown_parameter(dirs):
    entries, suites, models = dirs
    path = models / MODEL
    path.write_text(path.read_text(encoding="utf-8").replace("%(dead_statuses)s", "%(dead_codes)s"), encoding="utf-8")
    message = _only_theme_broken(entries, suites)
    assert "field 'pipeline.source.parameters'" in message and "['dead_codes']" in message


def test_input_that_is_not_a_catalog_resource(dirs):
    entries, suites, _ = dirs
    (entries / "base_population_person.yaml").unlink()
    catalog = scan_catalog(entries, suites)
    assert catalog.resources == []
    [error] = catalog.errors
    assert error.path.name == ENTRY
    assert "field 'pipeline.source.inputs.0.table'" in error.message
    assert "input base_population.person is not a catalog resource" in error.message


def test_input_columns_must_be_items_of_the_input(dirs):
    entries, suites, _ = dirs
    _edit_entry(entries, lambda raw: raw["pipeline"]["source"]["inputs"][0].update(
        ages=[{"column": "died_on", "after": "1 day"}]))
    message = _only_theme_broken(entries, suites)
    assert "field 'pipeline.source.inputs.0.ages.0.column'" in message and "'died_on'" in message


def test_hand_listed_related_codes_must_equal_the_derived_ones(dirs):
    entries, suites, _ = dirs
    _edit_entry(entries, lambda raw: raw.update(related_codes=["101001/000001"]))
    assert scan_catalog(entries, suites).errors == []  # the same codes: accepted
    _edit_entry(entries, lambda raw: raw.update(related_codes=["102001/000001"]))
    message = _only_theme_broken(entries, suites)
    assert "field 'related_codes'" in message and "['101001/000001']" in message


def test_missing_model_file_and_wrong_output_columns(dirs):
    entries, suites, models = dirs
    path = models / MODEL
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("c.adults\n", "c.adults AS grown_ups\n"), encoding="utf-8")
    message = _only_theme_broken(entries, suites)
    assert "field 'items'" in message and "missing ['adults']" in message and "['grown_ups']" in message
    path.unlink()
    message = _only_theme_broken(entries, suites)
    assert "field 'pipeline.source.model'" in message and "no model file" in message


def test_analyse_parameters_ctes_suffixes_and_statement_kinds():
    found = theme_model.analyse(
        "WITH recent AS (SELECT * FROM a.b_history WHERE _valid_from > %(as_of)s - interval '1 day') "
        "SELECT r.k, %(rules)s::jsonb -> 'x' AS grade, 'x%%' AS pct FROM recent AS r "
        "JOIN c.d_current AS d ON d.k = r.k CROSS JOIN generate_series(1, 2) AS g")
    assert found.tables == ("a.b_history", "c.d_current")
    assert found.parameters == ("as_of", "rules")
    assert found.columns == ("k", "grade", "pct")
    assert theme_model.base_table("a.b_history", {"a.b"}) == "a.b"
    assert theme_model.base_table("c.d_current", {"a.b"}) == "c.d_current"
    assert theme_model.analyse("SELECT t.* FROM a.b AS t").columns is None
    for bad, says in (("SELECT 1; SELECT 2", "exactly one SELECT"), ("DELETE FROM a.b", "exactly one SELECT"),
                      ("WITH x AS (DELETE FROM a.b RETURNING *) SELECT * FROM x", "only reads"),
                      ("SELECT k FROM b", "without a schema"), ("SELEC k FROM a.b", "not valid PostgreSQL|exactly one SELECT")):
        with pytest.raises(CatalogError, match=says):
            theme_model.analyse(bad)


def test_fingerprint_follows_model_and_parameters(dirs):
    entries, suites, models = dirs
    theme = next(r for r in scan_catalog(entries, suites).resources if r.is_theme)
    first = theme_model.fingerprint(theme)
    assert theme_model.fingerprint(theme) == first
    changed = theme.model_copy(update={"pipeline": theme.pipeline.model_copy(update={
        "source": theme.pipeline.source.model_copy(update={"parameters": {"dead_statuses": ["死亡", "注销"]}})})})
    assert theme_model.fingerprint(changed) != first
    path = models / MODEL
    path.write_text(path.read_text(encoding="utf-8") + "\n-- reviewed\n", encoding="utf-8")
    assert theme_model.fingerprint(theme) != first


def test_indexes_derive_from_inputs_and_the_model(dirs):
    """Open-version indexes on every input's mapped and age columns; an index over every version
    only where the model reads the input's SCD2 table."""
    from baselib.themes import indexes

    entries, suites, models = dirs
    theme = next(r for r in scan_catalog(entries, suites).resources if r.is_theme)
    assert indexes.planned(theme) == [
        ("base_population.person_history", "person_history_division_code_open", ["division_code"], True),
        ("base_population.person_history", "person_history_birth_date_open", ["birth_date"], True)]
    path = models / MODEL
    path.write_text(path.read_text(encoding="utf-8").replace(
        "FROM base_population.person_current AS r", "FROM base_population.person_history AS r"), encoding="utf-8")
    assert indexes.planned(theme)[-1] == (
        "base_population.person_history", "person_history_division_code_all", ["division_code"], False)
    assert len(indexes.index_name("a" * 60, "x_open")) == 59


@pytest.mark.parametrize("column, problem", [
    ("id_number", "citizen_id"),      # a citizen ID mapped onto a division-code key: different identifiers
    ("birth_date", "(D)"),            # a date mapped onto a text key
])
def test_input_columns_must_hold_the_refresh_key(dirs, column, problem):
    """An input column that does not hold the refresh key's values (it reaches the key only
    through another table) would refresh keys that do not exist and leave the theme stale: the
    entry is broken, naming the field, the column and the key."""
    entries, suites, _ = dirs
    _edit_entry(entries, lambda raw: raw["pipeline"]["source"]["inputs"][0].update(columns=[column]))
    message = _only_theme_broken(entries, suites)
    assert "field 'pipeline.source.inputs.0.columns.0'" in message
    assert f"base_population.person.{column}" in message and problem in message
    assert "does not hold values of the refresh key division_code (C, division_code)" in message
