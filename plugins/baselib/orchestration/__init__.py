"""Airflow glue: builds one DAG per catalog entry. Imported only by files in ``dags/``."""
