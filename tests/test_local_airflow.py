"""The local Airflow deployment's process handling, with real processes and a real loopback HTTP
server (no Airflow needed: a stand-in ``airflow`` executable records how it was started).

* stop() leaves nothing of a recorded session: a group member that ignores SIGTERM, a task runner
  that moved to its own process group;
* the state file: records of processes that are gone are dropped, live ones make start() refuse;
  it is written after each process started, and removed when the start fails;
* the admin-for-everyone setting reaches only the started processes, never ``env``'s output; a
  non-loopback api host is refused; the scheduler does not serve logs on 0.0.0.0:8793;
* SIGTERM during start() stops what it had started;
* wait_healthy() tells this deployment's api-server from another one on the port (JWT secret).
"""
from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from baselib.orchestration import local_airflow as la

FAKE_AIRFLOW = textwrap.dedent("""\
    #!/bin/sh
    # records its argv, the admin setting and the state file as it was when this one started
    name="$(echo "$*" | tr ' ' '_')"
    { echo "argv=$*"; echo "all_admins=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-unset}"; } > "$AIRFLOW_HOME/$name.seen"
    cp "$AIRFLOW_HOME/local-airflow.json" "$AIRFLOW_HOME/$name.state" 2>/dev/null
    exec sleep 300
    """)


def _wait_for(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _session(sid: int) -> list[tuple[int, int]]:
    """(pid, process group) of the live processes of session ``sid`` (``/proc/<pid>/stat``)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append((int(entry.name), int(fields[2])))
    return found


def _kill_left(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.delenv("AIRFLOW__API_AUTH__JWT_SECRET", raising=False)
    return la.environment(tmp_path / "home", "postgresql+psycopg2://nobody@127.0.0.1:1/none", base=dict(os.environ))


@pytest.fixture
def fake_airflow(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "airflow"
    path.write_text(FAKE_AIRFLOW)
    path.chmod(0o755)
    monkeypatch.setattr(la, "airflow_executable", lambda: str(path))
    return path


def test_stop_leaves_no_process_of_a_recorded_session(env):
    """The leader exits on SIGTERM; one child ignores SIGTERM in the leader's group, another (like
    an Airflow task runner) moved to its own group in the same session: after stop() none is left."""
    script = ("import os, signal, subprocess, time\n"
              "subprocess.Popen(['sh', '-c', \"trap '' TERM; exec sleep 300\"])\n"
              "subprocess.Popen(['python3', '-c', 'import os, signal, time; os.setpgid(0, 0); "
              "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
              "time.sleep(300)\n")
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)

    def started():  # three processes, the task-runner-like child in its own group
        members = _session(leader.pid)
        return len(members) == 3 and len({group for _, group in members}) == 2 and [pid for pid, _ in members]

    stack = la.LocalAirflow(env, processes=[la.Process("scheduler", leader.pid, la._start_time(leader.pid), "-")])
    members = []
    try:
        members = _wait_for(started)
        t0 = time.monotonic()
        stack.stop(grace=1)
        assert time.monotonic() - t0 < 10
        assert _session(leader.pid) == []
        assert stack.processes == []
    finally:
        _kill_left(members)
        leader.wait()


def test_state_file_drops_gone_records_and_start_refuses_live_ones(env, fake_airflow):
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        records = [{"component": "scheduler", "pid": gone.pid, "started": "12345", "log": "-"},
                   {"component": "api-server", "pid": live.pid, "started": la._start_time(live.pid), "log": "-"}]
        (home / la.STATE_FILE).write_text(json.dumps({"api_url": "x", "processes": records[:1]}))
        assert la.LocalAirflow.from_state(env).processes == []  # a killed demo's file does not block

        (home / la.STATE_FILE).write_text(json.dumps({"api_url": "x", "processes": records}))
        stack = la.LocalAirflow.from_state(env)
        assert [p.pid for p in stack.processes] == [live.pid]
        with pytest.raises(la.AirflowStartError, match=f"running already \\(api-server pid {live.pid}"):
            stack.start(timeout=5)
        assert not list(home.glob("*.seen"))  # nothing was started
        assert live.poll() is None and json.loads((home / la.STATE_FILE).read_text())["processes"] == records
    finally:
        live.kill()
        live.wait()


def test_start_sets_admin_only_in_its_processes_and_cleans_up_a_failed_start(env, fake_airflow):
    """The fake components never answer: start() fails after the timeout and leaves nothing."""
    home = Path(env["AIRFLOW_HOME"])
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in env
    stack = la.LocalAirflow(env)
    with pytest.raises(la.AirflowStartError, match="did not become healthy within 3 s"):
        stack.start(timeout=3)
    seen = {p.name: p.read_text() for p in home.glob("*.seen")}
    assert seen == {"api-server.seen": "argv=api-server\nall_admins=True\n",
                    "dag-processor.seen": "argv=dag-processor\nall_admins=True\n",
                    "scheduler_--skip-serve-logs.seen": "argv=scheduler --skip-serve-logs\nall_admins=True\n",
                    "triggerer_--skip-serve-logs.seen": "argv=triggerer --skip-serve-logs\nall_admins=True\n"}
    # the state file was written after each start: the scheduler saw the two started before it
    state = json.loads((home / "scheduler_--skip-serve-logs.state").read_text())
    assert [p["component"] for p in state["processes"]][:2] == ["api-server", "dag-processor"]
    assert all(_session(p["pid"]) == [] for p in state["processes"])
    assert not (home / la.STATE_FILE).exists() and stack.processes == []


def test_start_refuses_an_api_host_beyond_loopback(env, fake_airflow):
    for host in ("0.0.0.0", "192.168.1.10", "example.org"):
        with pytest.raises(la.AirflowStartError, match="not a loopback address"):
            la.LocalAirflow({**env, "AIRFLOW__API__HOST": host}).start(timeout=1)
    assert not list(Path(env["AIRFLOW_HOME"]).glob("*.seen"))


def test_env_output_has_no_admin_setting_and_a_long_secret(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("AIRFLOW__API_AUTH__JWT_SECRET", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    la.main(["env"])
    out = capsys.readouterr().out
    assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in out
    secret = next(line.split("=", 1)[1] for line in out.splitlines()
                  if line.startswith("export AIRFLOW__API_AUTH__JWT_SECRET="))
    assert len(secret.strip("'")) >= 86  # token_urlsafe(64): 512 bits


def test_sigterm_during_start_stops_what_it_started(env, fake_airflow, tmp_path):
    home = Path(env["AIRFLOW_HOME"])
    script = (f"import sys; sys.path.insert(0, {str(Path(la.__file__).parents[2])!r})\n"
              "from baselib.orchestration import local_airflow as la\n"
              f"la.airflow_executable = lambda: {str(fake_airflow)!r}\n"
              "la.main(['start'])\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        def all_recorded():
            if (home / "triggerer_--skip-serve-logs.seen").exists():
                state = json.loads((home / la.STATE_FILE).read_text())
                return state if len(state["processes"]) == len(la.COMPONENTS) else None
            return None

        state = _wait_for(all_recorded, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert all(_session(p["pid"]) == [] for p in state["processes"])
        assert not (home / la.STATE_FILE).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _FakeApi(http.server.BaseHTTPRequestHandler):
    token = ""

    def do_GET(self):  # noqa: N802
        body = {"/api/v2/monitor/health": {"metadatabase": {"status": "healthy"}},
                "/auth/token": {"access_token": self.token}}.get(self.path)
        data = json.dumps(body).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_wait_healthy_tells_this_deployments_api_server_from_another(env):
    import jwt

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**env, "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{server.server_address[1]}"}
        stack = la.LocalAirflow(env)
        _FakeApi.token = jwt.encode({"sub": "admin", "exp": int(time.time()) + 600}, "another deployment's secret " * 4,
                                    algorithm="HS512")
        with pytest.raises(la.AirflowStartError, match="is not this deployment's"):
            stack.wait_healthy(timeout=5)
        _FakeApi.token = jwt.encode({"sub": "admin", "exp": int(time.time()) + 600},
                                    env["AIRFLOW__API_AUTH__JWT_SECRET"], algorithm="HS512")
        stack.wait_healthy(timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_celery_settings_only_with_the_celery_executor(tmp_path, monkeypatch):
    for name in ("AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CELERY__WORKER_CONCURRENCY",
                 "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "BASELIB_AIRFLOW_EXECUTOR", "BASELIB_CELERY_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    metadata = "postgresql+psycopg2://nobody@127.0.0.1:1/meta"
    local = la.environment(tmp_path, metadata, base={})
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and not any(k.startswith("AIRFLOW__CELERY__") for k in local)
    assert local["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    assert la.default_components(local) == la.COMPONENTS

    celery = la.environment(tmp_path, metadata, executor="CeleryExecutor", base={})
    assert {k: v for k, v in celery.items() if k.startswith("AIRFLOW__CELERY__")} == {
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/2",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2"}
    assert la.default_components(celery) == (*la.COMPONENTS, "celery worker")

    # settings already chosen win: in the shell (the `env` command), or in base
    monkeypatch.setenv("BASELIB_AIRFLOW_EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://127.0.0.1:6379/9")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    chosen = la.environment(tmp_path, metadata, base={"AIRFLOW__CELERY__WORKER_CONCURRENCY": "5",
                                                      "BASELIB_CELERY_WORKERS": "3"})
    assert chosen["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert chosen["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/9"
    assert chosen["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "5"
    assert chosen["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert la.default_components(chosen).count("celery worker") == 3


def test_celery_workers_are_started_with_their_node_name_and_queue(env, fake_airflow, monkeypatch):
    """Two workers, each with its own node name and log, serving the deployment's default queue,
    and not serving logs on 0.0.0.0; a worker that never answers a ping fails the start, named."""
    import redis
    import socket

    broker = "redis://127.0.0.1:6379/3"
    try:
        redis.Redis.from_url(broker, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {broker}: {exc}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import jwt

    _FakeApi.token = jwt.encode({"sub": "admin"}, env["AIRFLOW__API_AUTH__JWT_SECRET"], algorithm="HS512")
    env = {**env, "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW__CELERY__BROKER_URL": broker,
           "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "q-test", "BASELIB_CELERY_WORKERS": "2",
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{server.server_address[1]}"}
    home = Path(env["AIRFLOW_HOME"])
    stack = la.LocalAirflow(env)
    try:
        with pytest.raises(la.AirflowStartError, match=r"Celery workers not answering a ping: \['baselib-worker-1@"):
            stack.start(components=("api-server", "celery worker", "celery worker"), timeout=4)
    finally:
        server.shutdown()
        server.server_close()
    host = socket.gethostname()
    seen = {p.name: p.read_text().splitlines()[0] for p in home.glob("celery*.seen")}
    assert sorted(seen.values()) == [
        f"argv=celery worker --skip-serve-logs --celery-hostname baselib-worker-{n}@{host} --queues q-test"
        for n in (1, 2)]
    assert sorted(p.name for p in home.glob("celery-worker-*.log")) == ["celery-worker-1.log", "celery-worker-2.log"]
    assert not (home / la.STATE_FILE).exists() and stack.processes == []


def test_status_and_stop_need_only_the_home(env, fake_airflow, monkeypatch, capsys):
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True)
    live = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record = {"component": "api-server", "pid": live.pid, "started": la._start_time(live.pid), "log": "x.log"}
        (home / la.STATE_FILE).write_text(json.dumps({"api_url": "http://127.0.0.1:8080", "processes": [record]}))
        for name in list(os.environ):
            if name.startswith("AIRFLOW"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("AIRFLOW_HOME", str(home))
        la.main(["status"])
        assert capsys.readouterr().out.splitlines() == ["http://127.0.0.1:8080", f"api-server: pid {live.pid}, log x.log"]
        la.main(["stop"])
        assert live.wait(timeout=30) is not None and not (home / la.STATE_FILE).exists()
        with pytest.raises(SystemExit, match="no local Airflow is running"):
            la.main(["status"])
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()


class _FakeUi(http.server.BaseHTTPRequestHandler):
    dags = 0

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/api/v2/dags"):
            body, kind = json.dumps({"dags": [], "total_entries": _FakeUi.dags}).encode(), "application/json"
        elif self.path == "/auth/token":
            body, kind = json.dumps({"access_token": "t"}).encode(), "application/json"
        elif self.path == "/dags":
            body = b"<html><body style='background:#00ff00'><h1>19 Dags</h1></body></html>"
            kind = "text/html"
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_screenshot_waits_for_dags_then_saves_the_dag_list(tmp_path):
    """Debian's headless chromium, a real loopback server standing in for the api-server: no PNG
    while no DAG is listed; then a PNG of /dags of the size asked."""
    import shutil
    import struct

    if not shutil.which("chromium"):
        pytest.skip("no chromium (Debian package) on this machine")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeUi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    png = tmp_path / "docs" / "ui.png"
    try:
        _FakeUi.dags = 0
        with pytest.raises(RuntimeError, match="no DAG in"):
            la.screenshot(url, png, timeout=1)
        assert not png.exists()
        _FakeUi.dags = 19
        assert la.screenshot(url, png, width=640, height=400, budget_ms=1000) == png.resolve()
    finally:
        server.shutdown()
        server.server_close()
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (640, 400)
    from PIL import Image

    assert Image.open(png).convert("RGB").getpixel((320, 380)) == (0, 255, 0)  # the page, not a blank one


@pytest.mark.parametrize("url, shown", [
    ("redis://:S3cretPw@127.0.0.1:6379/2", "redis://:**@127.0.0.1:6379/2"),
    ("amqp://baselib:S3cretPw@mq:5672//", "amqp://baselib:**@mq:5672//"),
    ("redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379/2"),
    ("sentinel://:S3cretPw@a:26379;sentinel://:S3cretPw@b:26379", "sentinel://:**@a:26379/;sentinel://:**@b:26379/"),
    ("redis://:S3c@ret;Pw@h:notaport/2", "redis://**@h:notaport/2"),  # unparseable: user and password hidden
])
def test_show_url_masks_the_password_as_celery_does(url, shown):
    """``show-url`` (what make up prints the broker with) reads the URL from stdin, never argv."""
    done = subprocess.run([sys.executable, "-m", "baselib.orchestration.local_airflow", "show-url"], input=url,
                          capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "plugins")})
    assert done.stdout.strip() == shown
    assert la.masked_url(url) == shown
    assert "S3c" not in done.stdout + done.stderr
