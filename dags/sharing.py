"""Airflow DAG ``sharing_reconcile``: the daily reconcile of consumer roles, sharing applications
and grants, and the collection of measured use.

Built by baselib.orchestration.sharing_dag; this file stays thin so parsing is fast.
"""
from baselib.orchestration.sharing_dag import build_dag

sharing_reconcile = build_dag()
