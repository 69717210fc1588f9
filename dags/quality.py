"""Airflow DAG ``quality_returns``: each provider's open quarantine entries and pending data
objections dropped into its return folder as an Excel workbook (数据回退), daily at 08:00.

Built by baselib.orchestration.quality_dag; this file stays thin so parsing is fast.
"""
from baselib.orchestration.quality_dag import build_dag

quality_returns = build_dag()
