"""Typed model of a catalog entry: the national guide's metadata plus pipeline settings.

Metadata follows 政务信息资源目录编制指南（试行）(2017): classification, name, code,
provider, summary, format, items with data-type codes, sharing, open attribute,
update cycle and publish date. The ``pipeline`` block says how the engine moves it.
"""
from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from baselib.identifiers import credit_code

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DataType(str, Enum):
    """信息项数据类型 codes of the guide."""

    C = "C"  # 字符型
    N = "N"  # 数值型
    Y = "Y"  # 货币型
    D = "D"  # 日期型
    T = "T"  # 日期时间型
    L = "L"  # 逻辑型
    M = "M"  # 备注型
    G = "G"  # 通用型
    B = "B"  # 双精度型
    I = "I"  # 整型  # noqa: E741
    F = "F"  # 浮点型


class ResourceFormat(str, Enum):
    electronic_file = "电子文件"
    spreadsheet = "电子表格"
    database = "数据库"
    image = "图形图像"
    streaming = "流媒体"
    self_describing = "自描述格式"
    service_interface = "服务接口"


class UpdateCycle(str, Enum):
    realtime = "实时"
    daily = "每日"
    weekly = "每周"
    monthly = "每月"
    quarterly = "每季度"
    half_yearly = "每半年"
    yearly = "每年"
    other = "其他"


class SharingType(str, Enum):
    unconditional = "无条件共享"
    conditional = "有条件共享"
    not_shared = "不予共享"


class SharingMethod(str, Enum):
    platform_database = "共享平台方式/数据库"
    platform_file = "共享平台方式/文件"
    platform_interface = "共享平台方式/接口"
    email = "邮件方式"
    media = "介质方式"


class Classification(Strict):
    """信息资源分类: class (1 digit), item (2), category (3), optional sub-category."""

    class_code: Literal["1", "2", "3"] = Field(description="1 基础, 2 主题, 3 部门")
    item: str = Field(pattern=r"^\d{2}$")
    category: str = Field(pattern=r"^\d{3}$")
    subcategory: str | None = Field(default=None, pattern=r"^\d{2,3}$")

    @property
    def code(self) -> str:
        return self.class_code + self.item + self.category + (self.subcategory or "")


class Provider(Strict):
    name: str = Field(min_length=2)
    code: str = Field(description="提供方代码, usually the department's unified social credit code")
    timezone: str = Field(default="Asia/Shanghai",
                          description="IANA zone in which the provider's local times (a timestamp without time "
                                      "zone, an epoch date) are read")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)") from exc
        return value

    @field_validator("code")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        if len(value) == 18 and not credit_code.is_valid(value):
            raise ValueError(f"{value!r} looks like a unified social credit code but its check character is wrong")
        return value


# "code": another identifier-like code (a holder code of either kind, a document number)
IdentifierKind = Literal["citizen_id", "credit_code", "organisation_code", "certificate_id", "division_code", "code"]

# How a personal item is masked for a consumer without personal-data access (computed in the
# database by the functions of include/sql/ddl/050_masking.sql in the masked view
# <schema>.<table>_masked, never stored; NULL stays NULL): citizen_id keeps the first 6 and last 4
# characters (360102********1234), name the surname: the first character (张*), or the first two
# for a compound surname such as 欧阳 when the name has 3 or more (欧阳**), phone the first 3 and
# last 4 (138****8000), address the first 6 characters followed by exactly ****. Short values never
# leak: a citizen_id, phone or address that would keep those characters with fewer than 4 hidden is
# starred in full (a passport number -> *********, an address of 9 characters or fewer -> ****), a
# one-character name is *. A personal item without a rule is left out of the masked view.
MaskRule = Literal["citizen_id", "name", "phone", "address"]


class Item(Strict):
    """信息项: one field of the resource. ``name`` becomes the column name.

    ``identifier`` marks an item holding a standard identifier. Its text is normalised the same
    way on every source kind before it is checked (see ``baselib.sources.text``)."""

    name: str = Field(pattern=IDENTIFIER)
    label: str = Field(min_length=1, description="Chinese label (信息项名称)")
    type: DataType
    length: int | None = Field(default=None, gt=0)
    scale: int | None = Field(default=None, ge=0)
    nullable: bool = True
    key: bool = False
    personal: bool = Field(default=False, description="personal data: readable only where sharing allows")
    identifier: IdentifierKind | None = Field(
        default=None, description="the standard identifier the item holds (citizen ID, credit code, ...)")
    mask: MaskRule | None = Field(
        default=None, description="masking rule for consumers without personal-data access (personal items only)")
    description: str | None = None

    @model_validator(mode="after")
    def _key_not_null(self) -> Item:
        if self.key and self.nullable:
            raise ValueError(f"item {self.name!r} is a key, so it must have nullable: false")
        if self.mask is not None and not self.personal:
            raise ValueError(f"item {self.name!r} has mask: {self.mask} but is not personal: true")
        if self.mask is not None and self.type not in (DataType.C, DataType.M):
            raise ValueError(f"item {self.name!r}: mask applies to text items (type C or M), not {self.type.value}")
        return self


class Sharing(Strict):
    type: SharingType
    condition: str | None = Field(default=None, description="共享条件, or the legal basis when not shared")
    method: SharingMethod
    personal_data_readers: list[str] = Field(
        default_factory=list, description="roles granted the personal items (only for conditional sharing)"
    )

    @model_validator(mode="after")
    def _condition_required(self) -> Sharing:
        if self.type is not SharingType.unconditional and not self.condition:
            raise ValueError(f"sharing type {self.type.value} needs a condition (共享条件 or legal basis)")
        if self.personal_data_readers and self.type is not SharingType.conditional:
            raise ValueError("personal_data_readers is only allowed with 有条件共享 (conditional sharing)")
        return self


class OpenAttribute(Strict):
    open_to_public: bool
    condition: str | None = None


class PostgresSource(Strict):
    """A department's PostgreSQL front-end exchange database (前置库)."""

    kind: Literal["postgres"]
    conn_id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Airflow connection id")
    table: str | None = Field(default=None, pattern=r"^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$")
    query: str | None = None
    incremental_column: str | None = None
    lookback_seconds: int = Field(
        default=3600, ge=0, description="incremental runs re-read this margin below the watermark, so rows "
                                        "committed late with an earlier incremental value are not missed")

    @model_validator(mode="after")
    def _table_or_query(self) -> PostgresSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.query is not None and not re.match(r"(?is)^\s*(select|with)\b", self.query):
            raise ValueError("'query' must be a single SELECT statement")
        return self


class HttpApiSource(Strict):
    """A paged HTTP JSON API (服务接口): cursor paging, an ``updated_since`` filter, bearer token.

    The connection's host/port/schema give the base URL and its password is the token.
    """

    kind: Literal["http_api"]
    conn_id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Airflow connection id")
    endpoint: str = Field(pattern=r"^/[A-Za-z0-9_./-]*$", description="path of the list endpoint")
    page_size: int = Field(default=1000, ge=1, le=10_000)
    incremental_column: str | None = None
    lookback_seconds: int = Field(
        default=3600, ge=0, description="incremental runs re-read this margin below the watermark")
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=5, ge=0)
    max_pages: int = Field(default=10_000, ge=1, description="an extract following more pages than this fails")
    max_empty_pages: int = Field(
        default=3, ge=1, description="this many empty pages in a row that still carry a next_cursor fail the extract")


FILE_FORMATS = ("geojson", "csv", "excel")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030")


class GeometrySettings(Strict):
    """How a GeoJSON feature's geometry becomes items: WKB, GeoJSON text, bounding box."""

    column: str = Field(pattern=IDENTIFIER, description="item of type G receiving the WKB")
    kind: Literal["polygon", "point"]
    geojson_column: str | None = Field(default=None, pattern=IDENTIFIER, description="item of type M")
    bbox_columns: list[str] = Field(
        description="items of type B: [min_lon, min_lat, max_lon, max_lat], or [lon, lat] for points")
    repaired_column: str | None = Field(default=None, pattern=IDENTIFIER,
                                        description="item of type L: the geometry was repaired losslessly")
    crs: str = Field(default="EPSG:4490", pattern=r"^EPSG:\d{4,5}$", description="CRS the warehouse stores")

    @property
    def srid(self) -> int:
        return int(self.crs.split(":")[1])

    @property
    def postgis_type(self) -> str:
        return "MultiPolygon" if self.kind == "polygon" else "Point"


class WideLayout(Strict):
    """Wide sheets (e.g. regions x periods): headers matching ``header_pattern`` are unpivoted."""

    names_to: str = Field(pattern=IDENTIFIER, description="item receiving the unpivoted header")
    values_to: str = Field(pattern=IDENTIFIER, description="item receiving the cell value")
    header_pattern: str = Field(description="regular expression a header must match to be unpivoted")

    @field_validator("header_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class PeriodSettings(Strict):
    """Statistical periods (2025, 2025Q3, 2025-10) normalised into type, start and end items."""

    column: str = Field(pattern=IDENTIFIER)
    type_column: str = Field(pattern=IDENTIFIER)
    start_column: str = Field(pattern=IDENTIFIER)
    end_column: str = Field(pattern=IDENTIFIER)


class FileDropSource(Strict):
    """Files a department drops into a landing folder (object storage: local, or S3 in production).

    Each file is one delivery, processed once (``ops.file_delivery``); unreadable files move to
    ``<landing>/_rejected/`` with their reason."""

    kind: Literal["file_drop"]
    landing: str = Field(min_length=1, description="folder under BASELIB_LANDING_URL, or a full URI (s3://...)")
    formats: list[Literal["geojson", "csv", "excel"]] = Field(min_length=1)
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030"] = "auto"
    header_aliases: dict[str, str] = Field(default_factory=dict, description="extra header -> item name")
    wide: WideLayout | None = None
    periods: PeriodSettings | None = None
    geometry: GeometrySettings | None = None
    min_file_age_seconds: int = Field(
        default=60, ge=0, description="a file modified more recently than this may still be being written: it "
                                      "is skipped (never rejected) until a later run")

    @property
    def incremental_column(self) -> None:
        """Deliveries, not a changing table: there is no incremental column."""
        return None

    @model_validator(mode="after")
    def _geometry_for_geojson(self) -> FileDropSource:
        if ("geojson" in self.formats) != (self.geometry is not None):
            raise ValueError("'geometry' is required for the geojson format, and only allowed with it")
        if self.landing.startswith("/") or ".." in self.landing.split("/"):
            raise ValueError(f"landing {self.landing!r} must be a relative folder or a URI")
        return self


class Condition(Strict):
    column: str = Field(pattern=IDENTIFIER)
    equals: str


QUALIFIED = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"


class InputAge(Strict):
    """A date or time item of an input whose passing changes the theme without any input change:
    a row's refresh key is recomputed when ``column + after`` falls between the previous
    refresh's as-of instant and this one's (a penalty leaving a 3-year window, a certificate
    expiring)."""

    column: str = Field(pattern=IDENTIFIER)
    after: str = Field(pattern=r"^\d+ (day|days|month|months|year|years)$",
                       description="PostgreSQL interval, e.g. '3 years', '1 day'")


class ThemeInput(Strict):
    """One table a SQL model reads, and how its changed rows map to the theme's refresh key.

    ``table``: the base view ``schema.table`` of a catalog resource (the model may read it as
    ``schema.table``, ``schema.table_current`` or ``schema.table_history``). ``columns``: the input
    columns whose values are the theme's ``refresh_key`` values, in order. ``when``: only input
    rows where this holds map to the theme (e.g. holder_code_type = 001 for an organisation)."""

    table: str = Field(pattern=QUALIFIED)
    columns: list[str] = Field(min_length=1)
    when: Condition | None = None
    ages: list[InputAge] = Field(default_factory=list)


class SqlModelSource(Strict):
    """A theme resource's source: one SELECT over warehouse tables (``include/sql/models/<model>.sql``).

    The SELECT returns exactly the catalog's items; it may use the parameters ``%(as_of)s``
    (timestamptz: the run's data interval end), ``%(as_of_date)s`` (its date in Asia/Shanghai)
    and each entry of ``parameters`` (lists and mappings arrive as jsonb). Every table the model
    reads must be one of ``inputs`` (the loader parses the SQL and checks), and the inputs must be
    catalog resources: the theme's DAG is scheduled on their Assets and its related resource
    codes are derived from them. A refresh recomputes only the ``refresh_key`` values (default:
    the key columns) that the inputs' loads since the last refresh touched."""

    kind: Literal["sql_model"]
    model: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
                       description="include/sql/models/<model>.sql")
    inputs: list[ThemeInput] = Field(min_length=1)
    refresh_key: list[str] | None = Field(default=None, min_length=1)
    parameters: dict[str, object] = Field(default_factory=dict)

    @property
    def incremental_column(self) -> None:
        """A model is recomputed by refresh key, not read by an incremental column."""
        return None

    @model_validator(mode="after")
    def _inputs(self) -> SqlModelSource:
        tables = [i.table for i in self.inputs]
        if len(tables) != len(set(tables)):
            raise ValueError(f"inputs repeat a table: {tables}")
        arity = {len(i.columns) for i in self.inputs}
        if self.refresh_key is not None and arity != {len(self.refresh_key)}:
            raise ValueError(f"every input's columns must have as many columns as refresh_key {self.refresh_key}")
        if len(arity) != 1:
            raise ValueError("every input's columns must have the same number of columns (the refresh key's)")
        return self


Source = Annotated[PostgresSource | HttpApiSource | FileDropSource | SqlModelSource, Field(discriminator="kind")]


class Target(Strict):
    schema_name: str = Field(alias="schema", pattern=IDENTIFIER)
    table: str = Field(pattern=IDENTIFIER)

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.table}"


class CrossCheck(Strict):
    """A warning-level check that a value exists in another base library (never quarantines).

    Its match rate is recorded per run (ops.load_run.cross_checks, evaluation.sync_metrics) and
    shown in the quality report."""

    name: str = Field(pattern=IDENTIFIER)
    column: str = Field(pattern=IDENTIFIER)
    when: Condition | None = None
    reference: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="schema.table of a base library")
    reference_column: str = Field(pattern=IDENTIFIER)
    reason: str = Field(min_length=1)


Severity = Literal["critical", "warning"]


class ReferenceMatch(Strict):
    """The combination of ``columns`` must exist among ``reference_columns`` of another table's live rows."""

    kind: Literal["reference_match"]
    name: str = Field(pattern=IDENTIFIER)
    columns: list[str] = Field(min_length=1)
    reference: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    reference_columns: list[str] = Field(min_length=1)
    severity: Severity = "critical"
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _same_arity(self) -> ReferenceMatch:
        if len(self.columns) != len(self.reference_columns):
            raise ValueError("columns and reference_columns must have the same length")
        return self


class PointInPolygon(Strict):
    """A point must fall inside the polygon of the reference row its ``via`` column names."""

    kind: Literal["point_in_polygon"]
    name: str = Field(pattern=IDENTIFIER)
    column: str = Field(pattern=IDENTIFIER)
    via: str = Field(pattern=IDENTIFIER)
    reference: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    reference_key: str = Field(pattern=IDENTIFIER)
    reference_geometry: str = Field(pattern=IDENTIFIER)
    severity: Severity = "critical"
    reason: str = Field(min_length=1)


class ReferenceFlag(Strict):
    """Apply a check only to rows whose ``column`` value is a ``reference_column`` value of a live
    reference row with ``flag`` true (e.g. only indicators that are totals)."""

    reference: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    column: str = Field(pattern=IDENTIFIER)
    reference_column: str = Field(pattern=IDENTIFIER)
    flag: str = Field(pattern=IDENTIFIER)


class YearOverYear(Strict):
    """A value's change against the same period a year earlier (this delivery or the warehouse)."""

    kind: Literal["year_over_year"]
    name: str = Field(pattern=IDENTIFIER)
    value: str = Field(pattern=IDENTIFIER)
    series: list[str] = Field(min_length=1)
    period_type: str = Field(pattern=IDENTIFIER)
    period_start: str = Field(pattern=IDENTIFIER)
    max_change: float = Field(gt=0, description="allowed relative change, e.g. 0.5 for ±50%")
    only_if_flag: ReferenceFlag | None = None
    severity: Severity = "warning"
    reason: str = Field(min_length=1)


class ProvinceTotal(Strict):
    """A province's value (XX0000) against the sum of its prefectures' (XXYY00) for the same group,
    checked only when every prefecture in use has a value."""

    kind: Literal["province_total"]
    name: str = Field(pattern=IDENTIFIER)
    value: str = Field(pattern=IDENTIFIER)
    region: str = Field(pattern=IDENTIFIER)
    group: list[str] = Field(min_length=1)
    tolerance: float = Field(ge=0, description="allowed relative difference")
    only_if_flag: ReferenceFlag | None = None
    severity: Severity = "warning"
    reason: str = Field(min_length=1)


ContextCheck = Annotated[ReferenceMatch | PointInPolygon | YearOverYear | ProvinceTotal, Field(discriminator="kind")]


class Pipeline(Strict):
    source: Source
    target: Target
    key_columns: list[str] = Field(min_length=1)
    expectation_suite: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    quarantine_threshold: float = Field(ge=0, le=1, description="block the load above this quarantined share")
    max_row_count_drop: float = Field(
        default=0.5, ge=0, le=1, description="block a full extract smaller than (1 - this) x the live rows"
    )
    max_deleted_share: float = Field(
        default=0.05, ge=0, le=1,
        description="block a reconcile (or a theme's full refresh) that would flag more than this share of the "
                    "live rows deleted; nothing is deleted then. An incremental theme refresh's deletions are "
                    "exact and not limited (baselib.themes.scope)")
    allow_empty: bool = Field(
        default=False,
        description="an empty result is a valid state (e.g. an exception list that may be empty): the engine's "
                    "checks empty_extract and row_count_collapse are off for this resource, whatever its source. "
                    "max_deleted_share still applies to reconciles and full theme refreshes")
    chunk_rows: int = Field(default=100_000, ge=1_000)
    schedule: str | None = Field(default=None, description="cron override; default derives from update_cycle")
    retries: int = Field(default=3, ge=0)
    overdue_after: dt.timedelta | None = Field(
        default=None,
        description="grace after a data interval ends before the provider's data counts as overdue (a deadline "
                    "alert): an ISO-8601 duration (PT6H, P2D) or a number of hours; default per update cycle "
                    "(baselib.orchestration.alerts.CYCLE_DEFAULTS)")
    cross_checks: list[CrossCheck] = Field(default_factory=list)
    context_checks: list[ContextCheck] = Field(
        default_factory=list, description="row checks needing the whole extract or other tables (evidence columns)")

    @field_validator("overdue_after", mode="before")
    @classmethod
    def _hours(cls, value):
        """A bare number is hours (``6`` → 6 h); a string is an ISO-8601 duration."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return dt.timedelta(hours=value)
        return value

    @field_validator("overdue_after")
    @classmethod
    def _positive(cls, value: dt.timedelta | None) -> dt.timedelta | None:
        if value is not None and value <= dt.timedelta(0):
            raise ValueError("overdue_after must be a positive duration")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """A five-field cron expression or a croniter alias (``@daily``): what Airflow's cron
        timetable accepts, checked here so a bad one is this entry's error, not the DAG folder's."""
        if value is None:
            return value
        from croniter import CroniterError, croniter  # installed with Airflow; only entries that override

        try:
            fields = len(croniter(value).expanded)
        except CroniterError as exc:
            raise ValueError(f"not a valid cron expression: {exc}") from exc
        if fields != 5:
            raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday), got {fields}")
        return value


class Resource(Strict):
    classification: Classification
    name: str = Field(min_length=2, description="信息资源名称")
    code: str = Field(description="信息资源代码: classification code / sequence")
    provider: Provider
    summary: str = Field(min_length=1)
    format: ResourceFormat
    items: list[Item] = Field(min_length=1)
    sharing: Sharing
    open: OpenAttribute
    update_cycle: UpdateCycle
    publish_date: dt.date
    related_codes: list[str] = Field(default_factory=list)
    pipeline: Pipeline

    @model_validator(mode="after")
    def _consistent(self) -> Resource:
        expected_prefix = self.classification.code + "/"
        if not re.fullmatch(re.escape(expected_prefix) + r"\d{1,6}", self.code):
            raise ValueError(
                f"code {self.code!r} must be the classification code {self.classification.code} + '/' + sequence number"
            )
        names = [item.name for item in self.items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"items repeat the names {duplicates}")
        keys = [item.name for item in self.items if item.key]
        if sorted(keys) != sorted(self.pipeline.key_columns):
            raise ValueError(f"pipeline.key_columns {self.pipeline.key_columns} must equal the items flagged key {keys}")
        inc = self.pipeline.source.incremental_column
        if inc is not None:
            item = self.item(inc)
            if item is None or item.type not in (DataType.D, DataType.T):
                raise ValueError(f"pipeline.source.incremental_column {inc!r} must be an item of type D or T")
        for check in self.pipeline.cross_checks:
            for column in (check.column, check.when.column if check.when else check.column):
                if self.item(column) is None:
                    raise ValueError(f"pipeline.cross_checks {check.name!r}: {column!r} is not an item")
        self._check_file_drop()
        self._check_sql_model()
        self._check_context_checks()
        if self.sharing.type is SharingType.not_shared and self.open.open_to_public:
            raise ValueError("a resource that is 不予共享 cannot be open to the public")
        return self

    def _require(self, where: str, name: str | None, *types: DataType) -> None:
        if name is None:
            return
        item = self.item(name)
        if item is None:
            raise ValueError(f"{where}: {name!r} is not an item")
        if types and item.type not in types:
            raise ValueError(f"{where}: item {name!r} must be of type {'/'.join(t.value for t in types)}, "
                             f"not {item.type.value}")

    def _check_file_drop(self) -> None:
        source = self.pipeline.source
        if source.kind != "file_drop":
            return
        where = "pipeline.source"
        for alias, target in source.header_aliases.items():
            self._require(f"{where}.header_aliases.{alias}", target)
        if source.wide:
            self._require(f"{where}.wide.names_to", source.wide.names_to)
            self._require(f"{where}.wide.values_to", source.wide.values_to)
        if source.periods:
            p = source.periods
            self._require(f"{where}.periods.column", p.column, DataType.C)
            self._require(f"{where}.periods.type_column", p.type_column, DataType.C)
            self._require(f"{where}.periods.start_column", p.start_column, DataType.D)
            self._require(f"{where}.periods.end_column", p.end_column, DataType.D)
        if source.geometry:
            g = source.geometry
            self._require(f"{where}.geometry.column", g.column, DataType.G)
            self._require(f"{where}.geometry.geojson_column", g.geojson_column, DataType.M)
            self._require(f"{where}.geometry.repaired_column", g.repaired_column, DataType.L)
            if len(g.bbox_columns) != (4 if g.kind == "polygon" else 2):
                raise ValueError(f"{where}.geometry.bbox_columns: a {g.kind} needs "
                                 f"{'[min_lon, min_lat, max_lon, max_lat]' if g.kind == 'polygon' else '[lon, lat]'}")
            for name in g.bbox_columns:
                self._require(f"{where}.geometry.bbox_columns", name, DataType.B, DataType.F)

    def _check_sql_model(self) -> None:
        source = self.pipeline.source
        if source.kind != "sql_model":
            return
        refresh = source.refresh_key or self.pipeline.key_columns
        missing = [c for c in refresh if c not in self.pipeline.key_columns]
        if missing:
            raise ValueError(f"pipeline.source.refresh_key: {missing} are not key columns {self.pipeline.key_columns}")
        if len(source.inputs[0].columns) != len(refresh):
            raise ValueError(f"pipeline.source.inputs: each input maps {len(source.inputs[0].columns)} columns but "
                             f"the refresh key {refresh} has {len(refresh)}")
        if self.pipeline.target.qualified in {i.table for i in source.inputs}:
            raise ValueError("pipeline.source.inputs: a model cannot read its own target")

    @property
    def refresh_key(self) -> list[str]:
        """The key columns a theme refresh recomputes by (sql_model sources); the key otherwise."""
        source = self.pipeline.source
        return list(getattr(source, "refresh_key", None) or self.pipeline.key_columns)

    @property
    def is_theme(self) -> bool:
        """Built by a SQL model over warehouse tables (a theme library), not read from a provider."""
        return self.pipeline.source.kind == "sql_model"

    def _check_context_checks(self) -> None:
        names = [c.name for c in self.pipeline.context_checks] + [c.name for c in self.pipeline.cross_checks]
        if len(names) != len(set(names)):
            raise ValueError(f"pipeline: check names must be unique, got {names}")
        for check in self.pipeline.context_checks:
            where = f"pipeline.context_checks {check.name!r}"
            if check.kind == "reference_match":
                for name in check.columns:
                    self._require(where, name)
            elif check.kind == "point_in_polygon":
                self._require(where, check.column, DataType.G)
                self._require(where, check.via)
            elif check.kind == "year_over_year":
                for name in (check.value, check.period_type, check.period_start, *check.series):
                    self._require(where, name)
                if check.only_if_flag:
                    self._require(where, check.only_if_flag.column)
            elif check.kind == "province_total":
                for name in (check.value, check.region, *check.group):
                    self._require(where, name)
                if check.only_if_flag:
                    self._require(where, check.only_if_flag.column)

    @property
    def delivery_based(self) -> bool:
        """Rows arrive as file deliveries (each a delta), not as a readable source table."""
        return self.pipeline.source.kind == "file_drop"

    def item(self, name: str) -> Item | None:
        return next((i for i in self.items if i.name == name), None)

    @property
    def column_names(self) -> list[str]:
        return [item.name for item in self.items]

    @property
    def dag_id(self) -> str:
        return f"{self.pipeline.target.schema_name}__{self.pipeline.target.table}"
