"""The project's Airflow plugin: registers the custom deadline reference of the provider-overdue
alerts, :class:`baselib.orchestration.alerts.DataIntervalEndDeadline` (a run's data interval END).

Airflow serialises a custom DeadlineReference by its class path and, when the scheduler or the
API server creates a run, looks the class up among the plugins' ``deadline_references``
(``airflow.serialization.helpers.find_registered_custom_deadline_reference``): without this plugin
no deadline of a catalog DAG can be evaluated. Every component therefore needs ``plugins/`` as its
plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER``; the local deployment, the tests and the Compose
image set it). Importing this module loads only the Task SDK and the alerts module.
"""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from baselib.orchestration.alerts import DataIntervalEndDeadline


class BaselibAirflowPlugin(AirflowPlugin):
    """``deadline_references``: :class:`DataIntervalEndDeadline`."""

    name = "baselib"
    deadline_references = [DataIntervalEndDeadline]
