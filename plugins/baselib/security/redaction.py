"""Credentials out of every error message that is stored (``ops.load_run.error``, the file
manifest) or logged (the exception a step raises to Airflow, which logs its traceback).

:func:`redact` replaces with ``***``:

1. the password of a URI's userinfo, ``scheme://user:PASSWORD@host`` — also when the URI does
   not parse (an invalid percent escape, a space), since those are the messages that quote it;
2. the value of a ``password``/``token``/``secret`` key, as libpq (``password=x``,
   ``password='a b'``), query strings (``?password=x``), HTTP (``Bearer x``) and JSON
   (``"password": "x"``) write it;
3. every secret the process knows from its environment, wherever it appears: the password (and
   an ``extra`` token or password) of each ``AIRFLOW_CONN_*`` connection, of ``WAREHOUSE_URL`` and of
   each ``BASELIB_*_URL`` (an object-storage URL may carry ``KEY:SECRET@``),
   in URI or Airflow's JSON form; ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``; any
   variable named ``*_PASSWORD``, ``*_TOKEN``, ``*_SECRET`` or ``*_SECRET_KEY``. Each is replaced
   as written, percent-decoded and percent-encoded. Secrets shorter than
   :data:`MIN_SECRET_LENGTH` are only caught by the patterns of 1 and 2 (replacing every "ab" in a
   message would make it unreadable without protecting anything).

:func:`scrub` applies it to an exception and detaches the exceptions it was raised from.
"""
from __future__ import annotations

import json
import os
import re
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 4

_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<secret>[^\s'\"]*)(?=@)")
_KEY = r"(?:password|passwd|pwd|token|access_token|secret|secret_key|secret_access_key|api_key|apikey)"
_KEY_VALUE = re.compile(
    rf"""(?P<head>\b{_KEY}\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"]+)""", re.IGNORECASE)
_JSON_VALUE = re.compile(rf"""(?P<head>["']{_KEY}["']\s*:\s*)(?P<secret>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""",
                         re.IGNORECASE)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)(?P<secret>[^\s'\",;]+)", re.IGNORECASE)
_BASELIB_URL = re.compile(r"BASELIB_\w+_URL")  # BASELIB_LANDING_URL, BASELIB_STAGING_URL: s3://KEY:SECRET@…
_SECRET_NAMES = re.compile(r"_(?:PASSWORD|TOKEN|SECRET|SECRET_KEY|SECRET_ACCESS_KEY)$")


def _connection_secrets(raw: str) -> set[str]:
    """Passwords and tokens in one connection value (URI or Airflow's JSON form)."""
    raw = raw.strip()
    found: set[str] = set()
    if raw.startswith("{"):
        try:
            conn = json.loads(raw)
        except ValueError:
            conn = None
        if isinstance(conn, dict):
            extra = conn.get("extra") or {}
            if isinstance(extra, str):
                try:
                    extra = json.loads(extra) if extra else {}
                except ValueError:
                    extra = {}
            candidates = [conn.get("password")]
            if isinstance(extra, dict):
                candidates += [v for k, v in extra.items() if re.fullmatch(_KEY, str(k), re.IGNORECASE)]
            found.update(str(c) for c in candidates if c)
        found.update(m.group("secret").strip("\"'") for m in _JSON_VALUE.finditer(raw))
        return found
    found.update(m.group("secret") for m in _URI_PASSWORD.finditer(raw))
    try:
        password = urlsplit(raw).password
    except ValueError:
        password = None
    if password:
        found.add(password)
    found.update(m.group("secret").strip("\"'") for m in _KEY_VALUE.finditer(raw))
    return found


def known_secrets(environ=None) -> set[str]:
    """Every secret this process can read from ``environ`` (default ``os.environ``), in the forms it
    may be written: as given, percent-decoded and percent-encoded."""
    environ = os.environ if environ is None else environ
    raw: set[str] = set()
    for name, value in environ.items():
        if not value:
            continue
        if name.startswith("AIRFLOW_CONN_") or name == "WAREHOUSE_URL" or _BASELIB_URL.fullmatch(name):
            raw |= _connection_secrets(value)
        elif name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") or _SECRET_NAMES.search(name):
            raw.add(value)
    forms = set()
    for secret in raw:
        forms |= {secret, unquote(secret), quote(secret, safe=""), quote(unquote(secret), safe="")}
        forms.add(json.dumps(secret)[1:-1])   # as repr()/JSON escape it
    return {s for s in forms if len(s) >= MIN_SECRET_LENGTH}


def redact(text: str, environ=None) -> str:
    """``text`` with every credential replaced by ``***`` (see the module's docstring)."""
    if not text:
        return text
    for secret in sorted(known_secrets(environ), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in (_URI_PASSWORD, _KEY_VALUE, _JSON_VALUE, _BEARER):
        text = pattern.sub(lambda m: m.group("head") + MASK, text)
    return text


def describe(exc: BaseException) -> str:
    """``"<class>: <redacted message>"``: what a run records about an error."""
    return f"{type(exc).__name__}: {redact(str(exc))}"


def scrub(exc: BaseException) -> BaseException:
    """``exc``, safe to raise to a caller that logs it with its traceback.

    Its message is redacted in place (its class stays, so callers still tell errors apart),
    and it no longer chains the exceptions it was raised from (``__cause__``/``__context__``),
    whose messages may hold what this one's message leaves out. An exception whose text does
    not come from its ``args`` and still shows a secret is replaced by a :class:`BaselibError`
    naming its class."""
    from baselib.errors import BaselibError

    message = str(exc)
    clean = redact(message)
    if clean != message:
        exc.args = (clean,)
    exc.__cause__ = None
    exc.__context__ = None
    exc.__suppress_context__ = True
    if redact(str(exc)) != str(exc):
        return BaselibError(f"{type(exc).__name__}: {clean}")
    return exc
