"""A local Airflow deployment for the demo and the tests: the api-server, dag-processor,
scheduler and triggerer that Airflow 3 needs (the triggerer runs deferred tasks and the
deadline alerts' asynchronous callbacks), started as processes and stopped by their process ids.

* Metadata database: PostgreSQL (database ``airflow_metadata`` on the warehouse's server, the
  embedded one by default). The scheduler, the dag-processor, the api-server, the executor's
  workers and ``airflow dags test`` all write to it at once, which SQLite does not take well; a
  Celery executor (issue 13) needs a server database anyway.
* Executor: ``BASELIB_AIRFLOW_EXECUTOR`` (default ``LocalExecutor``), passed as
  ``AIRFLOW__CORE__EXECUTOR``. With ``CeleryExecutor`` the environment gets Airflow's own Celery
  settings (``AIRFLOW__CELERY__BROKER_URL``, default ``redis://127.0.0.1:6379/2``;
  ``AIRFLOW__CELERY__RESULT_BACKEND``, default ``db+`` the metadata database;
  ``AIRFLOW__CELERY__WORKER_CONCURRENCY``, default 2) and ``start`` adds
  ``BASELIB_CELERY_WORKERS`` (default 1) ``airflow celery worker`` processes named
  ``baselib-worker-<n>@<host>``, serving the queue ``AIRFLOW__OPERATORS__DEFAULT_QUEUE`` (default
  ``default``); the start waits until each answers a Celery ping through the broker.
* DAGs are paused at creation unless ``AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION`` says
  ``False`` (``make up`` does, see scripts/up.sh).
* The api-server listens on loopback only (a free port unless given; :meth:`LocalAirflow.start`
  refuses any other ``AIRFLOW__API__HOST``). ``simple_auth_manager_all_admins``, which lets the
  local tools call its REST API without a password, is set only in the environment of the
  processes ``start`` launches — never in ``env``'s output, so never in the user's shell.
* The scheduler runs with ``--skip-serve-logs``: every component shares the local log folder, so
  nothing needs to listen on 0.0.0.0:8793 for the task logs.

Each component runs in its own session (process group). :meth:`LocalAirflow.stop` sends SIGTERM
to each recorded group — after checking that the recorded pid is not another process now (its
start time) — and after a grace period SIGKILL to every recorded group and to every process of
a recorded session (the task runners the executor starts leave the group but keep the session),
then waits until none is left. ``python -m baselib.orchestration.local_airflow`` gives the same
to shell scripts (``env``, ``start``, ``unpause``, ``wait-themes``, ``stop``, and ``show-url``,
which prints a URL read from stdin with its password masked the way Celery shows it): the started
processes are recorded in ``$AIRFLOW_HOME/local-airflow.json`` after each start, records of
processes that are gone are dropped when it is read, and ``start`` refuses while recorded ones
are alive.
"""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
CELERY_WORKER = "celery worker"
# extra arguments per component: the scheduler, the triggerer and the Celery workers do not serve
# logs on every interface (:8793, :8794): every component shares the local log folder
COMPONENT_ARGS = {"scheduler": ("--skip-serve-logs",), "triggerer": ("--skip-serve-logs",),
                  CELERY_WORKER: ("--skip-serve-logs",)}
CELERY_EXECUTOR = "CeleryExecutor"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/2"
DEFAULT_WORKER_CONCURRENCY = "2"
WORKER_NODE_PREFIX = "baselib-worker-"
# set only in the started processes' environment (see the module docstring)
LAUNCH_ONLY_ENV = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
METADATA_DATABASE = "airflow_metadata"
DEFAULT_EXECUTOR = "LocalExecutor"
STATE_FILE = "local-airflow.json"
log = logging.getLogger(__name__)


class AirflowStartError(RuntimeError):
    """A component exited or did not become healthy in time; the message quotes its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metadata_url(server_uri: str, database: str = METADATA_DATABASE) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://…``) of ``database`` on the PostgreSQL server of
    ``server_uri`` (a libpq URI), creating the database when it is missing."""
    from baselib.warehouse import provision

    uri = provision.ensure_database(server_uri, database)
    return "postgresql+psycopg2://" + uri.split("://", 1)[1]


def airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def environment(home: Path, metadata: str, *, project_root: Path | None = None, api_port: int | None = None,
                executor: str | None = None, base: dict | None = None) -> dict[str, str]:
    """The environment of every Airflow process of one local deployment (components, CLI,
    ``airflow dags test``): ``base`` (default ``os.environ``) plus the Airflow settings. ``metadata``:
    the SQLAlchemy URL of the metadata database; ``api_port``: the api-server's port (default: a
    free one); ``executor``: default ``BASELIB_AIRFLOW_EXECUTOR`` or LocalExecutor."""
    from baselib.settings import PROJECT_ROOT

    root = project_root or PROJECT_ROOT
    env = dict(os.environ if base is None else base)
    given = {**os.environ, **env}  # a setting chosen in base (else in os.environ) wins over a default
    port = api_port or free_port()
    executor = executor or given.get("BASELIB_AIRFLOW_EXECUTOR") or DEFAULT_EXECUTOR
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": given.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # only the DAGs unpaused on purpose run, unless the deployment says otherwise (make up)
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": given.get("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION") or "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        # one secret for every component: the scheduler signs task tokens the api-server checks
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_urlsafe(64),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "PYTHONPATH": str(root / "plugins"),
    })
    if executor == CELERY_EXECUTOR:
        env.update({
            "AIRFLOW__CELERY__BROKER_URL": given.get("AIRFLOW__CELERY__BROKER_URL") or DEFAULT_BROKER_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": given.get("AIRFLOW__CELERY__RESULT_BACKEND") or "db+" + metadata,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": (given.get("AIRFLOW__CELERY__WORKER_CONCURRENCY")
                                                    or DEFAULT_WORKER_CONCURRENCY),
        })
    return env


def default_components(env: dict[str, str]) -> tuple[str, ...]:
    """The components ``start`` launches by default: :data:`COMPONENTS`, plus
    ``BASELIB_CELERY_WORKERS`` (default 1) Celery workers when the executor is CeleryExecutor."""
    if env.get("AIRFLOW__CORE__EXECUTOR") != CELERY_EXECUTOR:
        return COMPONENTS
    return COMPONENTS + (CELERY_WORKER,) * max(1, int(env.get("BASELIB_CELERY_WORKERS") or 1))


def worker_node(number: int, host: str | None = None) -> str:
    """The Celery node name of the ``number``-th (1-based) local worker: ``baselib-worker-<n>@<host>``
    (what ``airflow celery list-workers`` and Flower show; a task instance's ``hostname`` is the
    machine's)."""
    return f"{WORKER_NODE_PREFIX}{number}@{host or socket.gethostname()}"


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (index 0 = field 3, the state),
    or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None
    when there is no such process or it is a zombie."""
    fields = _stat(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]


def _members(leaders: set[int]) -> list[int]:
    """The live (not zombie) processes whose process group (field 5) or session (field 6) is one
    of ``leaders``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields and fields[0] != "Z" and (int(fields[2]) in leaders or int(fields[3]) in leaders):
            found.append(int(entry.name))
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except (ProcessLookupError, PermissionError):  # gone already (ESRCH), or not ours
        pass


class _SignalsAsExit:
    """While active (main thread only): SIGTERM and SIGHUP raise SystemExit, so a ``try`` block's
    cleanup runs when the shell running us is killed or hung up."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.saved = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.saved[sig] = signal.signal(sig, self._exit)
        return self

    @staticmethod
    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        return False


@dataclass
class Process:
    component: str
    pid: int
    started: str  # /proc start time: a recycled pid is not ours
    log: str
    node: str = ""  # a Celery worker's node name (``baselib-worker-1@host``)


def _ours(p: Process) -> bool:
    """Whether the recorded pid is still the process started, or a zombie of it, or gone — then
    its group and session (which may live on) are still ours: the kernel does not reuse a pid
    while a group or session of that id has members."""
    fields = _stat(p.pid)
    return fields is None or fields[19] == p.started


def _alive(p: Process) -> bool:
    """Whether anything of the recorded process is left: itself, or a member of its group or session."""
    return _ours(p) and bool(_members({p.pid}))


@dataclass
class LocalAirflow:
    """One local Airflow deployment. ``env`` from :func:`environment`; logs go to ``log_dir``
    (default ``$AIRFLOW_HOME``)."""

    env: dict[str, str]
    log_dir: Path | None = None
    processes: list[Process] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def api_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def _log_dir(self) -> Path:
        path = self.log_dir or self.home
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        """``airflow <args>`` in this deployment's environment; raises RuntimeError with the
        output's tail when it fails and ``check``."""
        done = subprocess.run([airflow_executable(), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.env.get("BASELIB_PROJECT_ROOT") or None)
        if check and done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done

    def migrate(self) -> None:
        """Create or upgrade the metadata database (``airflow db migrate``)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.run("db", "migrate")

    def start(self, components: tuple[str, ...] | None = None, timeout: float = 180) -> None:
        """Start ``components`` (airflow sub-commands, default :func:`default_components`: with the
        Celery executor one or more ``"celery worker"``) and wait until the api-server reports the
        metadata database, the scheduler, the dag-processor and the triggerer healthy and every
        Celery worker answers a ping (:meth:`wait_healthy`). The state file is written after each process
        started; SIGTERM and SIGHUP end the start like an error. Raises :class:`AirflowStartError`
        without starting anything when ``AIRFLOW__API__HOST`` is not a loopback address or recorded
        processes are still alive, and (after stopping what it started) when one exits or the
        deadline passes."""
        host = self.env.get("AIRFLOW__API__HOST", "")
        if not _is_loopback(host):
            raise AirflowStartError(f"AIRFLOW__API__HOST={host!r} is not a loopback address: this deployment "
                                    "lets every caller of the api-server act as admin, so it listens on "
                                    "loopback only")
        if alive := [p for p in self.processes if _alive(p)]:
            raise AirflowStartError(
                "a local Airflow of this AIRFLOW_HOME is running already ("
                + ", ".join(f"{p.component} pid {p.pid}" for p in alive)
                + f"; recorded in {self.home / STATE_FILE}): stop it first "
                  "(python -m baselib.orchestration.local_airflow stop)")
        self.processes.clear()
        logs = self._log_dir()
        launch_env = {**self.env, **LAUNCH_ONLY_ENV}
        if components is None:
            components = default_components(self.env)
        workers = 0
        with _SignalsAsExit():
            try:
                for component in components:  # an airflow sub-command: "scheduler", "celery worker", ...
                    name, node = component.replace(" ", "-"), ""
                    argv = [airflow_executable(), *component.split(), *COMPONENT_ARGS.get(component, ())]
                    if component == CELERY_WORKER:
                        workers += 1
                        name, node = f"{name}-{workers}", worker_node(workers)
                        argv += ["--celery-hostname", node,
                                 "--queues", self.env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE") or "default"]
                    log = logs / f"{name}.log"
                    with open(log, "ab") as out:
                        proc = subprocess.Popen(argv, env=launch_env, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
                    self.processes.append(Process(component, proc.pid, _start_time(proc.pid) or "", str(log), node))
                    self.save()
                self.wait_healthy(timeout)
            except BaseException:
                self.stop()
                (self.home / STATE_FILE).unlink(missing_ok=True)
                raise

    def _exited(self) -> list[Process]:
        return [p for p in self.processes if _start_time(p.pid) != p.started]

    def _fail(self, message: str) -> AirflowStartError:
        tails = []
        for p in self.processes:
            try:
                tails.append(f"--- {p.component} ({p.log}):\n" + Path(p.log).read_text(errors="replace")[-2500:])
            except OSError:
                pass
        return AirflowStartError(message + "\n" + "\n".join(tails))

    def _is_ours(self) -> bool:
        """Whether the api-server answering on :attr:`api_url` is this deployment's: its
        ``/auth/token`` token is signed with this deployment's JWT secret."""
        import httpx
        import jwt

        token = httpx.get(f"{self.api_url}/auth/token", timeout=10).json()["access_token"]
        try:
            jwt.decode(token, self.env["AIRFLOW__API_AUTH__JWT_SECRET"], algorithms=["HS512", "HS384", "HS256"],
                       options={"verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            return False
        return True

    def ping_workers(self, timeout: float = 2) -> set[str]:
        """The node names of this deployment's Celery workers that answer a Celery ``ping``
        through the broker (``AIRFLOW__CELERY__BROKER_URL``) within ``timeout`` seconds; an empty
        set when the broker cannot be reached."""
        nodes = [p.node for p in self.processes if p.node]
        if not nodes:
            return set()
        from celery import Celery

        app = Celery(broker=self.env["AIRFLOW__CELERY__BROKER_URL"],
                     broker_connection_timeout=timeout, broker_connection_retry_on_startup=False)
        try:
            replies = app.control.ping(destination=nodes, timeout=timeout) or []
        except Exception as exc:  # the broker is down or refuses us: nobody answered
            from baselib.security import redaction

            log.info("Celery ping through the broker failed: %s", redaction.redact(str(exc)))
            return set()
        finally:
            app.close()
        return {node for reply in replies for node in reply} & set(nodes)

    def wait_healthy(self, timeout: float = 180) -> None:
        """Wait until the api-server reports the started components healthy and is this
        deployment's (:meth:`_is_ours`), and every started Celery worker answers a ping
        (:meth:`ping_workers`). Raises :class:`AirflowStartError` quoting the logs when a
        component exits, another deployment answers on the port, or ``timeout`` (s) passes."""
        import httpx

        wanted = {"api-server": "metadatabase", "scheduler": "scheduler", "dag-processor": "dag_processor",
                  "triggerer": "triggerer"}
        needed = [wanted[p.component] for p in self.processes if p.component in wanted]
        workers = {p.node for p in self.processes if p.node}
        deadline, last, answered = time.monotonic() + timeout, None, set()
        while time.monotonic() < deadline:
            if exited := self._exited():
                raise self._fail(f"Airflow {', '.join(p.component for p in exited)} exited during start-up")
            if answered != workers:
                answered = self.ping_workers()
            try:
                last = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
                if answered == workers and all((last.get(part) or {}).get("status") == "healthy" for part in needed):
                    if not self._is_ours():
                        raise self._fail(f"the api-server answering on {self.api_url} is not this deployment's "
                                         "(its token is not signed with this deployment's JWT secret)")
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        silent = sorted(workers - answered)
        raise self._fail(f"Airflow did not become healthy within {timeout:.0f} s (last health: {last}"
                         + (f"; Celery workers not answering a ping: {silent}" if silent else "") + ")")

    def _reap(self) -> None:
        for p in self.processes:  # our own children (when this process started them)
            try:
                os.waitpid(p.pid, os.WNOHANG)
            except ChildProcessError:
                pass

    def stop(self, grace: float = 20, kill_wait: float = 15) -> None:
        """Stop every started component: SIGTERM to its process group; after ``grace`` seconds (or
        once the groups and sessions are empty) SIGKILL to every recorded group and to every
        process of a recorded session; then wait up to ``kill_wait`` seconds until none is left
        (a warning names any still there). A record whose pid is now another process (a
        different start time) is left alone, and so are its group and session: the kernel does
        not reuse a pid while a group or session of that id has members."""
        ours = {p.pid for p in self.processes if _ours(p)}
        for pid in ours:
            _signal(pid, signal.SIGTERM, group=True)
        deadline = time.monotonic() + grace
        while ours and time.monotonic() < deadline and _members(ours):
            self._reap()
            time.sleep(0.2)
        deadline = time.monotonic() + kill_wait
        while ours and (left := _members(ours)):
            if time.monotonic() >= deadline:
                log.warning("processes of the local Airflow still alive after SIGKILL: %s", left)
                break
            for pid in ours:
                _signal(pid, signal.SIGKILL, group=True)
            for pid in left:  # task runners: their own group, our session
                _signal(pid, signal.SIGKILL)
            self._reap()
            time.sleep(0.1)
        self._reap()
        self.processes.clear()

    # -- state file, for shell scripts that start and stop in separate commands
    def save(self) -> Path:
        """Write the started processes to ``$AIRFLOW_HOME/local-airflow.json`` (atomically)."""
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"api_url": self.api_url, "processes": [vars(p) for p in self.processes]}))
        tmp.replace(path)
        return path

    @classmethod
    def from_state(cls, env: dict[str, str]) -> LocalAirflow:
        """The deployment of ``env`` with the processes its state file records, minus those that
        are gone (no process with that pid and start time, and no member left in its group or
        session): a state file left by a killed demo or a reboot does not block the next start."""
        path = Path(env["AIRFLOW_HOME"]) / STATE_FILE
        stack = cls(env)
        if path.exists():
            recorded = [Process(**p) for p in json.loads(path.read_text())["processes"]]
            stack.processes = [p for p in recorded if _alive(p)]
        return stack

    # -- the REST API
    def client(self):
        """An ``httpx.Client`` on the api-server, authenticated (all-admins token)."""
        import httpx

        token = httpx.get(f"{self.api_url}/auth/token", timeout=10).json()["access_token"]
        return httpx.Client(base_url=f"{self.api_url}/api/v2", headers={"Authorization": f"Bearer {token}"},
                            timeout=30)

    def unpause(self, dag_ids: list[str], timeout: float = 120) -> None:
        """Unpause ``dag_ids`` once the dag-processor has parsed them. Raises TimeoutError naming
        the DAGs it never saw (see the dag-processor log)."""
        pending = list(dag_ids)
        deadline = time.monotonic() + timeout
        with self.client() as api:
            while pending and time.monotonic() < deadline:
                for dag_id in list(pending):
                    if api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200:
                        pending.remove(dag_id)
                if pending:
                    time.sleep(1)
        if pending:
            raise TimeoutError(f"the dag-processor did not parse {pending} within {timeout:.0f} s "
                               f"(log: {self._log_dir() / 'dag-processor.log'})")

    def unpause_all(self) -> list[str]:
        """Unpause every DAG the metadata database knows now (REST ``PATCH /dags`` with
        ``dag_id_pattern=%``); returns the ids of those that were paused. DAGs parsed later follow
        ``AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION``."""
        return self._set_all_paused(False)

    def pause_all(self) -> list[str]:
        """Pause every DAG the metadata database knows now; returns the ids of those that were
        unpaused (e.g. by an earlier ``make up`` on the same metadata database, whose scheduler
        runs would collide with the demo's ``airflow dags test`` runs)."""
        return self._set_all_paused(True)

    def _set_all_paused(self, paused: bool) -> list[str]:
        with self.client() as api:
            response = api.patch("/dags", params={"dag_id_pattern": "%", "paused": not paused, "limit": 1000},
                                 json={"is_paused": paused})
            response.raise_for_status()
            return sorted(d["dag_id"] for d in response.json()["dags"])

    def dag_runs(self, dag_id: str, run_type: str | None = None) -> list[dict]:
        """The DAG's runs, newest ``run_after`` first (REST ``dagRuns`` entries)."""
        params = {"order_by": "-run_after", "limit": 100}
        if run_type:
            params["run_type"] = run_type
        with self.client() as api:
            response = api.get(f"/dags/{dag_id}/dagRuns", params=params)
            response.raise_for_status()
            return response.json()["dag_runs"]

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        with self.client() as api:
            response = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
            response.raise_for_status()
            return response.json()["state"]

    def queued_events(self, dag_id: str) -> int:
        """How many input Assets have events queued for ``dag_id`` (asset_dag_run_queue rows)."""
        with self.client() as api:
            response = api.get(f"/dags/{dag_id}/assets/queuedEvents")
            if response.status_code == 404:
                return 0
            response.raise_for_status()
            return response.json()["total_entries"]

    def settled_asset_run(self, dag_id: str, since: dt.datetime | None = None) -> dict | None:
        """The DAG's latest asset-triggered run once nothing more is queued or running for it
        (``None`` while something is, or when it has no asset-triggered run after ``since``). The
        returned run has ``load_state``: the state of its load task (``success``; ``skipped`` when
        the guard held it back)."""
        if self.queued_events(dag_id):
            return None
        runs = self.dag_runs(dag_id)
        if any(r["state"] in ("queued", "running") for r in runs):
            return None
        triggered = [r for r in runs if r["run_type"] == "asset_triggered"
                     and (since is None or dt.datetime.fromisoformat(r["run_after"]) >= since)]
        if not triggered:
            return None
        run = triggered[0]
        return {**run, "load_state": self.task_state(dag_id, run["dag_run_id"], "load")}

    def wait_for_asset_runs(self, dag_ids: list[str], since: dt.datetime | None = None,
                            timeout: float = 600) -> dict[str, dict]:
        """Wait until each DAG's latest asset-triggered run (after ``since``) has settled and
        loaded. Returns ``{dag_id: run}``; raises RuntimeError when a settled run did not load
        (failed, or skipped by the guard), TimeoutError naming the DAGs still waiting."""
        done: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(dag_ids) and time.monotonic() < deadline:
            if exited := self._exited():
                raise self._fail(f"Airflow {', '.join(p.component for p in exited)} stopped while waiting")
            for dag_id in dag_ids:
                if dag_id in done:
                    continue
                run = self.settled_asset_run(dag_id, since)
                if run is None:
                    continue
                if run["state"] != "success" or run["load_state"] != "success":
                    raise RuntimeError(f"{dag_id}: asset-triggered run {run['dag_run_id']} ended {run['state']} with "
                                       f"its load {run['load_state']} (task logs under {self.home / 'logs'})")
                done[dag_id] = run
            if len(done) < len(dag_ids):
                time.sleep(2)
        if len(done) < len(dag_ids):
            raise TimeoutError(f"no settled, loaded asset-triggered run within {timeout:.0f} s for "
                               f"{sorted(set(dag_ids) - set(done))} (scheduler log: {self._log_dir() / 'scheduler.log'})")
        return done


def theme_dag_ids() -> list[str]:
    from baselib.catalog import load_catalog

    return [r.dag_id for r in load_catalog() if r.is_theme]


def masked_url(url: str) -> str:
    """``url`` as Celery shows a broker URL: the password replaced by ``**``
    (``redis://:**@127.0.0.1:6379/2``, ``amqp://user:**@host//``); a ``;``-separated failover
    list has each URL masked. When kombu cannot parse it, everything between ``://`` and the
    last ``@`` before the path (user and password) becomes ``**``. Never raises for a string."""
    from kombu.utils.url import maybe_sanitize_url

    url = url.strip()
    try:
        return maybe_sanitize_url(url, mask="**")
    except (ValueError, TypeError):
        pass
    parts = url.split(";")
    if len(parts) > 1 and all("://" in one for one in parts):
        try:
            return ";".join(maybe_sanitize_url(one, mask="**") for one in parts)
        except (ValueError, TypeError):
            pass
    return re.sub(r"(?<=://)[^/]*@", "**@", url)


def _env_from_environment() -> dict[str, str]:
    """The deployment environment as ``env`` printed it (the shell has it exported)."""
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ:
        raise SystemExit("run `eval \"$(python -m baselib.orchestration.local_airflow env)\"` first")
    return dict(os.environ)


def _home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.cwd() / ".airflow")


def running(home: Path) -> tuple[str, list[Process]] | None:
    """``(api_url, live processes)`` of the deployment recorded in ``home``'s state file, or None
    when nothing recorded is alive."""
    path = home / STATE_FILE
    if not path.exists():
        return None
    stack = LocalAirflow.from_state({"AIRFLOW_HOME": str(home)})
    if not stack.processes:
        return None
    return json.loads(path.read_text())["api_url"], stack.processes


def screenshot(api_url: str, png: Path, *, width: int = 1400, height: int = 900, budget_ms: int = 15000,
               timeout: float = 120) -> Path:
    """Save a PNG (``width`` x ``height`` pixels) of the Airflow UI's DAG list at ``api_url`` taken
    by Debian's headless chromium (no host name resolves: it reaches the loopback address only)
    after ``budget_ms`` of virtual time for the page's scripts, once the api-server lists at least
    one DAG. Raises RuntimeError (with
    chromium's output) when chromium is missing, no DAG is listed within ``timeout`` seconds, or
    chromium writes no file."""
    import shutil
    import tempfile

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise RuntimeError("no headless browser: install Debian's chromium (and fonts-noto-cjk)")
    deadline = time.monotonic() + timeout
    with LocalAirflow({"AIRFLOW__API__BASE_URL": api_url}).client() as api:  # the DAGs are parsed
        while not api.get("/dags", params={"limit": 1}).raise_for_status().json()["total_entries"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no DAG in {api_url} within {timeout:.0f} s: see the dag-processor's log")
            time.sleep(2)
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="baselib-chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   f"--user-data-dir={profile}", "--no-first-run", "--disable-component-update",
                   "--disable-background-networking", "--hide-scrollbars",
                   "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--window-size={width},{height}",
                   f"--virtual-time-budget={budget_ms}", f"--screenshot={png}", f"{api_url}/dags"]
        done = subprocess.run(command, capture_output=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot ({done.returncode}): "
                           + done.stderr.decode(errors="replace")[-2000:])
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="local_airflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="print export lines: metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN if "
                               "set, else airflow_metadata on WAREHOUSE_URL's server or the embedded PostgreSQL), "
                               "executor, api-server port and secrets")
    sub.add_parser("start", help="start the components, wait until healthy, record their pids")
    sub.add_parser("unpause-themes", help="unpause every theme DAG of the catalog once parsed")
    sub.add_parser("unpause-all", help="unpause every DAG already in the metadata database")
    sub.add_parser("pause-all", help="pause every DAG already in the metadata database")
    wait = sub.add_parser("wait-themes", help="wait until each theme DAG has a settled, loaded asset-triggered run")
    wait.add_argument("--since", help="ISO instant: only runs triggered after it count")
    wait.add_argument("--timeout", type=float, default=600)
    sub.add_parser("stop", help="stop the recorded components by pid")
    sub.add_parser("status", help="print the api-server address and the live components (exit 1 when none)")
    sub.add_parser("show-url", help="print the URL read from stdin with its password masked as Celery does "
                                    "(redis://:**@host:6379/2)")
    shot = sub.add_parser("screenshot", help="save a PNG of the running deployment's DAG list (headless chromium)")
    shot.add_argument("png", type=Path, nargs="?", default=Path("docs/airflow-ui.png"))
    shot.add_argument("--width", type=int, default=1400)
    shot.add_argument("--height", type=int, default=900)
    shot.add_argument("--budget-ms", type=int, default=15000, help="virtual time for the page's scripts")
    args = parser.parse_args(argv)

    if args.command == "show-url":  # read from stdin: a password never on a command line
        print(masked_url(sys.stdin.read()))
        return
    if args.command == "env":
        from baselib.warehouse import embedded

        home = Path(os.environ.get("AIRFLOW_HOME") or Path.cwd() / ".airflow")
        metadata = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")  # one already chosen wins
        if not metadata:
            metadata = metadata_url(os.environ.get("WAREHOUSE_URL") or embedded.start())
        port = os.environ.get("AIRFLOW__API__PORT")  # one already chosen wins (make up keeps 8080)
        env = environment(home, metadata, base={}, api_port=int(port) if port else None)
        for key, value in env.items():
            print(f"export {key}={shlex.quote(value)}")
        return
    if args.command in ("status", "screenshot"):
        found = running(_home())
        if found is None:
            raise SystemExit(f"no local Airflow is running for AIRFLOW_HOME={_home()} (start it: make up)")
        api_url, processes = found
        if args.command == "screenshot":
            print(screenshot(api_url, args.png, width=args.width, height=args.height, budget_ms=args.budget_ms))
            return
        print(api_url)
        for p in processes:
            print(f"{p.component}{' ' + p.node if p.node else ''}: pid {p.pid}, log {p.log}")
        return
    if args.command == "stop":  # needs only AIRFLOW_HOME: the state file has the rest
        stack = LocalAirflow.from_state({"AIRFLOW_HOME": str(_home())})
        stack.stop()
        (stack.home / STATE_FILE).unlink(missing_ok=True)
        return
    stack = LocalAirflow.from_state(_env_from_environment())
    if args.command == "start":
        stack.start()
        stack.save()
        print(" ".join(f"{p.component}={p.pid}" for p in stack.processes))
    elif args.command == "unpause-themes":
        dag_ids = theme_dag_ids()
        stack.unpause(dag_ids)
        print("unpaused: " + " ".join(dag_ids))
    elif args.command == "unpause-all":
        unpaused = stack.unpause_all()
        print(f"unpaused {len(unpaused)} DAGs" + (": " + " ".join(unpaused) if unpaused else ""))
    elif args.command == "pause-all":
        paused = stack.pause_all()
        print(f"paused {len(paused)} DAGs" + (": " + " ".join(paused) if paused else ""))
    elif args.command == "wait-themes":
        since = dt.datetime.fromisoformat(args.since) if args.since else None
        try:
            runs = stack.wait_for_asset_runs(theme_dag_ids(), since, args.timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise SystemExit(str(exc)) from None
        for dag_id, run in runs.items():
            print(f"{dag_id}: {run['dag_run_id']} ({run['run_type']}, triggered by "
                  f"{run.get('triggered_by')}) {run['state']}")


if __name__ == "__main__":
    main()
