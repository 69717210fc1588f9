"""Read catalog YAML files into :class:`Resource` models, with errors that name file and field.

:func:`load_catalog` is strict (the CLI, the tests): the first broken entry raises.
:func:`scan_catalog` is lenient (DAG parsing, :func:`find`): a broken entry is reported in
``errors`` and the others load, so one department's mistake stops only its own resource.
"""
from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from baselib.catalog.model import Resource
from baselib.errors import CatalogError
from baselib.settings import CATALOG_DIR, EXPECTATIONS_DIR


SOURCE_KINDS = ("postgres", "http_api", "file_drop", "sql_model")  # pydantic puts the union tag into the error path
# Expectation types a suite may use: GX's registry and the project's own (checked-in, so loading
# the catalog does not import GX; a test keeps it equal to the registry).
EXPECTATION_TYPES_FILE = Path(__file__).with_name("expectation_types.json")
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class EntryError:
    """A catalog entry that could not be loaded: its file and the message (which names the field)."""

    path: Path
    message: str


@dataclass
class Catalog:
    """The result of :func:`scan_catalog`: the entries that loaded, sorted by code, and the broken ones."""

    resources: list[Resource] = field(default_factory=list)
    errors: list[EntryError] = field(default_factory=list)


@functools.cache
def known_expectation_types() -> frozenset[str]:
    """Every expectation ``type`` a suite may name (GX 1.x core types and the custom ones)."""
    known = json.loads(EXPECTATION_TYPES_FILE.read_text(encoding="utf-8"))
    return frozenset(known["great_expectations"]) | frozenset(known["baselib"])


def read_suite(path: Path, name: str) -> dict:
    """The suite file at ``path`` for suite ``name``: ``{"name", "expectations": [{"type", "kwargs",
    "severity"?, "meta"?}]}``. Raises :class:`CatalogError` naming the file, and the expectation's
    index, when it is missing, not JSON, not that suite, or an expectation has no type or kwargs,
    an unknown severity or an unknown type (with the closest known type)."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"no suite file {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read expectation suite: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(spec, dict) or spec.get("name") != name or not isinstance(spec.get("expectations"), list):
        raise CatalogError(f"{path}: a suite needs 'name' = {name!r} and an 'expectations' list")
    known = known_expectation_types()
    for n, exp in enumerate(spec["expectations"]):
        if (not isinstance(exp, dict) or not {"type", "kwargs"} <= exp.keys() or not isinstance(exp["kwargs"], dict)
                or exp.get("severity", "critical") not in SEVERITIES):
            raise CatalogError(f"{path}: expectations[{n}] needs 'type', 'kwargs' (a mapping) and a severity of "
                               f"{'/'.join(SEVERITIES)}")
        if exp["type"] not in known:
            close = difflib.get_close_matches(str(exp["type"]), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CatalogError(f"{path}: expectations[{n}] has unknown expectation type {exp['type']!r}{hint}")
    return spec


def _describe(error: dict) -> str:
    loc = list(error["loc"])
    parts = [p for n, p in enumerate(loc) if not (n and loc[n - 1] == "source" and p in SOURCE_KINDS)]
    field = ".".join(str(part) for part in parts) or "(entry)"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) <= 80:
        message += f" (got {value!r})"
    return f"field '{field}': {message}"


def load_entry(path: Path, expectations_dir: Path = EXPECTATIONS_DIR) -> Resource:
    """Parse and validate one entry and its expectation suite (see
    :func:`baselib.validation.suites.load_spec`), and compile its validation plan
    (:func:`baselib.validation.plan.compile`: every severity and ``meta.dimension`` known), so a
    suite a run could not compile breaks this entry alone, here. Raises :class:`CatalogError`
    naming the file and field (for the suite: ``pipeline.expectation_suite`` and the suite file)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the entry: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CatalogError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: a catalog entry must be a mapping, got {type(raw).__name__}")
    try:
        resource = Resource.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(_describe(e) for e in exc.errors())
        raise CatalogError(f"{path}: {details}") from exc
    # both import this module; light (no GX, pandas, pyarrow)
    from baselib.validation.plan import compile as compile_plan
    from baselib.validation.suites import load_spec

    if resource.is_theme:  # the model file: one SELECT reading exactly the declared inputs
        from baselib.themes import model as theme_model

        try:
            # parsed (sqlglot) here, DAG parsing included: a broken model is a placeholder DAG at once
            theme_model.check(resource)
        except CatalogError as exc:
            raise CatalogError(f"{path}: {exc}") from exc
    try:
        load_spec(resource, expectations_dir)  # readable, this resource's, repeating no catalog-derived check
        compile_plan(resource, expectations_dir)  # every severity and meta.dimension known
    except CatalogError as exc:
        raise CatalogError(f"{path}: field 'pipeline.expectation_suite': {exc}") from exc
    return resource


def scan_catalog(directory: Path = CATALOG_DIR, expectations_dir: Path = EXPECTATIONS_DIR) -> Catalog:
    """Every ``*.yaml`` entry in ``directory``, each loaded on its own: a broken one goes to
    ``errors`` and the rest load. Codes and targets must be unique: of two files claiming one,
    the later in file-name order is the broken one. A theme whose inputs are not other loaded
    entries is broken too (:func:`_check_themes`)."""
    catalog = Catalog()
    seen_code: dict[str, Path] = {}
    seen_target: dict[str, Path] = {}
    paths: dict[str, Path] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            resource = load_entry(path, expectations_dir)
            for seen, value, name in (
                (seen_code, resource.code, "code"),
                (seen_target, resource.pipeline.target.qualified, "pipeline.target"),
            ):
                if value in seen:
                    raise CatalogError(f"{path}: field '{name}': {value!r} is already used by {seen[value]}")
        except CatalogError as exc:
            catalog.errors.append(EntryError(path, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001  (isolation: whatever breaks one entry stays with it)
            catalog.errors.append(EntryError(path, f"{path}: cannot load the entry: {type(exc).__name__}: {exc}"))
            continue
        seen_code[resource.code] = seen_target[resource.pipeline.target.qualified] = path
        catalog.resources.append(resource)
        paths[resource.code] = path
    _check_themes(catalog, paths)
    catalog.resources.sort(key=lambda r: r.code)
    return catalog


def _check_themes(catalog: Catalog, paths: dict[str, Path]) -> None:
    """Cross-entry checks of the themes (:func:`baselib.themes.inputs.check`): each input is the
    target of another entry that loaded, its mapped columns are that entry's items. A theme that
    fails moves to ``errors`` (and so, in turn, does a theme reading it); the others get their
    related codes derived from their inputs."""
    from baselib.themes import inputs as theme_inputs

    changed = True
    while changed:
        changed = False
        for resource in [r for r in catalog.resources if r.is_theme]:
            try:
                theme_inputs.check(resource, catalog.resources)
            except CatalogError as exc:
                catalog.resources.remove(resource)
                catalog.errors.append(EntryError(paths[resource.code], f"{paths[resource.code]}: {exc}"))
                changed = True
    catalog.resources[:] = [theme_inputs.with_related_codes(r, catalog.resources) if r.is_theme else r
                            for r in catalog.resources]


def load_catalog(directory: Path = CATALOG_DIR, expectations_dir: Path = EXPECTATIONS_DIR) -> list[Resource]:
    """Every entry in ``directory``, sorted by resource code. Raises :class:`CatalogError` for the
    first broken entry (in file-name order), naming its file and field."""
    catalog = scan_catalog(directory, expectations_dir)
    if catalog.errors:
        raise CatalogError(catalog.errors[0].message)
    return catalog.resources


def find(code_or_dag_id: str, directory: Path = CATALOG_DIR, expectations_dir: Path = EXPECTATIONS_DIR) -> Resource:
    """The entry with that resource code or DAG id; other entries' errors do not matter. Raises
    :class:`CatalogError` when there is none, listing the broken entries that might have been it."""
    catalog = scan_catalog(directory, expectations_dir)
    for resource in catalog.resources:
        if code_or_dag_id in (resource.code, resource.dag_id):
            return resource
    broken = "".join(f"; broken entry {error.message}" for error in catalog.errors)
    raise CatalogError(f"no catalog entry with code or DAG id {code_or_dag_id!r} in {directory}{broken}")
