"""Airflow DAG ``evaluation_publish``: each department's evaluation indicators (共享评价指标) of
the month that ended (and of the quarter and year when one ended) computed and published to the
evaluation system, on the 1st of each month at 02:00 Asia/Shanghai.

Built by baselib.orchestration.evaluation_dag; this file stays thin so parsing is fast.
"""
from baselib.orchestration.evaluation_dag import build_dag

evaluation_publish = build_dag()
