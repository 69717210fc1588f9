"""The evaluation indicators file (include/evaluation/indicators.yaml): the defaults load; every broken
file fails with a CatalogError naming the file and the key."""
from __future__ import annotations

import copy

import pytest
import yaml

from baselib.errors import CatalogError
from baselib.evaluation import config

DEFAULT = yaml.safe_load(config.DEFAULT_FILE.read_text(encoding="utf-8"))


def test_defaults_load_with_every_indicator_and_the_files_numbers():
    cfg = config.load_config()
    for group, names in config.INDICATORS.items():
        assert list(cfg[group]) == list(names)
        for name in names:
            assert cfg[group][name]["weight"] == float(DEFAULT[group][name]["weight"])
    assert cfg["provision"]["quarantine_rate"]["max_rate"] == DEFAULT["provision"]["quarantine_rate"]["max_rate"]
    assert cfg["use"]["measured_use"]["target"] == DEFAULT["use"]["measured_use"]["target"]
    assert cfg["flags"] == {"zombie_cycles": DEFAULT["flags"]["zombie_cycles"], "unused": DEFAULT["flags"]["unused"]}
    assert [g["grade"] for g in cfg["grades"]] == [g["grade"] for g in DEFAULT["grades"]]
    assert cfg["publish"] == DEFAULT["publish"]
    assert config.grade(DEFAULT["grades"][0]["min"], cfg) == DEFAULT["grades"][0]["grade"]
    assert config.grade(DEFAULT["grades"][0]["min"] - 0.001, cfg) == DEFAULT["grades"][1]["grade"]
    assert config.grade(0, cfg) == DEFAULT["grades"][-1]["grade"]
    assert config.grade(None, cfg) is None


def test_environment_variable_overrides_the_path(tmp_path, monkeypatch):
    changed = copy.deepcopy(DEFAULT)
    changed["provision"]["quality"]["weight"] = 42
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BASELIB_EVALUATION_CONFIG", str(path))
    assert config.load_config()["provision"]["quality"]["weight"] == 42.0


def _broken(change):
    data = copy.deepcopy(DEFAULT)
    change(data)
    return data


def _set(path, value):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _grades_worse_first(data):
    data["grades"] = list(reversed(data["grades"]))


def _grades_last_not_zero(data):
    data["grades"][-1]["min"] = 10


def _unknown_indicator(data):
    data["provision"]["speed"] = {"weight": 5}


def _unknown_top(data):
    data["weights"] = {}


@pytest.mark.parametrize("change, key", [
    (_unknown_indicator, "provision.speed"),
    (_unknown_top, "weights"),
    (_set(("use", "measured_use", "weight"), -1), "use.measured_use.weight"),
    (_set(("provision", "timeliness", "weight"), "high"), "provision.timeliness.weight"),
    (_set(("provision", "quarantine_rate", "max_rate"), "five percent"), "provision.quarantine_rate.max_rate"),
    (_set(("provision", "quarantine_rate", "max_rate"), 0), "provision.quarantine_rate.max_rate"),
    (_set(("use", "applications_made", "target"), None), "use.applications_made.target"),
    (_set(("provision", "quality", "threshold"), 3), "provision.quality.threshold"),
    (_grades_worse_first, "grades"),
    (_grades_last_not_zero, "grades[3].min"),
    (_set(("grades",), [{"grade": "优", "min": "90"}, {"grade": "差", "min": 0}]), "grades[0].min"),
    (_set(("flags", "zombie_cycles"), 0), "flags.zombie_cycles"),
    (_set(("flags", "zombie_cycles"), 2.5), "flags.zombie_cycles"),
    (_set(("flags", "unused"), "yes"), "flags.unused"),
])
def test_broken_file_names_the_file_and_the_key(tmp_path, change, key):
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(_broken(change), allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        config.load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message


def test_unreadable_file_names_the_file(tmp_path):
    path = tmp_path / "indicators.yaml"
    path.write_text("provision: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match=str(path)):
        config.load_config(path)
    with pytest.raises(CatalogError, match="missing.yaml"):
        config.load_config(tmp_path / "missing.yaml")
