"""The Compose deployment (docker-compose.yaml, Dockerfile, .env.example, docker/): validated with a
real Compose parser (``docker-compose config``; no Docker daemon needed) and, for airflow-init, run
against this machine's PostgreSQL with the ``airflow`` of this virtual environment."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKER_DIR = ROOT / "docker"
INIT_SCRIPT = DOCKER_DIR / "airflow-init.sh"

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init")
LAYOUT = {*AIRFLOW_SERVICES, "postgres", "redis", "warehouse", "minio", "minio-init"}
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _compose_bin() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("docker-compose is not installed (CI installs it: apt-get install docker-compose)")
    pytest.skip("docker-compose is not installed: apt-get install docker-compose (or pip install docker-compose)")


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    """``docker-compose --env-file ENV_FILE -f docker-compose.yaml ARGS`` with a clean environment
    (nothing of this shell's environment fills a variable)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([_compose_bin(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def env_example() -> dict[str, str]:
    """The variables .env.example defines (``NAME=value`` lines)."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line.strip()):
            found[match[1]] = match[2]
    return found


def compose_references() -> dict[str, str]:
    """``{variable: operator}`` of every ``${VAR…}`` in docker-compose.yaml (``:?``, ``:-`` or "")."""
    refs = {}
    for name, op in re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(:\?|:-|\?|-)?", COMPOSE_FILE.read_text()):
        refs[name] = refs.get(name) if refs.get(name) == ":?" else op
    return refs


@pytest.fixture(scope="module")
def config() -> dict:
    done = compose(ENV_EXAMPLE, "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def services(config) -> dict:
    return config["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def _mounts(service: dict) -> dict[str, str]:
    """``{target: source}`` of a service's volumes (short ``source:target[:mode]`` or long form)."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume.get("source")
        else:
            source, target = volume.split(":")[:2]
            mounts[target] = source
    return mounts


def _image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""


# ---------------------------------------------------------------------------------------------
# the file parses, and holds the Airflow layout
def test_compose_config_parses_quietly_and_lists_the_layout():
    quiet = compose(ENV_EXAMPLE, "config", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    listed = compose(ENV_EXAMPLE, "config", "--services")
    assert listed.returncode == 0, listed.stderr
    names = set(listed.stdout.split())
    assert LAYOUT <= names, f"missing services: {sorted(LAYOUT - names)}"
    # optional, under profiles: flower (Celery monitoring), airflow-cli (debug)
    assert {"flower", "airflow-cli"} <= names


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service.get("image", "")
        tag = _image_tag(image)
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"
    assert re.fullmatch(r"postgis/postgis:15-3\.\d+", services["warehouse"]["image"])
    assert re.fullmatch(r"(quay.io/)?minio/minio:RELEASE\.[\dT-]+Z", services["minio"]["image"])
    assert re.fullmatch(r"(quay.io/)?minio/mc:RELEASE\.[\dT-]+Z", services["minio-init"]["image"])
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")


def test_celery_executor_with_the_redis_broker(services):
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert broker.scheme == "redis" and broker.hostname == "redis", name
        metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert metadata.scheme.startswith("postgresql") and metadata.hostname == "postgres", name
        backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
        assert backend.hostname == "postgres", name
    assert services["airflow-worker"]["command"] in ("celery worker", ["celery", "worker"])


def test_airflow_services_share_image_build_and_environment(services):
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    common = raw["x-airflow-common"]["environment"]
    reference = services["airflow-apiserver"]
    for name in (*AIRFLOW_SERVICES, "flower", "airflow-cli"):
        service = services[name]
        assert service["image"] == reference["image"], name
        assert service["build"] == reference["build"], name
        env = _env(service)
        missing = set(common) - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert {k: env[k] for k in common} == {k: _env(reference)[k] for k in common}, name
    assert reference["build"]["context"] == str(ROOT)


def test_worker_is_scalable(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker
    assert not worker.get("ports"), "a fixed host port stops --scale airflow-worker=N"


def test_operations_settings(services):
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "false", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "INFO", name
        assert env["BASELIB_REPORTS_DIR"] == "/opt/airflow/reports", name
    # the reports volume is shared by the workers (write) and the api-server
    for name in ("airflow-worker", "airflow-apiserver"):
        assert _mounts(services[name]).get("/opt/airflow/reports") == "baselib-reports", name
    # the UI login: FabAuthManager (users in the metadata database) everywhere, the admin's password
    # only in airflow-init, which creates the user
    for name in (*AIRFLOW_SERVICES, "flower", "airflow-cli"):
        env = _env(services[name])
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
        assert not any(k.startswith("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER") for k in env), name
        assert name == "airflow-init" or "AIRFLOW_ADMIN_PASSWORD" not in env, name
    init = _env(services["airflow-init"])
    assert (init["AIRFLOW_ADMIN_USER"], init["AIRFLOW_ADMIN_PASSWORD"]) == ("admin", "change-me")
    assert re.search(r"^apache-airflow-providers-fab==", (ROOT / "requirements.txt").read_text(), re.M)


def test_healthchecks_and_start_order(services):
    for name in ("postgres", "redis", "warehouse", "minio", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-worker", "airflow-triggerer"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-init"]["depends_on"]["warehouse"]["condition"] == "service_healthy"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    worker = services["airflow-worker"]["depends_on"]
    assert worker["minio-init"]["condition"] == "service_completed_successfully"
    assert worker["airflow-apiserver"]["condition"] == "service_healthy"


def test_warehouse_preloads_pg_stat_statements_with_scram(services):
    warehouse = services["warehouse"]
    command = " ".join(warehouse["command"]) if isinstance(warehouse["command"], list) else warehouse["command"]
    assert re.search(r"shared_preload_libraries=\S*pg_stat_statements", command)
    env = _env(warehouse)
    assert env["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    assert "--auth-host=scram-sha-256" in env["POSTGRES_INITDB_ARGS"]


def test_object_store_urls_point_at_the_buckets(services):
    env, buckets = _env(services["airflow-worker"]), _env(services["minio-init"])
    for kind in ("STAGING", "LANDING", "RETURNS"):
        url = urlsplit(env[f"BASELIB_{kind}_URL"])
        assert url.scheme == "s3" and url.netloc == buckets[f"BASELIB_{kind}_BUCKET"], kind
    assert urlsplit(env["AWS_ENDPOINT_URL"]).hostname == "minio"
    # the application's MinIO user is minio-init's, not the root user
    assert env["AWS_ACCESS_KEY_ID"] == buckets["AWS_ACCESS_KEY_ID"]
    assert "MINIO_ROOT_PASSWORD" not in env


def test_every_catalog_source_and_consumer_has_its_variable(services):
    from baselib.catalog import load_catalog
    from baselib.sharing import consumers as consumers_file

    defined = env_example()
    init = _env(services["airflow-init"])
    for conn_id in {r.pipeline.source.conn_id for r in load_catalog() if r.pipeline.source.kind in ("postgres", "http_api")}:
        name = f"BASELIB_CONN_{conn_id.upper()}"
        assert name in init and name in defined, name
    worker = _env(services["airflow-worker"])
    for consumer in consumers_file.load():
        assert consumer.password_variable in worker and consumer.password_variable in defined, consumer.code


# ---------------------------------------------------------------------------------------------
# the image
def test_dockerfile_extends_the_airflow_image_of_the_lock(services):
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    base = re.search(r"^FROM\s+(\S+)", text, re.M)[1]
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], base)
    pin = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)[1]
    match = re.fullmatch(r"apache/airflow:(3\.3\.\d+)(-python3\.\d+)?", base)
    assert match and match[1] == pin, f"FROM {base} does not match apache-airflow=={pin}"
    assert services["airflow-apiserver"]["build"]["args"]["AIRFLOW_IMAGE"] == base
    assert re.search(r"pip install [^\n]*-r \S*requirements\.txt", text)
    for folder in ("dags", "plugins", "include", "expectations", "docker"):
        assert re.search(rf"^COPY\s.*\b{folder}\s+/opt/airflow/{folder}\s*$", text, re.M), folder
    assert "fonts-noto-cjk" in text and "libpango" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", "reports", ".airflow", ".pgdata", ".git", ".env"} <= set(ignored)


# ---------------------------------------------------------------------------------------------
# no credentials in the repository
def test_env_example_and_compose_agree():
    defined, refs = env_example(), compose_references()
    assert set(refs) <= set(defined), f"not documented in .env.example: {sorted(set(refs) - set(defined))}"
    assert set(defined) <= set(refs), f"defined but not used by docker-compose.yaml: {sorted(set(defined) - set(refs))}"
    for name, value in defined.items():
        if any(word in name for word in SECRET_WORDS) and name not in ("AWS_DEFAULT_REGION",):
            assert value in ("", "change-me"), f".env.example gives {name} a value"


def test_every_required_secret_reaches_the_placeholder_checks(tmp_path):
    """airflow-init and minio-init refuse a value still equal to change-me: each required variable
    must reach one of them whole (not only inside a URL)."""
    defined = env_example()
    required = sorted(name for name, op in compose_references().items() if op == ":?")
    for name in required:
        assert defined[name] == "change-me", f".env.example should give {name} the placeholder change-me"
    env_file = tmp_path / "distinct.env"
    env_file.write_text("\n".join(f"{name}={value}" for name, value in defined.items() if name not in required)
                        + "\n" + "\n".join(f"{name}=value-of-{name.lower()}" for name in required) + "\n")
    done = compose(env_file, "config")
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    checked = set(_env(resolved["airflow-init"]).values()) | set(_env(resolved["minio-init"]).values())
    unseen = [name for name in required if f"value-of-{name.lower()}" not in checked]
    assert not unseen, f"not checked for the placeholder: {unseen}"


def test_compose_without_env_names_the_missing_secret(tmp_path):
    required = sorted(name for name, op in compose_references().items() if op == ":?")
    assert {"AIRFLOW_DB_PASSWORD", "WAREHOUSE_PASSWORD", "MINIO_ROOT_PASSWORD", "AIRFLOW_FERNET_KEY",
            "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "AWS_SECRET_ACCESS_KEY"} <= set(required)
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = compose(empty, "config")
    assert done.returncode != 0
    assert any(f"set {name} in .env" in done.stderr for name in required), done.stderr
    lines = ENV_EXAMPLE.read_text().splitlines()
    for name in required:  # each one alone is enough to stop it, and is named
        env_file = tmp_path / f"without_{name}.env"
        env_file.write_text("\n".join(line for line in lines if not line.startswith(f"{name}=")))
        done = compose(env_file, "config", "--quiet")
        assert done.returncode != 0 and f"set {name} in .env" in done.stderr, (name, done.stderr)


_ASSIGNMENT = re.compile(r"""(?<![\w${])["']?([A-Za-z_][A-Za-z0-9_]*)["']?\s*[:=]\s*(["']?)([^\s"',}]*)""")
_URL_PASSWORD = re.compile(r"://[^/:@\s]*:([^@\s/]+)@")


def literal_secrets(text: str, code: bool = False) -> list[str]:
    """Lines of ``text`` giving a password-like key (PASSWORD/SECRET/TOKEN/KEY) a literal value, or
    a URL a literal password: anything that is not a ``${…}``/``$VAR`` reference, a path, or empty
    (``code``: Python source, where a name or a call is not a literal either)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for key, quote, value in _ASSIGNMENT.findall(line):
            if not any(word in key.upper() for word in SECRET_WORDS) or not value or value[0] in "$/":
                continue
            if re.fullmatch(r"None|True|False|\d+", value) or (
                    code and not quote and re.fullmatch(r"[A-Za-z_][\w.]*(\(.*)?|[{\[(].*", value)):
                continue
            found.append(f"{number}: {line.strip()}")
        for password in _URL_PASSWORD.findall(line):
            if not password.startswith("$"):
                found.append(f"{number}: {line.strip()}")
    return found


def test_the_scanner_finds_literal_secrets():
    assert literal_secrets("  POSTGRES_PASSWORD: airflow")
    assert literal_secrets('    AIRFLOW__CORE__FERNET_KEY: "abc="')
    assert literal_secrets("url: postgresql://airflow:airflow@postgres/airflow")
    assert literal_secrets('"password": "s3cret"')
    assert not literal_secrets("  POSTGRES_PASSWORD: ${AIRFLOW_DB_PASSWORD:?set it}")
    assert not literal_secrets("url: postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD:?x}@postgres/airflow")
    assert not literal_secrets('"password": environ.get("WAREHOUSE_PASSWORD") or None', code=True)
    assert literal_secrets('password = "hunter2"', code=True)
    assert not literal_secrets(': "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY (.env)}"')


def test_no_literal_credentials_in_the_deployment_files():
    files = [COMPOSE_FILE, DOCKERFILE, *sorted(p for p in DOCKER_DIR.rglob("*") if p.is_file())]
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := literal_secrets(p.read_text(), code=p.suffix == ".py"))}
    assert not found


# ---------------------------------------------------------------------------------------------
# the init scripts
def test_init_scripts_are_valid_shell():
    done = subprocess.run(["bash", "-n", str(INIT_SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(["sh", "-n", str(DOCKER_DIR / "minio" / "create-buckets.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mounted = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["minio-init"]["volumes"][0]
    assert (ROOT / mounted.split(":")[0]).resolve() == (DOCKER_DIR / "minio" / "create-buckets.sh").resolve()


# ---------------------------------------------------------------------------------------------
# no secret on a command line (argv is world-readable: `ps`, /proc/<pid>/cmdline)
SECRET_VARIABLE = re.compile(r"PASSWORD|SECRET|TOKEN|^MC_HOST_")
# built into sh/bash: running them starts no process, so their arguments are in no argv
SHELL_BUILTINS = {":", "export", "printf", "echo", "[", "test", "set", "exit", "eval", "trap", "umask", "cd",
                  "unset", "read", "return", "shift", "true", "false", "local"}
_EVAL_ASSIGNMENT = re.compile(r"^\w+=\\?\$\{\$\w+\}$")


def _shfmt() -> str:
    found = shutil.which("shfmt", path=str(Path(sys.executable).parent)) or shutil.which("shfmt")
    if not found:
        pytest.fail("shfmt is not installed (the lock's shfmt-py provides it: make .venv/bin/.installed)")
    return found


def _nodes(node, kind: str):
    if isinstance(node, dict):
        if node.get("Type") == kind or (kind == "Assign" and "Name" in node and "Value" in node):
            yield node
        for key, value in node.items():
            if key not in ("Pos", "End"):
                yield from _nodes(value, kind)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item, kind)


def _param_names(node) -> set[str]:
    return {p["Param"]["Value"] for p in _nodes(node, "ParamExp")}


def _literal(word: dict) -> str:
    return "".join(part.get("Value", "") for part in word.get("Parts", []) if part.get("Type") == "Lit")


def secret_arguments(script: str) -> list[str]:
    """``"line: program $VAR"`` for every secret variable that is expanded in the arguments of a
    command that runs as a process (not a shell built-in), parsed with shfmt (mvdan/sh). A secret
    variable's name says PASSWORD, SECRET or TOKEN (or MC_HOST_…); a variable assigned from one —
    directly or by ``eval`` — is one too."""
    done = subprocess.run([_shfmt(), "--to-json"], input=script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    secret = {name for name in _param_names(tree) if SECRET_VARIABLE.search(name)}
    for assign in _nodes(tree, "Assign"):
        if SECRET_VARIABLE.search(assign["Name"]["Value"]):
            secret.add(assign["Name"]["Value"])
    calls = list(_nodes(tree, "CallExpr"))
    for call in calls:  # eval "value=\${$name}": value may hold any variable's value
        args = call.get("Args") or []
        if args and _literal(args[0]) == "eval":
            text = "".join(_literal(p) if p.get("Type") != "DblQuoted" else
                           "".join(q.get("Value", "$" + q.get("Param", {}).get("Value", "")) for q in p["Parts"])
                           for p in args[1]["Parts"]) if len(args) == 2 else ""
            assert _EVAL_ASSIGNMENT.match(text), f"eval of anything but NAME=\\${{$VAR}}: {text!r}"
            secret.add(text.split("=", 1)[0])
    changed = True
    while changed:  # assignments from secrets are secrets
        changed = False
        for assign in _nodes(tree, "Assign"):
            name = assign["Name"]["Value"]
            if name not in secret and _param_names(assign.get("Value")) & secret:
                secret.add(name)
                changed = True
    found = []
    for call in calls:
        args = call.get("Args") or []
        if not args or _literal(args[0]) in SHELL_BUILTINS:
            continue
        for name in sorted(_param_names(args) & secret):
            found.append(f"{args[0]['Pos']['Line']}: {_literal(args[0])} ${name}")
    return found


def test_the_argv_scanner_finds_secrets_on_command_lines():
    assert secret_arguments('mc alias set local "$URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"\n') == \
        ["1: mc $MINIO_ROOT_PASSWORD"]
    assert secret_arguments('mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null\n')
    assert secret_arguments('pw="x$WAREHOUSE_PASSWORD"\ncopy="$pw"\ncurl -u "u:${copy}" http://h\n')
    assert secret_arguments('for n in A_TOKEN; do\n  eval "value=\\${$n}"\n  grep -q "$value" f\ndone\n')
    assert secret_arguments('airflow users create --password "$(cat /run/$AIRFLOW_ADMIN_PASSWORD)"\n')
    # built-ins, stdin and the environment are not command lines
    assert not secret_arguments('printf "%s\\n" "$AWS_SECRET_ACCESS_KEY" | mc admin user add local "$AWS_ACCESS_KEY_ID"\n'
                                'export MC_HOST_local="http://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@minio:9000"\n'
                                '[ "$MINIO_ROOT_PASSWORD" = change-me ] && exit 1\n'
                                'PGPASSWORD="$WAREHOUSE_PASSWORD" psql -h warehouse\n')


@pytest.mark.parametrize("script", [DOCKER_DIR / "minio" / "create-buckets.sh", INIT_SCRIPT], ids=lambda p: p.name)
def test_init_scripts_put_no_secret_on_a_command_line(script):
    assert secret_arguments(script.read_text()) == []


MC_SHIM = """#!/bin/sh
# records each call: argv, the alias variable, and stdin for `admin user add`
{
  printf 'ARGV'; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\\n'
  printf 'MC_HOST_local=%s\\n' "${MC_HOST_local:-}"
  if [ "$1 $2 $3" = "admin user add" ]; then IFS= read -r secret; printf 'STDIN=%s\\n' "$secret"; fi
} >> "$MC_LOG"
exit 0
"""


def test_minio_init_gives_mc_its_secrets_through_the_environment_and_stdin(tmp_path):
    """docker/minio/create-buckets.sh run by sh with an ``mc`` that records what it receives (and,
    where strace works, every program the script starts): the root credentials reach mc only in
    MC_HOST_local, the application user's secret key only on its stdin."""
    shim = tmp_path / "bin" / "mc"
    shim.parent.mkdir()
    shim.write_text(MC_SHIM)
    shim.chmod(0o755)
    log = tmp_path / "mc.log"
    secrets = {"MINIO_ROOT_PASSWORD": "root-Pw-4f1e9b", "AWS_SECRET_ACCESS_KEY": "app-Secret-77c2d0"}
    env = {"PATH": f"{shim.parent}:/usr/bin:/bin", "MC_LOG": str(log), "MINIO_URL": "http://minio:9000",
           "MINIO_ROOT_USER": "root-admin", "AWS_ACCESS_KEY_ID": "baselib-app", **secrets,
           "BASELIB_STAGING_BUCKET": "st", "BASELIB_LANDING_BUCKET": "la", "BASELIB_RETURNS_BUCKET": "re"}
    script = str(DOCKER_DIR / "minio" / "create-buckets.sh")
    command = ["sh", script]
    trace = tmp_path / "execve.trace"
    strace = shutil.which("strace")
    if strace and subprocess.run([strace, "-f", "-o", os.devnull, "true"], capture_output=True).returncode == 0:
        command = [strace, "-f", "-e", "trace=execve", "-s", "4096", "-o", str(trace), *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = log.read_text()
    argv = [line for line in calls.splitlines() if line.startswith("ARGV")]
    assert argv == ["ARGV [mb] [--ignore-existing] [local/st]", "ARGV [mb] [--ignore-existing] [local/la]",
                    "ARGV [mb] [--ignore-existing] [local/re]", "ARGV [admin] [user] [add] [local] [baselib-app]",
                    "ARGV [admin] [policy] [attach] [local] [readwrite] [--user] [baselib-app]"]
    assert set(re.findall(r"^MC_HOST_local=(.*)$", calls, re.M)) == {"http://root-admin:root-Pw-4f1e9b@minio:9000"}
    assert re.findall(r"^STDIN=(.*)$", calls, re.M) == ["app-Secret-77c2d0"]
    for value in secrets.values():
        assert value not in "\n".join(argv) + done.stdout + done.stderr
    if trace.exists():  # every program the script started, with its whole argv
        execs = [line for line in trace.read_text().splitlines() if "execve(" in line]
        assert any("local/st" in line for line in execs)
        for value in secrets.values():
            assert not [line for line in execs if value in line]

    # a character mc would misread in MC_HOST_local stops it before mc runs
    log.unlink()
    refused = subprocess.run(["sh", script], env={**env, "MINIO_ROOT_PASSWORD": "a:b@c"}, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and "MINIO_ROOT_PASSWORD must not contain" in refused.stderr
    assert "a:b@c" not in refused.stderr and not log.exists()


def test_simple_auth_manager_passwords_file(tmp_path):
    """The admin step's SimpleAuthManager branch (the local tools' auth manager): the admin's entry
    in the passwords file, others kept, mode 0600, and what changed."""
    init = _baselib_init()
    path = tmp_path / "auth" / "passwords.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"viewer": "v"}))
    env = {"AIRFLOW_ADMIN_USER": "ops", "AIRFLOW_ADMIN_PASSWORD": "pw-1"}
    assert init.write_simple_passwords(path, env) == ("ops", "created")
    assert init.write_simple_passwords(path, env) == ("ops", "unchanged")
    assert init.write_simple_passwords(path, {**env, "AIRFLOW_ADMIN_PASSWORD": "pw-2"}) == ("ops", "password updated")
    assert json.loads(path.read_text()) == {"viewer": "v", "ops": "pw-2"}
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(SystemExit, match="AIRFLOW_ADMIN_PASSWORD is not set"):
        init.write_simple_passwords(path, {"AIRFLOW_ADMIN_USER": "ops"})


def test_managed_connections_and_the_ones_to_delete():
    init = _baselib_init()
    env = {"BASELIB_CONN_COURT_API": "https://:t@court.example/", "SMTP_HOST": "mail.example"}
    sources = ["court_api", "dept_human_resources"]
    conns, _ = init.build_connections(env, sources=sources)
    entries = init.import_entries(conns)
    assert entries["court_api"] == {"uri": "https://:t@court.example/", "description": init.MANAGED}
    assert {e["description"] for e in entries.values()} == {init.MANAGED}
    assert init.managed_conn_ids(sources) == ["baselib_alerts", "court_api", "dept_human_resources",
                                              "evaluation_api", "smtp_default", "warehouse"]
    assert init.unset_conn_ids(env, sources) == ["baselib_alerts", "dept_human_resources", "evaluation_api"]


def _baselib_init():
    sys.path.insert(0, str(DOCKER_DIR))
    try:
        import baselib_init
    finally:
        sys.path.remove(str(DOCKER_DIR))
    return baselib_init


def test_connections_from_the_environment():
    init = _baselib_init()
    conns, notes = init.build_connections({
        "WAREHOUSE_PASSWORD": "pw", "BASELIB_CONN_DEPT_HUMAN_RESOURCES": "postgresql://u:p@hr.example:5432/hr",
        "EVALUATION_API_URL": "https://eval.example/api", "EVALUATION_API_TOKEN": "tok",
        "SMTP_HOST": "mail.example", "SMTP_PORT": "465", "SMTP_SSL": "true", "SMTP_STARTTLS": "false",
    }, sources=["dept_human_resources", "court_api"])
    assert conns["warehouse"] == {"conn_type": "postgres", "host": "warehouse", "port": 5432, "login": "baselib",
                                  "password": "pw", "schema": "baselib"}
    assert conns["dept_human_resources"] == "postgresql://u:p@hr.example:5432/hr"
    assert "court_api" not in conns and any("BASELIB_CONN_COURT_API" in n for n in notes)
    assert conns["evaluation_api"] == {"conn_type": "http", "host": "https://eval.example/api", "password": "tok"}
    assert "baselib_alerts" not in conns and any(n.startswith("baselib_alerts") for n in notes)
    smtp = conns["smtp_default"]
    assert smtp["port"] == 465 and json.loads(smtp["extra"]) == {"disable_ssl": False, "disable_tls": True}
    conns, _ = init.build_connections({"SMTP_HOST": "mail.example", "SMTP_FROM": "baselib@example.org"}, sources=[])
    assert conns["smtp_default"]["port"] == 587
    assert json.loads(conns["smtp_default"]["extra"]) == {"disable_ssl": True, "disable_tls": False,
                                                          "from_email": "baselib@example.org"}
    assert init.placeholders({"A_PASSWORD": "change-me", "B": "x", "C_TOKEN": " change-me "}) == ["A_PASSWORD", "C_TOKEN"]
    # named by the .env variable to change, not the container's (R1 #8), URL passwords included
    assert init.placeholders({"AIRFLOW__CORE__FERNET_KEY": "change-me", "AIRFLOW__API_AUTH__JWT_SECRET": "change-me",
                              "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:change-me@postgres/a",
                              "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://airflow:change-me@postgres/a",
                              "OTHER_URL": "http://u:fine@h/"}) == \
        ["AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class _ApiServer:
    """``airflow api-server`` (one worker) on a free loopback port, in its own session; stopped by
    its process group id (only the group this test started)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen(
            ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env={**env, "AIRFLOW__API__WORKERS": "1"}, stdout=log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_healthy(self, attempts: int = 240) -> None:
        for _ in range(attempts):
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise AssertionError("the api-server did not answer: " + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _fab_user(metadata: str, name: str) -> tuple | None:
    """``(password hash, active, [role names], changed_on)`` of FAB's user ``name``."""
    import psycopg2

    conn = psycopg2.connect(metadata)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT u.password, u.active, array_agg(r.name ORDER BY r.name), u.changed_on "
                        "FROM ab_user u LEFT JOIN ab_user_role ur ON ur.user_id = u.id "
                        "LEFT JOIN ab_role r ON r.id = ur.role_id WHERE u.username = %s "
                        "GROUP BY u.password, u.active, u.changed_on", (name,))
            return cur.fetchone()
    finally:
        conn.close()


@pytest.mark.airflow
def test_airflow_init_creates_the_login_and_the_connections_idempotently(pg_server, services, tmp_path):
    """docker/airflow-init.sh itself, with the compose file's auth manager (FabAuthManager), against
    a fresh metadata database and a fresh warehouse database on this machine's PostgreSQL: run
    twice, the second run changes nothing; a third run with a new AIRFLOW_ADMIN_PASSWORD and a
    source taken out of .env changes the login and deletes that connection only. Then Airflow's
    api-server gives a token for the admin's current password (and the token reads the REST API),
    and 401 for the previous password and a wrong one."""
    from baselib.warehouse import provision

    server = urlsplit(pg_server)
    tag = os.getpid()
    metadata_db, warehouse_db = f"baselib_test_compose_meta_{tag}", f"baselib_test_compose_wh_{tag}"
    for name in (metadata_db, warehouse_db):
        provision.drop_database(pg_server, name)
    metadata = provision.ensure_database(pg_server, metadata_db)
    provision.ensure_database(pg_server, warehouse_db)
    home = tmp_path / "airflow_home"
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path), "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://" + metadata.split("://", 1)[1],
        "AIRFLOW__CORE__AUTH_MANAGER": _env(services["airflow-apiserver"])["AIRFLOW__CORE__AUTH_MANAGER"],
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no_dags"),
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__API_AUTH__JWT_SECRET": "a-test-jwt-secret-of-32-characters!",
        "AIRFLOW__API__SECRET_KEY": "a-test-api-secret",
        "PYTHONPATH": str(ROOT / "plugins"),
        "AIRFLOW_ADMIN_USER": "ops", "AIRFLOW_ADMIN_PASSWORD": "a-test-password",
        "WAREHOUSE_HOST": server.hostname, "WAREHOUSE_PORT": str(server.port or 5432),
        "WAREHOUSE_USER": server.username or "postgres", "WAREHOUSE_PASSWORD": server.password or "",
        "WAREHOUSE_DB": warehouse_db, "WAREHOUSE_CHECK_ATTEMPTS": "3",
        "BASELIB_CONN_DEPT_MARKET_REGULATION": "postgresql://reader:r%40d@mr.example:6543/market",
        "BASELIB_CONN_COURT_API": "https://:court-token@court.example:8443/",
        "BASELIB_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hooks/baselib",
    }
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER

    def run_init(environ: dict) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", str(INIT_SCRIPT)], env=environ, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for secret in ("a-test-password", "a-new-password", "court-token", "r%40d", "r@d"):
            assert secret not in done.stdout + done.stderr, secret
        return done

    def airflow(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def connections() -> dict:
        out = tmp_path / "export.json"
        airflow("connections", "export", str(out), "--file-format", "json")
        return json.loads(out.read_text())

    api = None
    try:
        # a placeholder left in place stops it before anything is written
        refused = subprocess.run(["bash", str(INIT_SCRIPT)], env={**env, "AIRFLOW_ADMIN_PASSWORD": "change-me"},
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode != 0 and "AIRFLOW_ADMIN_PASSWORD" in refused.stderr

        first = run_init(env)
        assert "admin: ops created" in first.stdout
        conns = connections()
        assert conns["warehouse"]["conn_type"] == "postgres"
        assert (conns["warehouse"]["host"], conns["warehouse"]["port"]) == (server.hostname, server.port or 5432)
        assert conns["warehouse"]["schema"] == warehouse_db
        market = conns["dept_market_regulation"]
        assert (market["conn_type"], market["host"], market["port"], market["login"], market["password"],
                market["schema"]) == ("postgres", "mr.example", 6543, "reader", "r@d", "market")
        assert (conns["court_api"]["host"], conns["court_api"]["port"], conns["court_api"]["password"]) == \
            ("court.example", 8443, "court-token")
        assert conns["baselib_alerts"]["host"] == "http://127.0.0.1:9/hooks/baselib"
        assert {c["description"] for c in conns.values()} == {"managed by airflow-init from .env"}
        # not configured: skipped, and said so
        assert "dept_public_security" not in conns and "smtp_default" not in conns
        assert "BASELIB_CONN_DEPT_PUBLIC_SECURITY is not set" in first.stdout
        # FAB's tables come with `airflow db migrate`; the admin is in them, hashed, role Admin
        user = _fab_user(metadata, "ops")
        assert user is not None and user[1] is True and user[2] == ["Admin"]
        assert "a-test-password" not in user[0]

        # connections airflow-init does not manage, or that an operator made in the UI, are not its own
        airflow("connections", "add", "team_notes", "--conn-uri", "http://notes.example")
        airflow("connections", "add", "e_licence_api", "--conn-uri", "https://licence.example")

        second = run_init(env)
        assert "admin: ops unchanged" in second.stdout
        after = connections()
        assert {k: v for k, v in after.items() if k not in ("team_notes", "e_licence_api")} == conns
        assert _fab_user(metadata, "ops") == user  # same hash (a new one would be salted differently)

        # the password changed in .env; the court's access revoked; the webhook switched off
        changed = {**env, "AIRFLOW_ADMIN_PASSWORD": "a-new-password", "BASELIB_CONN_COURT_API": "",
                   "BASELIB_ALERT_WEBHOOK_URL": ""}
        third = run_init(changed)
        assert "admin: ops password updated" in third.stdout
        assert "prune: deleted baselib_alerts court_api" in third.stdout
        assert "prune: kept e_licence_api" in third.stdout
        left = connections()
        assert set(left) == set(conns) - {"court_api", "baselib_alerts"} | {"team_notes", "e_licence_api"}
        assert left["dept_market_regulation"] == conns["dept_market_regulation"]
        assert _fab_user(metadata, "ops")[0] != user[0]

        # the login, as Airflow's api-server sees it (FAB's POST /auth/token)
        api = _ApiServer(env, tmp_path / "api-server.log")
        api.wait_healthy()
        assert _get(f"{api.url}/api/v2/dags") == 401
        status, body = _post_json(f"{api.url}/auth/token", {"username": "ops", "password": "a-new-password"})
        assert status == 201 and body.get("access_token"), (status, body)
        assert _get(f"{api.url}/api/v2/dags", body["access_token"]) == 200
        for wrong in ("a-test-password", "not-the-password"):
            status, _ = _post_json(f"{api.url}/auth/token", {"username": "ops", "password": wrong})
            assert status in (401, 403), (wrong, status)
        assert "a-new-password" not in api.log.read_text()
    finally:
        if api is not None:
            api.stop()
        for name in (metadata_db, warehouse_db):
            provision.drop_database(pg_server, name)


COMPOSE_PARSE_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids)}))
"""


@pytest.mark.airflow
def test_the_dags_load_in_the_compose_environment(services, tmp_path):
    """The project's DAG files parse with the settings the compose file gives the dag-processor
    (object-store URLs, alerts, retention, PostGIS …; paths mapped to this checkout): every catalog
    entry has its DAG and the platform DAGs are there."""
    from baselib.catalog import load_catalog

    compose_env = _env(services["airflow-dag-processor"])
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "False"}
    env.update({k: v for k, v in compose_env.items()
                if k.startswith(("BASELIB_", "AWS_")) or k == "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"})
    env.update({"PYTHONPATH": str(ROOT / "plugins"), "BASELIB_PROJECT_ROOT": str(ROOT),
                "BASELIB_REPORTS_DIR": str(tmp_path / "reports")})
    done = subprocess.run([sys.executable, "-c", COMPOSE_PARSE_PROBE, str(ROOT / "dags")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    expected = {r.dag_id for r in load_catalog()} | {"sharing_reconcile", "quality_returns", "evaluation_publish",
                                                     "staging_housekeeping"}
    assert expected <= set(parsed["dags"]), sorted(expected - set(parsed["dags"]))
