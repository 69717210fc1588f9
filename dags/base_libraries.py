"""Airflow DAGs for the base libraries: one DAG per entry in include/catalog/.

The DAGs are built by baselib.orchestration.dag_factory; this file stays thin so parsing is fast.
"""
from baselib.orchestration.dag_factory import build_all

globals().update(build_all())
