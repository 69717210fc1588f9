"""Great Expectations, for the expectations the fast path cannot evaluate, and for the tests.

:class:`GxEvaluator` runs a list of the plan's checks through GX Core (an ephemeral context,
pandas engine, ``COMPLETE`` results indexed by ``_source_row``) and turns each result into the
executor's :class:`~baselib.validation.executor.Evaluation`: the rows it found unexpected as a
boolean mask over the part, whether it succeeded (``mostly`` honoured), the element count, and
the exception message when it raised. The executor imports this module, and GX with it, only
when a plan holds a type that :mod:`baselib.validation.vectorised` lacks.

:class:`SuiteRunner` runs a resource's whole plan through GX and judges the rows exactly as the
executor does (:meth:`baselib.validation.executor.Judge.judge`), with GX Data Docs: the reference the
fast path is compared with, and the unit tests of the custom expectations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from baselib.catalog.model import Resource
from baselib.sources.columns import ROW_ID
from baselib.validation.executor import Evaluation, Judge, PartOutcome, key_strings
from baselib.validation.plan import Check
from baselib.validation.plan import compile as compile_plan
from baselib.validation.suites import KEY_COLUMN

PLAN_INDEX = "plan_index"  # meta key tying a GX result back to its check


def _exception_message(result) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "raised an exception"
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            message = value.get("exception_message") or value.get("exception_traceback", "").strip().splitlines()[-1]
            return message
    return None


class GxEvaluator:
    """One GX ephemeral context for ``checks``; :meth:`evaluate` once per part.

    ``docs_dir``: when given, the context has a Data Docs site there (:meth:`build_report`)."""

    def __init__(self, resource: Resource, checks: list[Check], parameters: dict, docs_dir: Path | None = None):
        import great_expectations as gx
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        import baselib.validation.expectations  # noqa: F401  (registers the custom expectations)

        self.checks = {c.index: c for c in checks}
        self.parameters = parameters
        self.docs_dir = Path(docs_dir) if docs_dir is not None else None
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        if self.docs_dir is not None:
            self.context.add_data_docs_site(
                "quality_report",
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(self.docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        suite = ExpectationSuite(name=resource.pipeline.expectation_suite)
        for check in checks:
            # add_expectation keeps every entry; add_expectation_configuration would silently
            # replace expectations sharing a type and domain (e.g. two length checks on a column).
            suite.add_expectation(
                ExpectationConfiguration(type=check.type, kwargs=check.kwargs,
                                         meta={**check.meta, PLAN_INDEX: check.index},
                                         severity=check.severity, description=check.reason).to_domain_obj()
            )
        suite = self.context.suites.add(suite)
        asset = self.context.data_sources.add_pandas(resource.dag_id).add_dataframe_asset(resource.pipeline.target.table)
        batch = asset.add_batch_definition_whole_dataframe("extract_part")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=resource.dag_id, data=batch, suite=suite)
        )
        self.checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=resource.dag_id,
                validation_definitions=[definition],
                actions=[],
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [ROW_ID],
                    "return_unexpected_index_query": False,
                    "partial_unexpected_count": 0,
                },
            )
        )

    def evaluate(self, frame: pd.DataFrame, run_name: str) -> dict[int, Evaluation]:
        """{check index: its evaluation over ``frame``} (``frame`` holds ``_source_row`` and ``_key``)."""
        from great_expectations.core.run_identifier import RunIdentifier

        result = self.checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=self.parameters,
                                     run_id=RunIdentifier(run_name=run_name))
        out: dict[int, Evaluation] = {}
        row_ids = frame[ROW_ID].to_numpy()
        for suite_result in result.run_results.values():
            for exp_result in suite_result.results:
                index = int(exp_result.expectation_config.meta[PLAN_INDEX])
                error = _exception_message(exp_result)
                details = exp_result.result or {}
                indexes = details.get("unexpected_index_list")
                unexpected = None
                if error is None and indexes is not None:
                    unexpected = np.isin(row_ids, np.array([int(e[ROW_ID]) for e in indexes], dtype=np.int64))
                count = details.get("element_count")  # GX's 0 stays 0; absent (table level): the frame
                out[index] = Evaluation(unexpected=unexpected, success=bool(exp_result.success) and error is None,
                                        element_count=len(frame) if count is None else int(count),
                                        observed=details.get("observed_value"), error=error)
        return out

    @property
    def report_index(self) -> Path | None:
        return None if self.docs_dir is None else self.docs_dir / "index.html"

    def build_report(self) -> Path | None:
        """Render every validation result of this context into its Data Docs site."""
        if self.docs_dir is None:
            return None
        self.context.build_data_docs(site_names=["quality_report"])
        return self.report_index


class SuiteRunner:
    """A resource's whole plan through GX, judged as the executor judges; :meth:`validate` per frame."""

    def __init__(self, resource: Resource, docs_dir: Path, parameters: dict):
        self.resource = resource
        self.plan = compile_plan(resource)
        self.checks = self.plan.expectations
        self.evaluator = GxEvaluator(resource, self.checks, parameters, docs_dir)
        self.judge = Judge(resource)
        self.expectation_count = len(self.checks)

    @property
    def report_index(self) -> Path:
        return self.evaluator.report_index

    def build_report(self) -> Path:
        return self.evaluator.build_report()

    def validate(self, frame: pd.DataFrame, run_name: str) -> PartOutcome:
        keyed = frame.assign(**{KEY_COLUMN: key_strings(frame, self.resource.pipeline.key_columns)})
        outcome = self.judge.judge(self.checks, keyed, self.evaluator.evaluate(keyed, run_name))
        return outcome
