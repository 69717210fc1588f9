"""The evaluation indicators' weights, thresholds, flags, grades and publish settings.

File: include/evaluation/indicators.yaml (``BASELIB_EVALUATION_CONFIG`` overrides the path, read at
call time). :func:`load_config` returns it validated::

    {"provision": {name: {"weight": float, ...thresholds (float)}},   # the six provision indicators
     "use":       {name: {"weight": float, ...}},                      # applications_made, measured_use
     "flags":     {"zombie_cycles": int >= 1, "unused": bool},
     "grades":    [{"grade": str, "min": float}, ...],                 # 0..100, best first, last min 0
     "publish":   {...}}                                               # as written (the publisher reads it)

Every indicator is present (a missing one gets weight 0, so it counts for nothing); thresholds named in
:data:`THRESHOLDS` are required numbers. Errors: :class:`baselib.errors.CatalogError` naming the file and
the key (``provision.quality.weight``), for an unknown indicator or group, a negative or non-numeric
weight, a non-numeric or non-positive threshold, grades not best first or whose last min is not 0, a bad
flag setting, or an unreadable file.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from baselib.errors import CatalogError
from baselib.settings import INCLUDE_DIR

DEFAULT_FILE = INCLUDE_DIR / "evaluation" / "indicators.yaml"
INDICATORS = {
    "provision": ("catalog_completeness", "timeliness", "quality", "quarantine_rate", "objections_on_time",
                  "application_response"),
    "use": ("applications_made", "measured_use"),
}
# Required thresholds per indicator (numbers > 0).
THRESHOLDS = {"quarantine_rate": ("max_rate",), "applications_made": ("target",), "measured_use": ("target",)}
TOP_LEVEL = ("provision", "use", "flags", "grades", "publish")


def config_path() -> Path:
    return Path(os.environ.get("BASELIB_EVALUATION_CONFIG") or DEFAULT_FILE)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_config(path: Path | str | None = None) -> dict:
    """The validated configuration (shape in the module docstring). Raises CatalogError."""
    path = Path(path or config_path())
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot read the evaluation indicators file: {exc}") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: must be a mapping with keys {list(TOP_LEVEL)}")

    def fail(key: str, message: str):
        raise CatalogError(f"{path}: {key}: {message}")

    unknown = sorted(set(raw) - set(TOP_LEVEL))
    if unknown:
        fail(unknown[0], f"unknown key; known: {list(TOP_LEVEL)}")
    out: dict = {}
    for group, names in INDICATORS.items():
        section = raw.get(group) or {}
        if not isinstance(section, dict):
            fail(group, "must be a mapping of indicator name to settings")
        for name in section:
            if name not in names:
                fail(f"{group}.{name}", f"unknown indicator; known {group} indicators: {list(names)}")
        out[group] = {}
        for name in names:
            settings = section.get(name) or {}
            if not isinstance(settings, dict):
                fail(f"{group}.{name}", "must be a mapping with a weight")
            weight = settings.get("weight", 0)
            if not _number(weight):
                fail(f"{group}.{name}.weight", f"must be a number, got {weight!r}")
            if weight < 0:
                fail(f"{group}.{name}.weight", f"must be >= 0, got {weight}")
            entry = {"weight": float(weight)}
            for key, value in settings.items():
                if key == "weight":
                    continue
                if key not in THRESHOLDS.get(name, ()):
                    fail(f"{group}.{name}.{key}", f"unknown setting; known: {['weight', *THRESHOLDS.get(name, ())]}")
            for key in THRESHOLDS.get(name, ()):
                value = settings.get(key)
                if not _number(value):
                    fail(f"{group}.{name}.{key}", f"must be a number, got {value!r}")
                if value <= 0:
                    fail(f"{group}.{name}.{key}", f"must be > 0, got {value}")
                entry[key] = float(value)
            out[group][name] = entry
    if not any(e["weight"] for g in out.values() for e in g.values()):
        fail("provision", "at least one indicator must have a weight > 0")

    flags = raw.get("flags") or {}
    if not isinstance(flags, dict):
        fail("flags", "must be a mapping")
    for key in flags:
        if key not in ("zombie_cycles", "unused"):
            fail(f"flags.{key}", "unknown flag setting; known: ['zombie_cycles', 'unused']")
    cycles = flags.get("zombie_cycles", 3)
    if not _number(cycles) or cycles < 1 or int(cycles) != cycles:
        fail("flags.zombie_cycles", f"must be a whole number >= 1, got {cycles!r}")
    unused = flags.get("unused", True)
    if not isinstance(unused, bool):
        fail("flags.unused", f"must be true or false, got {unused!r}")
    out["flags"] = {"zombie_cycles": int(cycles), "unused": unused}

    grades = raw.get("grades")
    if not isinstance(grades, list) or not grades:
        fail("grades", "must be a non-empty list of {grade, min}, best first")
    for i, entry in enumerate(grades):
        if not isinstance(entry, dict) or not entry.get("grade"):
            fail(f"grades[{i}].grade", "every grade needs a name")
        if not _number(entry.get("min")):
            fail(f"grades[{i}].min", f"must be a number, got {entry.get('min')!r}")
        if not 0 <= entry["min"] <= 100:
            fail(f"grades[{i}].min", f"must be within 0..100, got {entry['min']}")
    mins = [g["min"] for g in grades]
    if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        fail("grades", f"must be ordered best first (strictly decreasing min), got mins {mins}")
    if mins[-1] != 0:
        fail(f"grades[{len(grades) - 1}].min", f"the last grade must have min 0, got {mins[-1]}")
    out["grades"] = [{"grade": str(g["grade"]), "min": float(g["min"])} for g in grades]

    publish = raw.get("publish") or {}
    if not isinstance(publish, dict):
        fail("publish", "must be a mapping")
    out["publish"] = dict(publish)
    return out


def grade(score: float | None, config: dict) -> str | None:
    """The grade of a 0..100 score: the first (best first) whose min it reaches; None for None."""
    if score is None:
        return None
    return next((g["grade"] for g in config["grades"] if score >= g["min"]), None)


def weight(config: dict, name: str) -> float:
    """The weight of indicator ``name`` (provision or use)."""
    for group in INDICATORS:
        if name in config[group]:
            return config[group][name]["weight"]
    raise KeyError(name)


def settings(config: dict, name: str) -> dict:
    for group in INDICATORS:
        if name in config[group]:
            return config[group][name]
    raise KeyError(name)
