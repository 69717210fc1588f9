"""OpenLineage datasets of the pipeline tasks, for the official provider (apache-airflow-providers-openlineage).

How the provider finds a task's datasets (``ExtractorManager.extract_metadata``): an extractor
registered for the operator class, else — when the operator has ``get_openlineage_facets_on_start``
/ ``_on_complete`` — its ``DefaultExtractor``, which returns what those methods return; only when
that yields nothing does it fall back to the hook lineage collector and then to the task's
``inlets``/``outlets`` Assets, which it translates through the providers' Asset converters (there
is one for ``postgres://`` and ``file://`` but none for ``http(s)://`` or ``s3://`` here). The
pipeline's tasks are therefore :class:`PipelineTaskOperator` (the ``@task`` operator plus these
two methods, made by :func:`pipeline_task`), so every source kind gets a dataset and the names
are exactly the ones below:

* the warehouse (``WAREHOUSE_NAMESPACE`` = ``postgres://warehouse:5432``, name
  ``warehouse.<schema>.<table>``): what the postgres provider's converter makes of the table's
  Asset URI ``postgres://warehouse:5432/warehouse/<schema>/<table>``;
* a department's PostgreSQL front-end database: ``postgres://<host>:<port>``,
  ``<database>.<schema>.<table>`` (a ``query`` source: each table the query reads);
* an HTTP API: ``<scheme>://<host>:<port>``, ``<base path><endpoint>``;
* a landing folder: ``file`` + the absolute path, or ``s3://<bucket>`` + the prefix.

Only host, port, database and path go into a name: never a user, password or token.

Per task: ``extract`` reads the source (inputs); ``load`` writes the target (output) and carries
the source as its inputs too, so one job links source → table; ``validate`` and ``record`` touch
only staging files and the run records and declare nothing. A theme's source is its input tables.
The events go wherever ``[openlineage] transport`` says (the demo and the tests use the file
transport); with no transport configured the provider is disabled and nothing is computed.
"""
from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from airflow.providers.common.compat.sdk import task_decorator_factory
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator

from baselib.catalog.model import Resource
from baselib.orchestration.assets import WAREHOUSE_DATABASE, WAREHOUSE_HOST

log = logging.getLogger(__name__)

WAREHOUSE_NAMESPACE = f"postgres://{WAREHOUSE_HOST}"
SOURCE_STEPS = ("extract", "load")  # the tasks that declare the source as their input
OUTPUT_STEPS = ("load",)            # the task that declares the target table as its output


def _dataset(namespace: str, name: str):
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=namespace, name=name)


def warehouse_dataset(qualified: str):
    """The OpenLineage dataset of the warehouse table ``schema.table``."""
    return _dataset(WAREHOUSE_NAMESPACE, f"{WAREHOUSE_DATABASE}.{qualified}")


def _host_port(parts, default_port: int | None) -> str:
    host = parts.hostname or "localhost"
    port = parts.port or default_port
    return f"{host}:{port}" if port else host


def _postgres_sources(source) -> list:
    from baselib.warehouse import connections

    parts = urlsplit(connections.connection_uri(source.conn_id))
    namespace = f"postgres://{_host_port(parts, 5432)}"
    database = unquote(parts.path.lstrip("/")) or (parts.username or "postgres")
    if source.table:
        qualified = source.table if "." in source.table else f"public.{source.table}"
        return [_dataset(namespace, f"{database}.{qualified}")]
    from openlineage_sql import parse  # the provider's own SQL parser

    tables = parse([source.query], dialect="postgres").in_tables
    return [_dataset(namespace, f"{database}.{t.schema or 'public'}.{t.name}") for t in tables]


def _http_sources(source) -> list:
    from baselib.sources.http_api import resolve_connection

    parts = urlsplit(resolve_connection(source.conn_id).base_url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    path = parts.path.rstrip("/") + source.endpoint
    return [_dataset(f"{parts.scheme}://{_host_port(parts, default)}", path)]


def _landing_sources(source) -> list:
    from baselib.sources.file_drop.landing import folder_uri

    parts = urlsplit(folder_uri(source))
    if parts.scheme == "file":
        return [_dataset("file", unquote(parts.path).rstrip("/"))]
    return [_dataset(f"{parts.scheme}://{parts.hostname}", unquote(parts.path).strip("/"))]


def source_datasets(resource: Resource) -> list:
    """What ``resource`` is built from, as OpenLineage datasets: the department's table, API
    endpoint or landing folder, or a theme's input tables. Raises ``LookupError`` when the
    source's connection is not configured."""
    source = resource.pipeline.source
    if source.kind == "sql_model":
        return [warehouse_dataset(i.table) for i in source.inputs]
    if source.kind == "postgres":
        return _postgres_sources(source)
    if source.kind == "http_api":
        return _http_sources(source)
    return _landing_sources(source)


def task_lineage(resource: Resource, step: str):
    """The provider's ``OperatorLineage`` for the pipeline step ``step`` (extract, validate, load,
    record) of ``resource``: inputs and outputs as the module docstring lists them."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    inputs = source_datasets(resource) if step in SOURCE_STEPS else []
    outputs = [warehouse_dataset(resource.pipeline.target.qualified)] if step in OUTPUT_STEPS else []
    return OperatorLineage(inputs=inputs, outputs=outputs)


class PipelineTaskOperator(_PythonDecoratedOperator):
    """The ``@task`` operator of a pipeline step, which tells the OpenLineage provider the step's
    datasets (``resource_code``: the catalog entry the DAG runs)."""

    custom_operator_name = "@pipeline_task"

    def __init__(self, *, resource_code: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.resource_code = resource_code

    def _lineage(self):
        from baselib.catalog.loader import find

        if getattr(self, "_lineage_resource", None) is None:  # the start and complete events share it
            self._lineage_resource = find(self.resource_code)
        return task_lineage(self._lineage_resource, self.task_id)

    def get_openlineage_facets_on_start(self):
        return self._lineage()

    def get_openlineage_facets_on_complete(self, task_instance):
        return self._lineage()


def pipeline_task(**kwargs):
    """``@task`` for a pipeline step: ``@pipeline_task(task_id=..., resource_code=..., <operator kwargs>)``."""
    return task_decorator_factory(decorated_operator_class=PipelineTaskOperator, **kwargs)
