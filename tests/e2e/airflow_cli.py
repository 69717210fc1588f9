"""Running Airflow's own CLI from the end-to-end tests: the ``airflow`` of this virtual
environment, the environment it needs to find this project's DAGs and plugins in a fresh home,
and ``airflow db migrate`` of that home's metadata database."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def airflow() -> str:
    """The ``airflow`` executable beside this Python."""
    return str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, **extra: str) -> dict:
    """This process's environment plus Airflow's home ``home``, the project's dags and plugins
    folders, no example DAGs, ``plugins`` on PYTHONPATH, then ``extra`` (which wins)."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(ROOT / "plugins"),
        **extra,
    }


def migrate(env: dict) -> None:
    """``airflow db migrate`` in ``env``; fails the test with the command's output tail."""
    done = subprocess.run([airflow(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
