"""A local Airflow deployment for the demo and the tests: the api-server, dag-processor,
scheduler and triggerer that Airflow 3 needs (the triggerer runs deferred tasks and the
deadline alerts' asynchronous callbacks), started as processes and stopped by their process ids.

* Metadata database: PostgreSQL (database ``airflow_metadata`` on the warehouse's server, the
  embedded one by default). The scheduler, the dag-processor, the api-server, the executor's
  workers and ``airflow dags test`` all write to it at once, which SQLite does not take well; a
  Celery executor (issue 13) needs a server database anyway.
* Executor: ``BASELIB_AIRFLOW_EXECUTOR`` (default ``LocalExecutor``), passed as
  ``AIRFLOW__CORE__EXECUTOR``; another executor needs its own worker processes started beside.
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
to shell scripts (``env``, ``start``, ``unpause``, ``wait-themes``, ``stop``): the started
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
# extra arguments per component: the scheduler does not serve logs on 0.0.0.0:8793 (shared log folder)
COMPONENT_ARGS = {"scheduler": ("--skip-serve-logs",)}
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
    port = api_port or free_port()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CORE__EXECUTOR": executor or os.environ.get("BASELIB_AIRFLOW_EXECUTOR") or DEFAULT_EXECUTOR,
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only the DAGs unpaused on purpose run
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
    return env


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

    def start(self, components: tuple[str, ...] = COMPONENTS, timeout: float = 180) -> None:
        """Start ``components`` (airflow sub-commands; add e.g. ``"celery worker"`` for the Celery
        executor) and wait until the api-server reports the metadata database, the
        scheduler and the dag-processor healthy. The state file is written after each process
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
        with _SignalsAsExit():
            try:
                for component in components:  # an airflow sub-command: "scheduler", "celery worker", ...
                    log = logs / f"{component.replace(' ', '-')}.log"
                    argv = [airflow_executable(), *component.split(), *COMPONENT_ARGS.get(component, ())]
                    with open(log, "ab") as out:
                        proc = subprocess.Popen(argv, env=launch_env, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
                    self.processes.append(Process(component, proc.pid, _start_time(proc.pid) or "", str(log)))
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

    def wait_healthy(self, timeout: float = 180) -> None:
        """Wait until the api-server reports the started components healthy and is this
        deployment's (:meth:`_is_ours`). Raises :class:`AirflowStartError` quoting the logs when a
        component exits, another deployment answers on the port, or ``timeout`` (s) passes."""
        import httpx

        wanted = {"api-server": "metadatabase", "scheduler": "scheduler", "dag-processor": "dag_processor",
                  "triggerer": "triggerer"}
        needed = [wanted[p.component] for p in self.processes if p.component in wanted]
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if exited := self._exited():
                raise self._fail(f"Airflow {', '.join(p.component for p in exited)} exited during start-up")
            try:
                last = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
                if all((last.get(part) or {}).get("status") == "healthy" for part in needed):
                    if not self._is_ours():
                        raise self._fail(f"the api-server answering on {self.api_url} is not this deployment's "
                                         "(its token is not signed with this deployment's JWT secret)")
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        raise self._fail(f"Airflow did not become healthy within {timeout:.0f} s (last health: {last})")

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


def _env_from_environment() -> dict[str, str]:
    """The deployment environment as ``env`` printed it (the shell has it exported)."""
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ:
        raise SystemExit("run `eval \"$(python -m baselib.orchestration.local_airflow env)\"` first")
    return dict(os.environ)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="local_airflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="print export lines: metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN if "
                               "set, else airflow_metadata on WAREHOUSE_URL's server or the embedded PostgreSQL), "
                               "executor, api-server port and secrets")
    sub.add_parser("start", help="start the components, wait until healthy, record their pids")
    sub.add_parser("unpause-themes", help="unpause every theme DAG of the catalog once parsed")
    wait = sub.add_parser("wait-themes", help="wait until each theme DAG has a settled, loaded asset-triggered run")
    wait.add_argument("--since", help="ISO instant: only runs triggered after it count")
    wait.add_argument("--timeout", type=float, default=600)
    sub.add_parser("stop", help="stop the recorded components by pid")
    args = parser.parse_args(argv)

    if args.command == "env":
        from baselib.warehouse import embedded

        home = Path(os.environ.get("AIRFLOW_HOME") or Path.cwd() / ".airflow")
        metadata = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")  # one already chosen wins
        if not metadata:
            metadata = metadata_url(os.environ.get("WAREHOUSE_URL") or embedded.start())
        env = environment(home, metadata, base={})
        for key, value in env.items():
            print(f"export {key}={shlex.quote(value)}")
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
    elif args.command == "wait-themes":
        since = dt.datetime.fromisoformat(args.since) if args.since else None
        try:
            runs = stack.wait_for_asset_runs(theme_dag_ids(), since, args.timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise SystemExit(str(exc)) from None
        for dag_id, run in runs.items():
            print(f"{dag_id}: {run['dag_run_id']} ({run['run_type']}, triggered by "
                  f"{run.get('triggered_by')}) {run['state']}")
    elif args.command == "stop":
        stack.stop()
        (stack.home / STATE_FILE).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
