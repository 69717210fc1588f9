"""baselib: the engine behind the shared base-library pipelines.

It runs without Airflow. DAG files in ``dags/`` are thin wrappers around
:mod:`baselib.pipeline`; tests drive the same functions directly.
"""
