"""What a reader makes of one delivered file: raw values per catalog item, plus where each row
came from and evidence the suite checks. :func:`header_map` maps a file's headers (or GeoJSON
property names) to items by name, Chinese label (信息项名称) or the catalog's aliases."""
from __future__ import annotations

from dataclasses import dataclass, field

from baselib.catalog.model import Resource
from baselib.errors import UnreadableFile
from baselib.sources.text import NUL, NUL_SHOWN


@dataclass
class ParsedFile:
    """Columns of raw values (items and evidence), one position per row read from the file."""

    columns: dict[str, list] = field(default_factory=dict)    # item or evidence column -> raw values
    refs: list[str] = field(default_factory=list)             # per row: where in the file
    ignored_columns: list[str] = field(default_factory=list)  # headers mapping to no item, parts not loaded
    ignored_rows: list[str] = field(default_factory=list)     # rows that are not records (titles, footnotes)

    def __post_init__(self) -> None:
        # These describe the file (the manifest, the quarantine's source_ref): PostgreSQL cannot
        # store a NUL, so one in a title, header or property name is shown as ␀. Values keep
        # theirs: the row rules (baselib.sources.text) quarantine the row naming it.
        self.refs, self.ignored_columns, self.ignored_rows = (
            [shown(t) for t in texts] for texts in (self.refs, self.ignored_columns, self.ignored_rows))

    @property
    def rows(self) -> int:
        return len(self.refs)

    def column(self, name: str) -> list:
        values = self.columns.get(name)
        return values if values is not None else [None] * self.rows

    @classmethod
    def from_records(cls, records: list[dict], refs: list[str], ignored_columns: list[str]) -> ParsedFile:
        names = list(dict.fromkeys(name for record in records for name in record))
        return cls({name: [r.get(name) for r in records] for name in names}, refs, ignored_columns)


def shown(text: str) -> str:
    """``text`` with any NUL (U+0000) as ␀ (U+2400), for what is stored about a file rather than its values."""
    return text.replace(NUL, NUL_SHOWN)


def header_map(resource: Resource) -> dict[str, str]:
    """Normalised header text -> item name."""
    mapping = {}
    for item in resource.items:
        mapping[_norm(item.name)] = item.name
        mapping[_norm(item.label)] = item.name
    source = resource.pipeline.source
    for alias, item in getattr(source, "header_aliases", {}).items():
        mapping[_norm(alias)] = item
    return mapping


def _norm(text) -> str:
    return str(text).strip().lower().replace(" ", "").replace("\u3000", "")


def map_header(mapping: dict[str, str], header) -> str | None:
    return mapping.get(_norm(header)) if header is not None else None


def require(resource: Resource, present: set[str], derived: set[str], where_zh: str, where_en: str) -> None:
    """Reject a file that lacks a required (non-nullable) item the engine cannot derive.
    ``where_zh`` / ``where_en``: the part of the file, named in the bilingual reason."""
    missing = [i for i in resource.items if not i.nullable and i.name not in present and i.name not in derived]
    if missing:
        names = ", ".join(f"{i.label}({i.name})" for i in missing)
        raise UnreadableFile(f"{where_zh}缺少必填信息项的列：{names} / {where_en}: no column for the required items {names}")
