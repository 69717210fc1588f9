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


# ---------------------------------------------------------------------------------------------
# personal data out of texts that leave the platform (alert payloads and e-mails)

PERSONAL_MASK = "[redacted]"
# PostgreSQL's extra lines quote the offending row ("DETAIL:  Key (id_number)=(…) already exists",
# "Failing row contains (…)"), the statement ("LINE 1: INSERT … VALUES ('…')", with its caret line)
# and PL/pgSQL's context ("CONTEXT:  COPY person, line 3, column id: \"…\"").
_PG_EXTRA_LINE = re.compile(r"^\s*(?:DETAIL|HINT|CONTEXT|QUERY|LINE \d+|STATEMENT|WHERE)\s*:.*$|^\s*\^\s*$",
                            re.MULTILINE)
_QUOTED = re.compile(r"(?P<kw>\b(?:constraint|relation|column|table|type|schema|index|function|sequence|"
                     r"database|role|extension|operator|trigger|view|server at|server on socket)\s+)?(?P<lit>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')",
                     re.IGNORECASE)
_PAREN_VALUE = re.compile(r"(?P<head>\)=\()[^)]*(?=\))")           # Key (col)=(value)
# 18-character resident ID (17 digits + digit or X), 15-digit first-generation ID, the 18-character
# unified social credit code (GB 32100), mainland mobile numbers, and any longer digit run.
_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])")
_CREDIT_CODE = re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{10}(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")


def _mask_literal(match: re.Match) -> str:
    """A quoted literal masked, unless PostgreSQL's wording says it quotes an object's name
    (``constraint "person_pkey"``, ``relation "ods.person"``, ``column "age"``) or a server
    (``connection to server at "127.0.0.1"``)."""
    literal = match.group("lit")
    if match.group("kw") and literal[0] == '"':
        return match.group(0)
    return (match.group("kw") or "") + literal[0] + PERSONAL_MASK + literal[0]


def depersonalise(text: str | None) -> str | None:
    """``text`` without personal data, for a message that leaves the platform (an alert's webhook
    payload or e-mail), on top of :func:`redact`: PostgreSQL's ``DETAIL:``/``HINT:``/``CONTEXT:``/
    ``QUERY:``/``LINE n:``/``STATEMENT:`` lines (and the caret line) are dropped, every quoted
    literal (``"…"``, ``'…'``; not a double-quoted name after ``constraint``, ``relation``,
    ``column``, ``table``, ``type`` …) and ``Key (col)=(value)`` value becomes ``[redacted]``, and so do
    18-/15-character resident ID numbers, unified social credit codes and phone numbers anywhere.
    Identifiers PostgreSQL does not quote (table and column names, constraint names) stay, so the
    message still says what failed. None and ``""`` are returned as given."""
    if not text:
        return text
    text = redact(text)
    text = _PG_EXTRA_LINE.sub("", text)
    text = _PAREN_VALUE.sub(lambda m: m.group("head") + PERSONAL_MASK, text)
    text = _QUOTED.sub(_mask_literal, text)
    for pattern in (_CITIZEN_ID, _CREDIT_CODE, _PHONE):
        text = pattern.sub(PERSONAL_MASK, text)
    return re.sub(r"\n{2,}", "\n", text).strip()


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (no userinfo, path, query or fragment): how a log names
    an endpoint whose path or query may hold a token. ``"<unparsable URL>"`` when it does not parse."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or not host:
        return "<unparsable URL>"
    return f"{parts.scheme}://{host}{port}"
