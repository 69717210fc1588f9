"""Airflow DAG ``staging_housekeeping``: removes the staging files of failed or blocked runs (and
orphan folders) older than BASELIB_STAGING_RETENTION_DAYS, daily at 03:00 Asia/Shanghai.

Built by baselib.orchestration.housekeeping_dag; this file stays thin so parsing is fast.
"""
from baselib.orchestration.housekeeping_dag import build_dag

staging_housekeeping = build_dag()
