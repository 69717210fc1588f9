"""Run a resource's suite over Parquet parts with GX Core and split rows into valid / rejected.

Critical failures of map (per-row) expectations reject those rows; every other row loads.
Critical failures of table-level expectations, or expectations that raise, block the load.
Warning-level failures are counted and reported, never blocking. Every part's result goes
into the resource's GX Data Docs site, built once at the end of the run.

A rejected row's reason names the real cause: where an expectation has a diagnosis
(``expectations.common.DIAGNOSES``), each failing row's value is explained (which character,
which length, which check character) instead of the expectation's static ``meta.reason``, and a
check the diagnosis covers on the same column (the catalog's length check) gives that row the same
reason, so one cause is one reason. Likewise a value the source could not convert (set NULL, or
its NUL shown as ␀) is named in ``_conversion_error`` (``"<label>(<name>) …"``): that evidence is
the row's reason for every failing check on the items it names (not-null, min-length, identifier).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from baselib.catalog.model import Resource
from baselib.sources.columns import CONVERSION_ERROR, DELIVERY_ID, GEOMETRY_ERROR, ROW_ID, SOURCE_REF
from baselib.validation.suites import KEY_COLUMN, full_spec


EVIDENCE_DETAILS = (CONVERSION_ERROR, GEOMETRY_ERROR)  # evidence texts that say what exactly is wrong


@dataclass
class PartOutcome:
    valid: pd.DataFrame
    rejected: pd.DataFrame          # ROW_ID, record_key, source_row, failed_expectations, reason
    warned_rows: int
    blocking: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _describe(config) -> str:
    kw = config.kwargs
    cols = kw.get("column") or ",".join(str(kw[k]) for k in ("column_A", "column_B") if k in kw) or kw.get("column_list")
    return f"{config.type}({cols})" if cols else config.type


def _is_conversion_check(config) -> bool:
    return config.type == "expect_column_values_to_be_null" and config.kwargs.get("column") == CONVERSION_ERROR


def _exception_message(result) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "raised an exception"
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            message = value.get("exception_message") or value.get("exception_traceback", "").strip().splitlines()[-1]
            return message
    return None


class SuiteRunner:
    """One GX ephemeral context per run; :meth:`validate` once per Parquet part."""

    def __init__(self, resource: Resource, docs_dir: Path, parameters: dict):
        import great_expectations as gx
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        import baselib.validation.expectations  # noqa: F401  (registers the custom expectations)
        from baselib.validation.expectations.common import DIAGNOSES

        self.diagnoses = DIAGNOSES
        self.labels = {item.name: item.label for item in resource.items}
        # how _conversion_error names an item (baselib.sources.values.problem, baselib.sources.text.nul_reason)
        self.evidence_names = {item.name: f"{item.label}({item.name}) " for item in resource.items}
        self.resource = resource
        self.parameters = parameters
        self.docs_dir = Path(docs_dir)
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        self.context.add_data_docs_site(
            "quality_report",
            {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(self.docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        spec = full_spec(resource)
        suite = ExpectationSuite(name=spec["name"])
        for exp in spec["expectations"]:
            # add_expectation keeps every entry; add_expectation_configuration would silently
            # replace expectations sharing a type and domain (e.g. two length checks on a column).
            suite.add_expectation(
                ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=exp.get("meta") or {},
                                         severity=exp.get("severity", "critical"),
                                         description=exp.get("description") or (exp.get("meta") or {}).get("reason"),
                                         ).to_domain_obj()
            )
        suite = self.context.suites.add(suite)
        self.expectation_count = len(suite.expectations)
        asset = self.context.data_sources.add_pandas(resource.dag_id).add_dataframe_asset(resource.pipeline.target.table)
        batch = asset.add_batch_definition_whole_dataframe("extract_part")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=resource.dag_id, data=batch, suite=suite)
        )
        self.checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=resource.dag_id,
                validation_definitions=[definition],
                actions=[],  # Data Docs are built once per run by build_report(), not once per part
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [ROW_ID],
                    "return_unexpected_index_query": False,
                    "partial_unexpected_count": 0,
                },
            )
        )

    @property
    def report_index(self) -> Path:
        return self.docs_dir / "index.html"

    def build_report(self) -> Path:
        """Render every part's validation result of this run into the Data Docs site."""
        self.context.build_data_docs(site_names=["quality_report"])
        return self.report_index

    def validate(self, frame: pd.DataFrame, run_name: str) -> PartOutcome:
        from great_expectations.core.run_identifier import RunIdentifier

        keys = self.resource.pipeline.key_columns
        frame = frame.assign(**{KEY_COLUMN: key_strings(frame, keys)})
        result = self.checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=self.parameters,
            run_id=RunIdentifier(run_name=run_name),
        )
        failures: dict[int, list[dict]] = {}
        covered: dict[int, dict[str, str]] = {}  # row -> {covered check: the covering reason}
        by_row = None  # the part indexed by row id, built at the first failure to explain
        unconverted: dict[int, str] = {}  # row -> the conversion check's reason
        domains: dict[str, set[str]] = {}  # failed check -> the item columns it reads
        warned: set[int] = set()
        blocking: list[tuple[str, str]] = []
        warnings: list[str] = []
        for suite_result in result.run_results.values():
            for exp_result in suite_result.results:
                config = exp_result.expectation_config
                severity = getattr(config.severity, "value", config.severity)
                error = _exception_message(exp_result)
                if exp_result.success and error is None:
                    continue
                name = _describe(config)
                reason = (config.meta or {}).get("reason") or f"failed {name}"
                indexes = exp_result.result.get("unexpected_index_list")
                is_row_level = error is None and indexes is not None
                if severity == "critical" and not is_row_level:
                    blocking.append((name, error or reason))
                elif severity == "critical":
                    row_ids = [int(entry[ROW_ID]) for entry in indexes]
                    reasons = [reason] * len(row_ids)
                    diagnosis = self.diagnoses.get(config.type)
                    if diagnosis is not None and row_ids:
                        by_row = frame.set_index(ROW_ID) if by_row is None else by_row
                        reasons = self._explain(diagnosis, config.kwargs, by_row.loc[row_ids], reason)
                        subject = config.kwargs[diagnosis.subject]
                        for row_id, row_reason in zip(row_ids, reasons):
                            if row_reason != reason:
                                covered.setdefault(row_id, {}).update(
                                    {f"{kind}({subject})": row_reason for kind in diagnosis.covers})
                    if _is_conversion_check(config):
                        unconverted.update(dict.fromkeys(row_ids, reason))
                    domains[name] = {config.kwargs[k] for k in ("column", "column_A", "column_B") if k in config.kwargs}
                    for row_id, row_reason in zip(row_ids, reasons):
                        failures.setdefault(row_id, []).append(
                            {"expectation": config.type, "check": name, "severity": severity, "reason": row_reason}
                        )
                elif is_row_level:
                    warned.update(int(entry[ROW_ID]) for entry in indexes)
                    warnings.append(f"{name}: {len(indexes)} rows — {reason}")
                else:
                    warnings.append(f"{name}: {error or reason}")
        if unconverted:
            by_row = frame.set_index(ROW_ID) if by_row is None else by_row
            for row_id, evidence in by_row.loc[list(unconverted), CONVERSION_ERROR].items():
                named = {name for name, shown in self.evidence_names.items() if shown in str(evidence)}
                covered.setdefault(int(row_id), {}).update(
                    {check: unconverted[row_id] for check, columns in domains.items() if columns & named})
        for row_id, checks in covered.items():
            for failure in failures[row_id]:
                failure["reason"] = checks.get(failure["check"], failure["reason"])
        rejected_mask = frame[ROW_ID].isin(failures.keys())
        frame = frame.drop(columns=[KEY_COLUMN])
        return PartOutcome(
            valid=frame.loc[~rejected_mask],
            rejected=rejected_records(frame.loc[rejected_mask], failures, keys),
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


def key_strings(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One opaque string per row identifying its key: a 64-bit hash of the key values, so the
    duplicate-key check never writes personal identifiers into the quality report."""
    hashed = pd.util.hash_pandas_object(frame[keys].astype("string").fillna("\x00"), index=False)
    return hashed.astype("uint64").astype(str).set_axis(frame.index)


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def rejected_records(rows: pd.DataFrame, failures: dict[int, list[dict]], keys: list[str]) -> pd.DataFrame:
    """One record per rejected row: the catalog items as extracted (``source_row``), why, and
    where it came from (file delivery and position, for file sources). Engine columns
    (``_``-prefixed lineage and evidence) stay out of ``source_row``, so the same row sent again
    in another delivery has the same fingerprint."""
    records = []
    for raw in rows.to_dict("records"):
        row = {k: (None if _missing(v) else v) for k, v in raw.items()}
        row_id = int(row.pop(ROW_ID))
        delivery_id, source_ref = row.get(DELIVERY_ID), row.get(SOURCE_REF)
        details = [str(row[c]) for c in EVIDENCE_DETAILS if row.get(c)]  # e.g. which value is not a date
        row = {k: v for k, v in row.items() if not k.startswith("_")}
        failed = failures[row_id]
        source_row = json.dumps(row, ensure_ascii=False, default=str, sort_keys=True)
        records.append({
            ROW_ID: row_id,
            "record_key": "/".join("" if row.get(k) is None else str(row.get(k)) for k in keys),
            "source_row": source_row,
            "failed_expectations": json.dumps(failed, ensure_ascii=False),
            "reason": "；".join(dict.fromkeys(f["reason"] for f in failed)) + "".join(f"（{d}）" for d in details),
            "delivery_id": None if delivery_id is None else int(delivery_id),
            "source_ref": source_ref,
        })
    columns = [ROW_ID, "record_key", "source_row", "failed_expectations", "reason", "delivery_id", "source_ref"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.astype({"delivery_id": "Int64", "source_ref": "string"})
