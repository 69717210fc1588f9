"""Read catalog YAML files into :class:`Resource` models, with errors that name file and field."""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from baselib.catalog.model import Resource
from baselib.errors import CatalogError
from baselib.settings import CATALOG_DIR, EXPECTATIONS_DIR


SOURCE_KINDS = ("postgres", "http_api", "file_drop")  # pydantic puts the union tag into the error path


def _describe(error: dict) -> str:
    loc = list(error["loc"])
    parts = [p for n, p in enumerate(loc) if not (n and loc[n - 1] == "source" and p in SOURCE_KINDS)]
    field = ".".join(str(part) for part in parts) or "(entry)"
    message = error["msg"].removeprefix("Value error, ")
    return f"field '{field}': {message}"


def load_entry(path: Path, expectations_dir: Path = EXPECTATIONS_DIR) -> Resource:
    """Parse and validate one entry. Raises :class:`CatalogError` naming the file and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
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
    suite = expectations_dir / f"{resource.pipeline.expectation_suite}.json"
    if not suite.is_file():
        raise CatalogError(f"{path}: field 'pipeline.expectation_suite': no suite file {suite}")
    return resource


def load_catalog(directory: Path = CATALOG_DIR, expectations_dir: Path = EXPECTATIONS_DIR) -> list[Resource]:
    """Every ``*.yaml`` entry in ``directory``, sorted by resource code. Codes and targets must be unique."""
    resources: list[Resource] = []
    seen_code: dict[str, Path] = {}
    seen_target: dict[str, Path] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        resource = load_entry(path, expectations_dir)
        for seen, value, field in (
            (seen_code, resource.code, "code"),
            (seen_target, resource.pipeline.target.qualified, "pipeline.target"),
        ):
            if value in seen:
                raise CatalogError(f"{path}: field '{field}': {value!r} is already used by {seen[value]}")
            seen[value] = path
        resources.append(resource)
    return sorted(resources, key=lambda r: r.code)


def find(code_or_dag_id: str, directory: Path = CATALOG_DIR) -> Resource:
    for resource in load_catalog(directory):
        if code_or_dag_id in (resource.code, resource.dag_id):
            return resource
    raise CatalogError(f"no catalog entry with code or DAG id {code_or_dag_id!r} in {directory}")
