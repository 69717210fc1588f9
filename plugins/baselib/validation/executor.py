"""Run a validation plan (:mod:`baselib.validation.plan`) over an extract's Parquet parts.

One pass over the parts, after the run-wide inputs are prepared once: the duplicate keys of the
whole extract, the context checks' lookups (:mod:`~baselib.validation.context_checks`) and the
cross-library checks' matched values (:mod:`~baselib.validation.cross_checks`). For each part:

1. the row hash ``_row_hash`` is added (:func:`baselib.loading.changes.with_row_hash`; the valid
   parts carry it in every mode, so the merge does not hash again);
2. changed rows only (see below): rows whose key's open live version has the same hash are set
   aside as unchanged, in their own parts (``<prefix>/unchanged``);
3. each expectation of the plan is evaluated: by the vectorised fast path
   (:func:`baselib.validation.vectorised.evaluate`), or, for the types it lacks, by GX
   (:mod:`~baselib.validation.gx_fallback`, imported only then);
4. :class:`Judge` splits the rows: a critical row-level expectation that fails (``mostly``
   honoured) quarantines its unexpected rows, with a reason that names the real cause (the
   diagnoses of :mod:`~baselib.validation.diagnoses`, the ``_conversion_error`` evidence); a
   critical table-level expectation that fails, or any critical expectation that raises,
   blocks the load; warnings are counted and reported, never blocking.

Then, once per load: file drops hold back every delivery above the quarantine threshold
(:mod:`~baselib.validation.delivery_quality`); the rejected rows go to ``ops.quarantine``; the
engine's table checks (:func:`table_checks`) judge the run as a whole.

**Changed rows only.** In ``incremental`` and ``reconcile`` runs of table and API sources, a row
whose key's open, live version already has the same row hash is *unchanged*: it is not checked
again, it goes to the unchanged parts (full rows with ``_row_hash``) instead of the valid ones,
and is counted in ``rows_skipped_unchanged``. The stored version passed these checks when it
loaded, and the row's values are the same. Each part is probed in its own short transaction
(:func:`baselib.loading.changes.unchanged`); before the first probe the executor reads the
resource's committed-load token (:func:`baselib.loading.merge.committed_loads`,
:attr:`Execution.committed_loads`). The merge, under the load lock, compares it: if no load
committed since, the unchanged rows count as unchanged and are never read; if one did (it may
have changed or deleted their keys), the merge stages and classifies the unchanged parts too.
Exceptions and limits:

* a row whose key occurs more than once in the extract is always checked (both copies are
  judged, and both are quarantined by the duplicate-key check);
* a row that carries engine evidence against it is always checked: every check of the plan that
  reads an engine column rather than a catalog item (``_conversion_error``, ``_geometry_error``,
  ``_source_crs``, a context check's ``_check__*``) is evaluated over the whole part first, and
  the rows it finds unexpected are not set aside. A value the source could not convert is set
  NULL, so such a row may hash like a stored version holding NULL;
* a run whose plan holds a check that depends on other rows or on counts
  (:func:`baselib.validation.plan.needs_every_row`: ``mostly`` below 1, uniqueness beyond the
  key, table-level expectations other than column presence) checks every row;
* ``full`` runs and file drops check every row;
* the engine's table checks (row counts, deletions, the quarantine threshold) still count every
  extracted row; cross-library match rates and warnings cover the rows checked;
* reference data: a check that reads something other than the row itself (the GB/T 2260 division
  codes, another base library in a cross or context check, the warehouse's earlier values in a
  year-over-year check, the run's ``as_of`` date) can change its verdict while the row stays the
  same. An unchanged row is not judged again against new reference data until the next ``full``
  run (or until the row itself changes); schedule a full run after the reference data changes,
  to re-judge every stored row.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.util import hash_array

from baselib import quarantine, storage
from baselib.catalog.model import Resource
from baselib.loading import changes
from baselib.loading.merge import committed_loads, count_absent
from baselib.records import load_run
from baselib.records.progress import Progress
from baselib.sources.columns import CONVERSION_ERROR, DELIVERY_ID, ROW_ID
from baselib.themes import scope
from baselib.validation import context_checks, cross_checks, delivery_quality
from baselib.validation.diagnoses import DIAGNOSES
from baselib.validation.plan import Check, Plan
from baselib.validation.rejected import rejected_records
from baselib.validation.suites import KEY_COLUMN, context_check_column
from baselib.warehouse import connections, sqlfiles

log = logging.getLogger(__name__)

SAMPLES = 5  # unexpected values kept per check for the report
CHANGED_ONLY_MODES = ("incremental", "reconcile")


# --- keys --------------------------------------------------------------------------------------------
def _key_hash_values(columns: list) -> np.ndarray:
    """One uint64 per row: a 64-bit hash (pandas' ``hash_array``, fixed key) of the key values as
    text, joined by U+001F, NULL as U+0000."""
    texts = [pc.fill_null(column.cast(pa.string()), "\x00") for column in columns]
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    return hash_array(joined.to_numpy(zero_copy_only=False), categorize=False)


def _key_hashes(columns: list) -> pa.Array:
    """One opaque string per row: :func:`_key_hash_values` in decimal."""
    return pa.array(_key_hash_values(columns), pa.uint64()).cast(pa.string())


def key_strings(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One opaque string per row identifying its key (see :func:`table_key_strings`), so the
    duplicate-key check never writes personal identifiers into the quality report."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    hashed = _key_hashes([pa.array(frame[k], from_pandas=True) for k in keys])
    return pd.Series(hashed.to_pandas(), index=frame.index)


def table_key_strings(table: pa.Table, keys: list[str]) -> pa.Array:
    """:func:`key_strings` of an Arrow table's rows (the same values for the same keys)."""
    if table.num_rows == 0:
        return pa.array([], pa.string())
    return _key_hashes([table.column(k) for k in keys])


def duplicate_keys(resource: Resource, parts: list[str]) -> list[str]:
    """Keys (as :func:`key_strings`) that occur more than once anywhere in the extract.

    Memory: 8 bytes per extracted row (the keys' 64-bit hashes, sorted in place), so a 10M-row
    extract costs about 80 MB here; only the repeated hashes become strings."""
    keys = resource.pipeline.key_columns
    hashed = []
    for uri in parts:
        table = storage.read_part(uri, keys)
        if any(k not in table.column_names for k in keys):
            return []
        if table.num_rows:
            hashed.append(_key_hash_values([table.column(k) for k in keys]))
        del table
    if not hashed:
        return []
    values = np.concatenate(hashed)
    del hashed
    values.sort()
    repeated = np.unique(values[1:][values[1:] == values[:-1]])
    return [str(int(v)) for v in repeated]


# --- the engine's table checks ------------------------------------------------------------------------
def table_checks(resource: Resource, mode: str, rows: int, quarantined: int, live_rows: int,
                 absent: int = 0) -> list[tuple[str, str]]:
    """The engine's table checks that fail, as ``(name, message)``; the plan lists them
    (:data:`baselib.validation.plan.ENGINE_CHECKS`).

    ``rows``: every extracted row (unchanged ones included); ``quarantined``: rows failing
    critical checks; ``live_rows``: live rows in the warehouse; ``absent``: the live keys a
    reconcile or a theme's full refresh would flag deleted (0 where none are judged, and for an
    incremental theme refresh: :mod:`baselib.themes.scope`). More than ``max_deleted_share`` of the
    live rows blocks the run, so a snapshot cut short (paging that ended early, a partial refresh
    at the source) deletes nothing. ``empty_extract`` and ``row_count_collapse`` judge full
    extracts, unless the entry sets ``pipeline.allow_empty`` (an empty result is a valid state).

    The quarantine threshold is a share of the extracted rows; in an incremental theme refresh,
    which recomputes only the affected keys, a share of ``max(rows, live_rows)``: the theme as a
    whole, so one bad row among three recomputed keys does not block what a full rebuild would
    pass.

    None for file drops: a delivery is a set of changes, so neither an empty nor a small one
    means loss, and the quarantine threshold applies to each delivery (validation.delivery_quality)."""
    if resource.delivery_based:
        return []
    failed = []
    full = mode in ("full", "reconcile") and not resource.pipeline.allow_empty
    if full and rows == 0:
        failed.append(("empty_extract", "the full extract returned no rows"))
    drop = resource.pipeline.max_row_count_drop
    if full and live_rows and rows < (1 - drop) * live_rows:
        failed.append(("row_count_collapse",
                       f"the full extract has {rows} rows but {live_rows} are live: more than {drop:.0%} would vanish"))
    limit = resource.pipeline.max_deleted_share
    if absent and live_rows and absent > limit * live_rows:  # absent is counted only where it is limited
        share = absent / live_rows
        failed.append(("max_deleted_share",
                       f"对账将把 {live_rows} 条现存记录中的 {absent} 条（{share:.1%}）标记为删除，超过上限 {limit:.1%}，"
                       f"未删除、未加载任何记录 / the reconcile would flag {absent} of {live_rows} live rows ({share:.1%}) "
                       f"deleted, more than max_deleted_share {limit:.1%}: nothing was deleted or loaded"))
    judged = max(rows, live_rows) if resource.is_theme and mode == "incremental" else rows
    if judged and quarantined / judged > resource.pipeline.quarantine_threshold:
        of = f"{rows} rows" if judged == rows else f"{rows} recomputed rows ({judged} live in the theme)"
        failed.append(("quarantine_threshold",
                       f"{quarantined} of {of} ({quarantined / judged:.1%}) failed critical checks; "
                       f"the threshold is {resource.pipeline.quarantine_threshold:.1%}"))
    return failed


def _live_rows(conn, resource: Resource) -> int:
    with conn.cursor() as cur:
        cur.execute(sqlfiles.compose("queries/live_rows", table=sqlfiles.ident(resource.pipeline.target.qualified)))
        return cur.fetchone()[0]


# --- one check over one part ---------------------------------------------------------------------------
@dataclass
class Evaluation:
    """One check over one part. ``unexpected``: bool mask over the part's rows (None for a table
    level check, or when it raised); ``success``: the check passed (``mostly`` honoured);
    ``error``: the message when it raised."""

    unexpected: np.ndarray | None
    success: bool
    element_count: int
    observed: object = None
    error: str | None = None


@dataclass
class PartOutcome:
    """How a part splits. ``rejected_mask``: bool over the part's rows; ``rejected``: one
    quarantine record per rejected row (``rejected.rejected_records``); ``valid``: the other rows
    (without ``_key``), built when first read."""

    frame: pd.DataFrame
    rejected_mask: np.ndarray
    rejected: pd.DataFrame          # ROW_ID, record_key, source_row, failed_expectations, reason, ...
    warned_rows: int
    blocking: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @functools.cached_property
    def valid(self) -> pd.DataFrame:
        return self.frame.loc[~self.rejected_mask].drop(columns=[KEY_COLUMN], errors="ignore")


def _is_conversion_check(check: Check) -> bool:
    return check.type == "expect_column_values_to_be_null" and check.kwargs.get("column") == CONVERSION_ERROR


class Judge:
    """Splits a part into valid and rejected rows from its checks' evaluations.

    A rejected row's reason names the real cause: where an expectation has a diagnosis
    (``baselib.validation.diagnoses.DIAGNOSES``), each failing row's value is explained (which
    character, which length, which check character) instead of the check's static reason, and a
    check the diagnosis covers on the same column (the catalog's length check) gives that row the
    same reason, so one cause is one reason. Likewise a value the source could not convert (set
    NULL, or its NUL shown as ␀) is named in ``_conversion_error`` (``"<label>(<name>) …"``): that
    evidence is the row's reason for every failing check on the items it names (not-null,
    min-length, identifier)."""

    def __init__(self, resource: Resource):
        self.keys = resource.pipeline.key_columns
        self.labels = {item.name: item.label for item in resource.items}
        # how _conversion_error names an item (baselib.sources.values.problem, baselib.sources.text.nul_reason)
        self.evidence_names = {item.name: f"{item.label}({item.name}) " for item in resource.items}

    def judge(self, checks: list[Check], frame: pd.DataFrame, evaluations: dict[int, Evaluation]) -> PartOutcome:
        """``frame``: the part with ``_source_row`` and ``_key``; ``evaluations``: check index -> result."""
        row_ids = frame[ROW_ID].to_numpy(dtype=np.int64)
        failures: dict[int, list[dict]] = {}
        covered: dict[int, dict[str, str]] = {}  # row -> {covered check: the covering reason}
        unconverted: dict[int, str] = {}  # row -> the conversion check's reason
        domains: dict[str, set[str]] = {}  # failed check -> the item columns it reads
        warned: set[int] = set()
        blocking: list[tuple[str, str]] = []
        warnings: list[str] = []
        for check in checks:
            ev = evaluations.get(check.index)
            if ev is None or (ev.success and ev.error is None):
                continue
            name, reason = check.name, check.reason
            is_row_level = ev.error is None and ev.unexpected is not None
            if check.severity == "critical" and not is_row_level:
                blocking.append((name, ev.error or reason))
            elif check.severity == "critical":
                ids = row_ids[ev.unexpected].tolist()
                reasons = [reason] * len(ids)
                diagnosis = DIAGNOSES.get(check.type)
                if diagnosis is not None and ids:
                    reasons = self._explain(diagnosis, check.kwargs, frame.loc[ev.unexpected], reason)
                    subject = check.kwargs[diagnosis.subject]
                    for row_id, row_reason in zip(ids, reasons):
                        if row_reason != reason:
                            covered.setdefault(row_id, {}).update(
                                {f"{kind}({subject})": row_reason for kind in diagnosis.covers})
                if _is_conversion_check(check):
                    unconverted.update(dict.fromkeys(ids, reason))
                domains[name] = {check.kwargs[k] for k in ("column", "column_A", "column_B") if k in check.kwargs}
                for row_id, row_reason in zip(ids, reasons):
                    failures.setdefault(row_id, []).append(
                        {"expectation": check.type, "check": name, "severity": check.severity, "reason": row_reason})
            elif is_row_level:
                ids = row_ids[ev.unexpected].tolist()
                warned.update(ids)
                warnings.append(f"{name}: {len(ids)} rows — {reason}")
            else:
                warnings.append(f"{name}: {ev.error or reason}")
        if unconverted:
            by_row = frame.set_index(ROW_ID)
            for row_id, evidence in by_row.loc[list(unconverted), CONVERSION_ERROR].items():
                named = {name for name, shown in self.evidence_names.items() if shown in str(evidence)}
                covered.setdefault(int(row_id), {}).update(
                    {check: unconverted[row_id] for check, columns in domains.items() if columns & named})
        for row_id, by_check in covered.items():
            for failure in failures[row_id]:
                failure["reason"] = by_check.get(failure["check"], failure["reason"])
        mask = np.isin(row_ids, np.fromiter(failures, dtype=np.int64, count=len(failures)))
        return PartOutcome(
            frame=frame,
            rejected_mask=mask,
            rejected=rejected_records(frame.loc[mask].drop(columns=[KEY_COLUMN], errors="ignore"), failures,
                                      self.keys),
            warned_rows=len(warned - failures.keys()),
            blocking=blocking,
            warnings=warnings,
        )

    def _explain(self, diagnosis, kwargs: dict, rows: pd.DataFrame, reason: str) -> list[str]:
        """Per failing row: ``"<label>(<column>) <zh> / <en>"`` from the diagnosis, or ``reason``
        where it has nothing more specific to say (or a value it reads is not text)."""
        subject = kwargs[diagnosis.subject]
        label = f"{self.labels.get(subject, subject)}({subject})"
        columns = [rows[kwargs[key]].astype(object) for key in diagnosis.inputs]
        out = []
        for values in zip(*columns):
            cause = diagnosis.explain(kwargs, *values) if all(isinstance(v, str) for v in values) else None
            out.append(reason if cause is None else f"{label} {cause.zh} / {cause.en}")
        return out


# --- evaluating the plan's expectations ------------------------------------------------------------------
def _fast_path():
    """The vectorised package, or None while it is not installed in this checkout."""
    try:
        from baselib.validation import vectorised
    except ModuleNotFoundError as exc:
        if exc.name != "baselib.validation.vectorised":
            raise
        return None
    return vectorised


class Evaluator:
    """Evaluates the plan's expectations over a part: the fast path for the types it supports,
    GX (built once, on first need) for the others."""

    def __init__(self, resource: Resource, checks: list[Check], parameters: dict):
        self.resource = resource
        self.parameters = parameters
        self.vectorised = _fast_path()
        supported = getattr(self.vectorised, "SUPPORTED", ())
        self.fast = [c for c in checks if c.type in supported]
        self.slow = [c for c in checks if c.type not in supported]
        self._gx = None

    @property
    def fallback_types(self) -> list[str]:
        """Expectation types this run evaluates through GX."""
        return sorted({c.type for c in self.slow})

    def evaluate(self, frame: pd.DataFrame, run_name: str) -> dict[int, Evaluation]:
        out: dict[int, Evaluation] = {}
        for check in list(self.fast):
            try:
                ev = self.vectorised.evaluate(check.type, check.kwargs, frame, self.parameters)
            except self.vectorised.UnsupportedExpectation:
                # these kwargs are beyond the fast path: GX judges this check from now on
                self.fast.remove(check)
                self.slow.append(check)
                self._gx = None
                continue
            except Exception as exc:  # noqa: BLE001 - an expectation that raises is a result (GX does the same)
                out[check.index] = Evaluation(None, False, len(frame), error=f"{type(exc).__name__}: {exc}")
                continue
            unexpected = None if ev.unexpected is None else np.asarray(ev.unexpected, dtype=bool)
            out[check.index] = Evaluation(unexpected, bool(ev.success), int(ev.element_count),
                                          getattr(ev, "observed", None))
        if self.slow:
            if self._gx is None:
                from baselib.validation.gx_fallback import GxEvaluator

                log.info("%s: evaluating %s through GX", self.resource.code, ", ".join(self.fallback_types))
                self._gx = GxEvaluator(self.resource, self.slow, self.parameters)
            out.update(self._gx.evaluate(frame, run_name))
        return out


# --- results per check (for the report) ------------------------------------------------------------------
@dataclass
class CheckResult:
    """A check's result over the whole load. For a row check: the rows it judged and the
    unexpected ones; for a table check: 1 element, 1 unexpected when it failed."""

    check: Check
    element_count: int = 0
    unexpected_count: int = 0
    success: bool = True
    evaluated: bool = False
    errors: list[str] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)   # {"key", "values"}, masked where personal
    observed: object = None

    @property
    def unexpected_percent(self) -> float:
        return 100.0 * self.unexpected_count / self.element_count if self.element_count else 0.0


def mask_value(value) -> str | None:
    """A value's first 3 and last 2 characters, the rest ``*`` (fully starred when 6 characters or
    fewer). Not what the report shows of a personal item: :class:`Samples` applies the item's
    catalog mask rule (:func:`baselib.security.masking.mask`)."""
    if value is None:
        return None
    text = str(value)
    if len(text) <= 6:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 5) + text[-2:]


SAMPLE_WKT_CHARS = 60  # a sample geometry's WKT longer than this is shown as its type and point count


def geometry_text(value) -> str | None:
    """A WKB value (bytes, or hex text with or without PostgreSQL's ``\\x`` prefix) as the provider
    would recognise it: its WKT (``POINT (115.8 28.6)``) when at most :data:`SAMPLE_WKT_CHARS`
    characters, else its type and size (``MULTIPOLYGON (…, 812 points)``). None when the value is
    not WKB."""
    import shapely

    from baselib.geometry import shapes

    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).hex()
    if not isinstance(value, str):
        return None
    value = value.strip()
    value = value[len(shapes.BYTEA_HEX_PREFIX):] if value.startswith(shapes.BYTEA_HEX_PREFIX) else value
    try:  # not shapes.from_wkb_hex: its one-column cache belongs to the suite's checks
        geom = shapely.from_wkb(value, on_invalid="ignore") if value else None
    except Exception:  # noqa: BLE001 - not WKB: shown as it is
        geom = None
    if geom is None:
        return None
    wkt = shapely.to_wkt(geom, rounding_precision=6, trim=True)
    if len(wkt) <= SAMPLE_WKT_CHARS:
        return wkt
    return f"{geom.geom_type.upper()} (…, {shapely.get_num_coordinates(geom)} points)"


class Samples:
    """Takes up to :data:`SAMPLES` failing rows per check, personal items (key items too) masked
    by their catalog ``mask:`` rule exactly as the masked consumer views show them
    (:func:`baselib.security.masking.mask`); a personal item without a rule shows ``***``.

    Values as the provider would recognise them: a geometry (a WKB value of a 通用型 ``G`` item,
    or any bytes that decode as WKB) as :func:`geometry_text`; other bytes as hex; a missing
    value as None (the report shows ``（空）/ empty``); numbers and booleans as they are;
    anything else as text."""

    def __init__(self, resource: Resource):
        from baselib.catalog.model import DataType

        self.keys = resource.pipeline.key_columns
        self.rules = {item.name: item.mask for item in resource.items if item.personal}
        self.items = set(resource.column_names)
        self.binary = {item.name for item in resource.items if item.type == DataType.G}

    def _show(self, column: str, value):
        if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
            return None
        if column in self.binary or isinstance(value, (bytes, bytearray, memoryview)):
            shown = geometry_text(value)
            if shown is not None:
                value = shown
            elif isinstance(value, (bytes, bytearray, memoryview)):
                value = bytes(value).hex()
        if column in self.rules:
            from baselib.security import masking

            return masking.mask(self.rules[column], value)
        return value if isinstance(value, (int, float, bool)) else str(value)

    def take(self, result: CheckResult, frame: pd.DataFrame, unexpected: np.ndarray) -> None:
        wanted = SAMPLES - len(result.samples)
        if wanted <= 0 or not unexpected.any():
            return
        rows = frame.iloc[np.flatnonzero(unexpected)[:wanted]]
        columns = [c for c in result.check.columns if c in self.items and c in rows.columns]
        keys = [k for k in self.keys if k in rows.columns]
        for record in rows[list(dict.fromkeys(keys + columns))].to_dict("records"):
            result.samples.append({
                "key": "/".join("" if (v := self._show(k, record[k])) is None else str(v) for k in keys),
                "values": {c: self._show(c, record[c]) for c in columns},
            })


# --- the load -------------------------------------------------------------------------------------------
@dataclass
class Execution:
    """What the executor found in one load."""

    valid_parts: list[str]
    rejected_parts: list[str]
    unchanged_parts: list[str]      # rows set aside as unchanged (full rows with _row_hash)
    committed_loads: int | None     # the committed-load token read before the first probe (None: no probe)
    rows_extracted: int
    rows_checked: int
    rows_skipped_unchanged: int
    rows_quarantined: int
    rows_warned: int
    blocking: list[tuple[str, str]]
    warnings: list[str]
    quarantined_by_delivery: dict[int, int]
    cross_checks: dict[str, dict]
    results: list[CheckResult]
    fallback_types: list[str]


def changed_only(resource: Resource, mode: str) -> bool:
    """Whether this run sets unchanged rows aside (see the module docstring)."""
    return mode in CHANGED_ONLY_MODES and not resource.delivery_based


def _add_counts(counts: dict[int, int], delivery_ids) -> None:
    for delivery_id, n in delivery_ids.dropna().value_counts().items():
        counts[int(delivery_id)] = counts.get(int(delivery_id), 0) + int(n)


def evidence_checks(resource: Resource, expectations: list[Check]) -> list[Check]:
    """The checks that read an engine column (evidence the source or a context check wrote beside
    the items) rather than a catalog item; the duplicate-key check is handled apart."""
    items = set(resource.column_names)
    return [c for c in expectations if any(col not in items and col != KEY_COLUMN for col in c.columns)]


def _evidence_against(evaluator: "Evaluator", context: context_checks.ContextChecks, table: pa.Table,
                      candidates: np.ndarray, run_name: str) -> np.ndarray:
    """bool over ``table``'s rows: a candidate row (``candidates``, bool) that some evidence
    check finds unexpected (every candidate when one raises). ``evaluator`` holds only
    :func:`evidence_checks`; they are evaluated over the candidate rows only."""
    flagged = np.zeros(table.num_rows, dtype=bool)
    if not (evaluator.fast or evaluator.slow):
        return flagged
    positions = np.flatnonzero(candidates)
    frame = context.enrich(table.take(pa.array(positions)).to_pandas())
    against = np.zeros(len(positions), dtype=bool)
    for ev in evaluator.evaluate(frame, run_name).values():
        if ev.error is not None:
            against[:] = True
        elif ev.unexpected is not None:
            against |= ev.unexpected
    flagged[positions[against]] = True
    return flagged


def _unchanged(resource: Resource, table: pa.Table, key_values: pa.Array, duplicates: list[str]) -> np.ndarray:
    """bool over ``table``'s rows: unchanged (same key and row hash as the live version) and not
    a duplicated key. One short transaction (the probe's temporary table)."""
    with connections.transaction() as conn:
        same = changes.unchanged(conn, resource, table.select([*resource.pipeline.key_columns, changes.ROW_HASH]))
    if duplicates and same.any():
        repeated = pc.is_in(key_values, value_set=pa.array(duplicates, pa.string())).to_numpy(zero_copy_only=False)
        same &= ~repeated
    return same


@dataclass
class _Inputs:
    """What the run's row checks need beyond the row, prepared once per load."""

    parameters: dict
    context: context_checks.ContextChecks
    matched: dict[str, set[str]]
    reference_exists: dict[str, bool]


def _prepare(resource: Resource, extracted: dict) -> _Inputs:
    """The duplicate keys, the context checks' lookups and the cross checks' matched values."""
    parts = extracted["parts"]
    parameters = {"as_of": extracted["as_of"], "duplicate_keys": duplicate_keys(resource, parts)}
    matched: dict[str, set[str]] = {}
    reference_exists: dict[str, bool] = {}
    with connections.transaction() as conn:
        context = context_checks.prepare(conn, resource, parts)
        for check in resource.pipeline.cross_checks:
            values, reference_exists[check.name] = cross_checks.reference_matches(
                conn, check, cross_checks.candidates(check, parts))
            matched[check.name] = set(values)
            parameters[cross_checks.parameter_name(check)] = values
    return _Inputs(parameters, context, matched, reference_exists)


def _collect(results: dict[int, CheckResult], evaluations: dict[int, Evaluation], frame: pd.DataFrame,
             samples: Samples) -> None:
    for index, ev in evaluations.items():
        result = results[index]
        result.evaluated = True
        result.success &= ev.success
        if ev.error:
            result.errors.append(ev.error)
        if ev.unexpected is not None:
            result.element_count += ev.element_count
            result.unexpected_count += int(ev.unexpected.sum())
            samples.take(result, frame, ev.unexpected)
        else:
            result.element_count, result.observed = 1, ev.observed
            result.unexpected_count = int(not result.success)


def _engine_results(plan: Plan, resource: Resource, results: dict[int, CheckResult], failed: list[tuple[str, str]],
                    context_blocking: list[tuple[str, str]], deliveries: int,
                    held: delivery_quality.HeldBack | None) -> None:
    """Fill in the results of the engine's table checks, and of context checks that could not run."""
    for check in plan.checks:
        if check.origin != "engine":
            continue
        result = results[check.index]
        result.evaluated, result.element_count = True, 1
        if check.type == delivery_quality.CHECK:
            result.element_count = deliveries
            result.errors = list(held.reasons.values()) if held else []
        else:
            result.errors = [m for name, m in failed if name == check.type]
        result.unexpected_count = len(result.errors)
        result.success = not result.errors
    evidence = {c.name: context_check_column(c) for c in resource.pipeline.context_checks}
    for name, message in context_blocking:  # a critical context check whose reference table is missing
        for check in plan.expectations:
            if check.origin == "context_check" and check.kwargs.get("column") == evidence.get(name):
                results[check.index].evaluated = True
                results[check.index].success = False
                results[check.index].errors.append(message)


def execute(plan: Plan, resource: Resource, extracted: dict) -> Execution:
    """Run ``plan`` over the extract (the dict :func:`baselib.pipeline.extract` returns), write the
    valid and rejected parts under its prefix, record the rejected rows in ``ops.quarantine``
    (committed), and evaluate the engine's table checks. Never raises for data: failures are in
    :attr:`Execution.blocking`. Raises for an unreachable warehouse or unreadable parts."""
    load_id, parts, mode = extracted["load_id"], extracted["parts"], extracted["mode"]
    keys = resource.pipeline.key_columns
    inputs = _prepare(resource, extracted)
    duplicates = inputs.parameters["duplicate_keys"]
    tallies = {check.name: cross_checks.Tally() for check in resource.pipeline.cross_checks}
    expectations = plan.expectations
    evaluator = Evaluator(resource, expectations, inputs.parameters)
    judge, samples = Judge(resource), Samples(resource)
    results = {c.index: CheckResult(c) for c in plan.checks}
    valid_writer = storage.PartWriter(f"{extracted['prefix']}/valid")
    rejected_writer = storage.PartWriter(f"{extracted['prefix']}/rejected")
    blocking, warnings = list(inputs.context.blocking), []
    quarantined = warned = checked = skipped = 0
    by_delivery: dict[int, int] = {}     # file drops: rows quarantined per delivery
    rows_by_delivery: dict[int, int] = {}  # file drops: rows per delivery
    skip_unchanged = changed_only(resource, mode)
    whole = plan.needs_every_row(keys)
    if skip_unchanged and whole:
        log.info("%s: checking every row: %s depend(s) on other rows", resource.code,
                 ", ".join(c.name for c in whole))
        skip_unchanged = False
    unchanged_writer = storage.PartWriter(f"{extracted['prefix']}/unchanged")
    token = None
    if skip_unchanged:  # before the first probe: a load committed after this read moves it
        with connections.transaction() as conn:
            token = committed_loads(conn, resource)
    evidence = Evaluator(resource, evidence_checks(resource, expectations), inputs.parameters)
    progress = Progress(log, f"{resource.code}: validate")  # parts checked, rows, rows/s (rate-limited)
    for n, uri in enumerate(parts):
        table = storage.read_part(uri)
        part_rows = table.num_rows
        has_keys = all(k in table.column_names for k in keys)
        key_values = table_key_strings(table, keys) if has_keys else None
        if all(c in table.column_names for c in resource.column_names):  # else column checks block
            table = changes.with_row_hash(table, resource)
            if skip_unchanged and table.num_rows:
                same = _unchanged(resource, table, key_values, duplicates)
                if same.any():
                    same &= ~_evidence_against(evidence, inputs.context, table, same,
                                               f"load-{load_id}-part-{n:05d}-unchanged")
                if same.any():
                    skipped += int(same.sum())
                    unchanged_writer.write(table.filter(pa.array(same)))
                    table, key_values = table.filter(pa.array(~same)), key_values.filter(pa.array(~same))
        frame = inputs.context.enrich(table.to_pandas())
        frame[KEY_COLUMN] = key_values.to_pandas() if has_keys else ""
        evaluations = evaluator.evaluate(frame, run_name=f"load-{load_id}-part-{n:05d}")
        outcome = judge.judge(expectations, frame, evaluations)
        _collect(results, evaluations, frame, samples)
        if resource.delivery_based:
            _add_counts(rows_by_delivery, frame[DELIVERY_ID])
            _add_counts(by_delivery, outcome.rejected["delivery_id"])
        blocking += [c for c in outcome.blocking if c not in blocking]
        warnings += outcome.warnings
        checked += len(frame)
        quarantined += len(outcome.rejected)
        warned += outcome.warned_rows
        for check in resource.pipeline.cross_checks:
            tallies[check.name].add(outcome.valid, check, inputs.matched[check.name])
        valid_writer.write(table.filter(pa.array(~outcome.rejected_mask)))
        if len(outcome.rejected):
            rejected_writer.write(pa.Table.from_pandas(outcome.rejected, preserve_index=False))
        progress.add(part_rows)
    valid_parts, sent_back, held = valid_writer.parts, {}, None
    if resource.delivery_based:
        held = delivery_quality.hold_back(resource, extracted["prefix"], valid_parts, rows_by_delivery,
                                          by_delivery, rejected_writer)
        valid_parts = held.valid_parts
        quarantined += sum(held.rows.values())
        for delivery_id, count in held.rows.items():
            by_delivery[delivery_id] = by_delivery.get(delivery_id, 0) + count
    with connections.transaction() as conn:
        quarantine.record(conn, resource.code, load_id, rejected_writer.parts)
        live = _live_rows(conn, resource)
        # a reconcile or a theme's full refresh: limited by max_deleted_share. An incremental theme
        # refresh's deletions are exact (baselib.themes.scope): not counted, not limited.
        absent = (count_absent(conn, resource, parts, load_run.get(conn, load_id)["started_at"])
                  if scope.deletions(resource, mode) == scope.ALL else 0)
        if held is not None:
            sent_back = delivery_quality.record_rejections(conn, resource, load_id, held, by_delivery)
            files = extracted.get("files") or {}
            if sent_back and files:  # readable, but sent back: they count as rejected files
                load_run.update(conn, load_id, files_new=files["new"] - len(sent_back),
                                files_rejected=files["rejected"] + len(sent_back))
    if sent_back:
        delivery_quality.move_files(resource, load_id, sent_back)
    failed = table_checks(resource, mode, extracted["rows"], quarantined, live, absent)
    blocking += failed
    _engine_results(plan, resource, results, failed, inputs.context.blocking, len(rows_by_delivery), held)
    progress.done(f"{checked} checked, {skipped} unchanged (not re-checked), {quarantined} quarantined, "
                  f"{warned} warned, {len(blocking)} blocking failure(s)")
    return Execution(
        valid_parts=valid_parts, rejected_parts=rejected_writer.parts, unchanged_parts=unchanged_writer.parts,
        committed_loads=token, rows_extracted=extracted["rows"],
        rows_checked=checked, rows_skipped_unchanged=skipped, rows_quarantined=quarantined, rows_warned=warned,
        blocking=blocking, warnings=warnings, quarantined_by_delivery=by_delivery,
        cross_checks={name: t.as_record(inputs.reference_exists[name]) for name, t in tallies.items()},
        results=[results[c.index] for c in plan.checks], fallback_types=evaluator.fallback_types,
    )
