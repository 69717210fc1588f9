"""The e-licence system (电子证照系统), simulated: certificate records and a real HTTP JSON API.

:func:`generate` builds GB/T 36903 core-metadata records with GB/T 36904 identifiers whose
MOD 37,36 check characters are right, holders drawn from the population and legal-entity base
libraries (plus a known share of holders found in neither), and known row defects. The returned
:class:`CertificateManifest` says which record got which defect and how many holders match, so
tests can check quarantine and cross-library match rates against known figures.

:class:`CertificateApiServer` serves the records on loopback the way a department's API does:
``GET /api/v1/certificates`` with a bearer token, an ``updated_since`` / ``updated_until``
filter and an opaque cursor. It can be told to misbehave (:class:`Faults`): 429 with
Retry-After, a 503 burst, a response slower than the client's timeout, a truncated JSON page,
a page repeated across the cursor, empty pages that still carry a next cursor (once, or endlessly).

Everything is derived from the seed: the same arguments give the same records.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import json
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from baselib.identifiers import certificate_id, citizen_id, credit_code, divisions
from baselib_simulators.population import GIVEN, SURNAMES

ENDPOINT = "/api/v1/certificates"
UTC = dt.timezone.utc

FIELDS = (
    "cert_identifier", "cert_name", "cert_type_name", "cert_type_code", "cert_number",
    "holder_name", "holder_code", "holder_code_type", "issuer_name", "issuer_code",
    "issue_date", "valid_from", "valid_to", "long_term", "jurisdiction_code", "status", "updated_at",
)
CITIZEN_ID = "111"    # 持证主体代码类型: 公民身份号码
CREDIT_CODE = "001"   # 持证主体代码类型: 统一社会信用代码
PERSON, ORGANISATION = "person", "organisation"
STATUSES = ("有效", "注销", "过期")

DEFECTS = (
    "bad_identifier_check",
    "bad_holder_code",
    "bad_issuer_code",
    "valid_to_before_valid_from",
    "bad_type_code",
)
DEFAULT_DEFECT_RATES = {kind: 0.003 for kind in DEFECTS}

EXPIRY_WINDOW_DAYS = 10      # "expiring around as_of": valid_to within this many days of it
EXPIRING_SHARE = 0.02        # share of time-limited certificates that expire around as_of
LONG_EXPIRED_SHARE = 0.04    # share of time-limited certificates that expired long ago
CANCELLED_SHARE = 0.02       # 注销


def make_credit_code(authority: str, category: str, division: str, org_body8: str) -> str:
    """A valid unified social credit code: GB 11714 organisation code inside, right check characters."""
    org = org_body8 + credit_code.org_check_character(org_body8)
    body = authority + category + division + org
    return body + credit_code.check_character(body)


# Defining authorities (证照类型定义机构). Their codes are built deterministically and are valid
# credit codes (authority 1 编制, category 1 机关, division 100000); they are not real ministries' codes.
_AUTHORITIES = {
    "国家市场监督管理总局": make_credit_code("1", "1", "100000", "00001301"),
    "交通运输部": make_credit_code("1", "1", "100000", "00001302"),
    "住房和城乡建设部": make_credit_code("1", "1", "100000", "00001303"),
    "国家卫生健康委员会": make_credit_code("1", "1", "100000", "00001304"),
    "教育部": make_credit_code("1", "1", "100000", "00001305"),
    "公安部": make_credit_code("1", "1", "100000", "00001306"),
}


@dataclass(frozen=True)
class CertType:
    name: str
    authority: str
    suffix: str               # 3 digits after the authority's code
    holder: str               # PERSON / ORGANISATION
    issuer_department: str    # the county-level department that issues it
    dept_no: str              # 2 digits, used to build issuers' organisation codes
    validity_years: int | None  # None: always long-term
    long_term_share: float    # share issued as long-term when validity_years is set
    weight: float

    @property
    def type_code(self) -> str:
        return _AUTHORITIES[self.authority] + self.suffix


CERT_TYPES = (
    CertType("营业执照", "国家市场监督管理总局", "001", ORGANISATION, "市场监督管理局", "11", 20, 0.6, 0.22),
    CertType("食品经营许可证", "国家市场监督管理总局", "015", ORGANISATION, "市场监督管理局", "11", 5, 0.0, 0.14),
    CertType("道路运输经营许可证", "交通运输部", "003", ORGANISATION, "交通运输局", "12", 4, 0.0, 0.08),
    CertType("建筑工程施工许可证", "住房和城乡建设部", "007", ORGANISATION, "住房和城乡建设局", "13", None, 1.0, 0.06),
    CertType("医师执业证书", "国家卫生健康委员会", "002", PERSON, "卫生健康委员会", "14", None, 1.0, 0.08),
    CertType("教师资格证书", "教育部", "004", PERSON, "教育局", "15", None, 1.0, 0.12),
    CertType("机动车驾驶证", "公安部", "009", PERSON, "公安局交通警察大队", "16", 6, 0.15, 0.30),
)

COMPANY_WORDS = ["华泰", "恒信", "远航", "金桥", "博达", "鑫源", "宏图", "瑞丰", "新运", "嘉和", "盛世", "联创",
                 "安捷", "顺通", "立信", "东方", "万象", "天成", "和润", "宇辰"]
COMPANY_TRADES = ["食品", "商贸", "物流", "建筑工程", "运输", "餐饮", "科技", "实业", "建设", "农业开发"]
COMPANY_FORMS = ["有限公司", "有限责任公司", "股份有限公司", "商行", "专业合作社"]


@dataclass
class CertificateManifest:
    """What :func:`generate` put in, for tests and the demo summary.

    ``holders[kind]`` counts every record by holder: ``matched`` (code in the list given),
    ``unmatched`` (a valid code found in neither list, on purpose) and ``invalid`` (the
    ``bad_holder_code`` defect). ``clean_holders`` counts the same over records without any
    injected defect: those are the ones that pass the row checks and reach the base table, so
    the cross-library match rates there are ``matched / (matched + unmatched)`` of it.
    """

    as_of: dt.datetime
    holders: dict[str, dict[str, int]]
    clean_holders: dict[str, dict[str, int]]
    defects: list[tuple[str, str]] = field(default_factory=list)    # (cert_identifier, defect)
    unmatched_holder_codes: dict[str, list[str]] = field(default_factory=dict)
    expiring: list[str] = field(default_factory=list)  # identifiers with valid_to within EXPIRY_WINDOW_DAYS of as_of

    @property
    def defect_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, kind in self.defects:
            out[kind] = out.get(kind, 0) + 1
        return out

    def match_rate(self, kind: str, clean: bool = True) -> float | None:
        counts = (self.clean_holders if clean else self.holders)[kind]
        total = counts["matched"] + counts["unmatched"]
        return counts["matched"] / total if total else None

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "holders": self.holders,
            "clean_holders": self.clean_holders,
            "defects": [list(d) for d in self.defects],
            "defect_counts": self.defect_counts,
            "unmatched_holder_codes": self.unmatched_holder_codes,
            "expiring": self.expiring,
        }


def _iso_z(ts: dt.datetime) -> str:
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _wrong_from(alphabet: str, right: str, rng: random.Random) -> str:
    return rng.choice([ch for ch in alphabet if ch != right])


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class _Pools:
    def __init__(self, rng: random.Random):
        reg = divisions.load()
        self.reg = reg
        self.counties = [d.code for d in reg.counties(in_use_only=True)]
        self._issuers: dict[tuple[str, str], tuple[str, str]] = {}

    def issuer(self, cert_type: CertType, county: str) -> tuple[str, str]:
        """(name, credit code) of the county department issuing ``cert_type``."""
        key = (cert_type.issuer_department, county)
        if key not in self._issuers:
            prefecture = self.reg.name(county[:4] + "00") or self.reg.name(county[:2] + "0000") or ""
            name = f"{prefecture}{self.reg.name(county) or ''}{cert_type.issuer_department}"
            code = make_credit_code("1", "1", county, cert_type.dept_no + county)
            self._issuers[key] = (name, code)
        return self._issuers[key]


def _fresh_citizen_id(rng: random.Random, counties: list[str], as_of: dt.date, *avoid: set[str]) -> str:
    """A valid citizen ID of an adult (born 1950 to 18 years before ``as_of``) in none of ``avoid``."""
    first = dt.date(1950, 1, 1)
    span = (_add_years(as_of, -18) - first).days
    while True:
        birth = first + dt.timedelta(days=rng.randrange(span))
        body = rng.choice(counties) + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
        number = body + citizen_id.check_character(body)
        if not any(number in taken for taken in avoid):
            return number


def _fresh_credit_code(rng: random.Random, counties: list[str], *avoid: set[str]) -> str:
    while True:
        authority, category = rng.choice([("9", "1"), ("9", "1"), ("9", "1"), ("9", "2"), ("9", "3"), ("5", "1")])
        org_body = "".join(rng.choice("0123456789") for _ in range(8))
        code = make_credit_code(authority, category, rng.choice(counties), org_body)
        if not any(code in taken for taken in avoid):
            return code


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")


def _company_name(rng: random.Random, reg, county: str) -> str:
    place = reg.name(county[:4] + "00") or reg.name(county[:2] + "0000") or ""
    words = rng.choice(COMPANY_WORDS) + rng.choice(COMPANY_TRADES) + rng.choice(COMPANY_FORMS)
    return f"{place.removesuffix('市')}{words}"


def _identifier(type_code: str, issuer_code: str, serial: str, version: str) -> str:
    check = certificate_id.check_character(type_code + issuer_code + serial + version)
    return f"{certificate_id.PREFIX}{type_code}.{issuer_code}.{serial}.{version}.{check}"


def _cert_number(cert_type: CertType, county: str, issue: dt.date, seq: int, holder_code: str) -> str:
    if cert_type.name == "营业执照":
        return holder_code                                  # the licence number is the credit code
    if cert_type.name == "机动车驾驶证":
        return holder_code                                  # 驾驶证号 is the citizen ID number
    if cert_type.name == "食品经营许可证":
        return f"JY2{county}{seq % 10**7:07d}"
    if cert_type.name == "道路运输经营许可证":
        return f"{county}{seq % 10**6:06d}"
    if cert_type.name == "建筑工程施工许可证":
        return f"{county}{issue:%Y%m}{seq % 10**4:04d}0101"
    if cert_type.name == "医师执业证书":
        return f"1{county[:2]}{county}{seq % 10**6:06d}"
    return f"{issue:%Y}{county[:2]}{seq % 10**11:011d}"     # 教师资格证书


def generate(n: int, seed: int, as_of: dt.datetime | dt.date, citizen_ids: Sequence[str],
             credit_codes: Sequence[str], unmatched_rate: float = 0.05,
             defect_rates: dict[str, float] | None = None) -> tuple[list[dict], CertificateManifest]:
    """``n`` certificate records (JSON-able dicts with the keys in :data:`FIELDS`) and their manifest.

    Person holders come from ``citizen_ids`` and organisation holders from ``credit_codes``,
    except ``round(unmatched_rate × records of that kind)`` holders per kind, which get fresh
    valid codes found in neither list (all of them when the list is empty). Each record gets
    at most one defect of :data:`DEFECTS`, at ``defect_rates`` (default 0.3 % each).
    """
    if isinstance(as_of, dt.datetime):
        as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    else:
        as_of = dt.datetime.combine(as_of, dt.time(), UTC)
    as_of_day = as_of.astimezone(UTC).date()
    rates = dict(DEFAULT_DEFECT_RATES if defect_rates is None else defect_rates)
    unknown = set(rates) - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects {sorted(unknown)}; known: {list(DEFECTS)}")
    rng = random.Random(f"certificates/{seed}")
    pools = _Pools(rng)
    counties = pools.counties
    citizen_list, credit_list = list(citizen_ids), list(credit_codes)
    citizen_set, credit_set = set(citizen_list), set(credit_list)

    types = rng.choices(CERT_TYPES, weights=[t.weight for t in CERT_TYPES], k=n)
    # Exactly round(rate × count) unmatched holders per kind, at seeded positions.
    unmatched_at: set[int] = set()
    for kind, pool in ((PERSON, citizen_list), (ORGANISATION, credit_list)):
        positions = [i for i, t in enumerate(types) if t.holder == kind]
        count = len(positions) if not pool else round(unmatched_rate * len(positions))
        unmatched_at.update(rng.sample(positions, count))
    edges, edge = [], 0.0
    for kind in DEFECTS:
        edge += rates.get(kind, 0.0)
        edges.append((edge, kind))

    records: list[dict] = []
    defects: list[tuple[str, str]] = []
    expiring: list[str] = []
    zero = {"matched": 0, "unmatched": 0, "invalid": 0}
    holders = {PERSON: dict(zero), ORGANISATION: dict(zero)}
    clean = {PERSON: dict(zero), ORGANISATION: dict(zero)}
    unmatched_codes: dict[str, list[str]] = {PERSON: [], ORGANISATION: []}
    fresh_taken: set[str] = set()

    for i, cert_type in enumerate(types):
        county = rng.choice(counties)
        issuer_name, issuer_code = pools.issuer(cert_type, county)
        kind = cert_type.holder
        if i in unmatched_at:
            if kind == PERSON:
                holder_code = _fresh_citizen_id(rng, counties, as_of_day, citizen_set, fresh_taken)
            else:
                holder_code = _fresh_credit_code(rng, counties, credit_set, fresh_taken)
            fresh_taken.add(holder_code)
            match = "unmatched"
        else:
            holder_code = rng.choice(citizen_list if kind == PERSON else credit_list)
            match = "matched"
        holder_type = CITIZEN_ID if kind == PERSON else CREDIT_CODE
        holder_name = _person_name(rng) if kind == PERSON else _company_name(rng, pools.reg, holder_code[2:8])

        # Validity: long-term, time-limited (some expiring around as_of, some long expired).
        long_term = cert_type.validity_years is None or rng.random() < cert_type.long_term_share
        roll = rng.random()
        if long_term:
            valid_from = as_of_day - dt.timedelta(days=rng.randrange(30, 365 * 15))
            valid_to = None
        else:
            years = cert_type.validity_years
            if roll < EXPIRING_SHARE:
                valid_to = as_of_day + dt.timedelta(days=rng.randint(-EXPIRY_WINDOW_DAYS, EXPIRY_WINDOW_DAYS))
            elif roll < EXPIRING_SHARE + LONG_EXPIRED_SHARE:
                valid_to = as_of_day - dt.timedelta(days=rng.randrange(EXPIRY_WINDOW_DAYS + 1, 365 * 3))
            else:
                valid_to = as_of_day + dt.timedelta(days=rng.randrange(EXPIRY_WINDOW_DAYS + 1, 365 * years))
            valid_from = _add_years(valid_to, -years) + dt.timedelta(days=1)
        issue_date = valid_from - dt.timedelta(days=rng.randrange(0, 8))
        oldest = dt.datetime.combine(issue_date, dt.time(9), UTC)
        newest = as_of
        if valid_to is not None and valid_to < as_of_day:
            if rng.random() < 0.5:   # the provider marked it expired after the fact
                oldest = dt.datetime.combine(valid_to + dt.timedelta(days=1), dt.time(), UTC)
            else:                    # last touched while still valid: its status is stale
                newest = dt.datetime.combine(valid_to, dt.time(), UTC)
        span = max(1, int((newest - oldest).total_seconds()))
        updated = oldest + dt.timedelta(seconds=rng.randrange(span))
        updated = min(updated, as_of - dt.timedelta(seconds=1))
        # Status as the provider knew it at updated_at: a certificate expiring after that still says 有效.
        if rng.random() < CANCELLED_SHARE:
            status = "注销"
        elif valid_to is not None and valid_to < updated.date():
            status = "过期"
        else:
            status = "有效"

        serial = f"{issue_date:%Y}{seed % 100:02d}{i:07d}"
        version = "001" if rng.random() < 0.9 else "002"
        type_code = cert_type.type_code
        cert_number = _cert_number(cert_type, county, issue_date, i, holder_code)

        draw = rng.random()
        defect = next((k for e, k in edges if draw < e), None)
        if defect == "bad_holder_code":
            if holder_type == CITIZEN_ID:
                holder_code = holder_code[:17] + _wrong_from(citizen_id.CHECK_CHARS, holder_code[17], rng)
            else:
                holder_code = holder_code[:17] + _wrong_from(credit_code.ALPHABET, holder_code[17], rng)
            match = "invalid"
        elif defect == "bad_issuer_code":
            issuer_code = issuer_code[:17] + _wrong_from(credit_code.ALPHABET, issuer_code[17], rng)
        elif defect == "bad_type_code":
            type_code = type_code[:17] + _wrong_from(credit_code.ALPHABET, type_code[17], rng) + type_code[18:]
        elif defect == "valid_to_before_valid_from":
            long_term = False
            valid_to = valid_from - dt.timedelta(days=rng.randint(1, 400))
        identifier = _identifier(type_code, issuer_code, serial, version)
        if defect == "bad_identifier_check":
            identifier = identifier[:-1] + _wrong_from(certificate_id.ALPHABET, identifier[-1], rng)

        record = {
            "cert_identifier": identifier,
            "cert_name": cert_type.name,
            "cert_type_name": cert_type.name,
            "cert_type_code": type_code,
            "cert_number": cert_number,
            "holder_name": holder_name,
            "holder_code": holder_code,
            "holder_code_type": holder_type,
            "issuer_name": issuer_name,
            "issuer_code": issuer_code,
            "issue_date": issue_date.isoformat(),
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat() if valid_to is not None else None,
            "long_term": long_term,
            "jurisdiction_code": county,
            "status": status,
            "updated_at": _iso_z(updated),
        }
        records.append(record)
        holders[kind][match] += 1
        if defect:
            defects.append((identifier, defect))
        else:
            clean[kind][match] += 1
        if match == "unmatched":
            unmatched_codes[kind].append(holder_code)
        if valid_to is not None and abs((valid_to - as_of_day).days) <= EXPIRY_WINDOW_DAYS and defect is None:
            expiring.append(identifier)

    manifest = CertificateManifest(as_of=as_of, holders=holders, clean_holders=clean, defects=defects,
                                   unmatched_holder_codes=unmatched_codes, expiring=expiring)
    return records, manifest


# --------------------------------------------------------------------------------------------
# The HTTP API
# --------------------------------------------------------------------------------------------

def parse_timestamp(text: str) -> dt.datetime:
    """An ISO 8601 timestamp; naive values are taken as UTC.

    A ``+`` sent unencoded in a query string arrives as a space: ``…T00:00:00 08:00`` is read as ``+08:00``.
    """
    text = text.strip()
    value = dt.datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def encode_cursor(updated_at: str, identifier: str, page: int) -> str:
    raw = json.dumps([updated_at, identifier, page], ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, int]:
    padded = cursor + "=" * (-len(cursor) % 4)
    updated_at, identifier, page = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not (isinstance(updated_at, str) and isinstance(identifier, str) and isinstance(page, int)):
        raise ValueError("bad cursor")
    return updated_at, identifier, page


@dataclass
class _Fault:
    kind: str
    remaining: int
    seconds: float = 0.0
    page: int | None = None
    endless: bool = False   # hits every page from ``page`` on and is never used up

    def applies_to(self, page: int) -> bool:
        if self.page is None:
            return True
        return page >= self.page if self.endless else page == self.page


class Faults:
    """Misbehaviour to inject, consumed request by request. Thread-safe; settable at runtime.

    ``rate_limit``, ``unavailable`` and ``slow`` hit the next ``times`` requests (whatever page);
    ``truncate``, ``end_early`` and ``repeat_page`` hit the page with that number (1 is the first page).
    ``empty_pages`` also hits one page; ``endless_empty_pages`` hits every page from that
    number on, for ever.
    ``served`` counts the faults actually served, by kind.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: list[_Fault] = []
        self.served: dict[str, int] = {}

    def rate_limit(self, times: int = 1, retry_after_seconds: float = 1) -> Faults:
        return self._add(_Fault("rate_limit", times, seconds=retry_after_seconds))

    def unavailable(self, times: int = 1) -> Faults:
        return self._add(_Fault("unavailable", times))

    def slow(self, times: int = 1, seconds: float = 5.0) -> Faults:
        return self._add(_Fault("slow", times, seconds=seconds))

    def truncate(self, page_number: int, times: int = 1) -> Faults:
        return self._add(_Fault("truncate", times, page=page_number))

    def end_early(self, page_number: int, times: int = 1) -> Faults:
        """That page answers ``next_cursor: null`` although records follow: a snapshot cut short."""
        return self._add(_Fault("end_early", times, page=page_number))

    def repeat_page(self, page_number: int, times: int = 1) -> Faults:
        if page_number < 2:
            raise ValueError("repeat_page needs a page number of 2 or more (it repeats the previous page)")
        return self._add(_Fault("repeat_page", times, page=page_number))

    def empty_pages(self, page_number: int, times: int = 1) -> Faults:
        """Answer page ``page_number`` with no items and a cursor that resumes where it was asked:
        the real page follows, numbered one higher."""
        return self._add(_Fault("empty_pages", times, page=page_number))

    def endless_empty_pages(self, from_page: int = 1) -> Faults:
        """From page ``from_page`` on, answer every page with no items and a fresh next cursor."""
        return self._add(_Fault("endless_empty_pages", 1, page=from_page, endless=True))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    @property
    def pending(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(f.kind, f.remaining) for f in self._pending]

    def _add(self, fault: _Fault) -> Faults:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._pending.append(fault)
        return self

    def take(self, page: int, kinds: Iterable[str]) -> _Fault | None:
        """The first pending fault of ``kinds`` that applies to ``page``, consuming one use."""
        kinds = set(kinds)
        with self._lock:
            for fault in self._pending:
                if fault.kind in kinds and fault.applies_to(page):
                    if not fault.endless:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._pending.remove(fault)
                    self.served[fault.kind] = self.served.get(fault.kind, 0) + 1
                    return fault
        return None


@dataclass(frozen=True)
class RequestLog:
    at: float          # time.monotonic() when the request arrived
    path: str
    status: int


class _Store:
    """Records keyed by identifier, kept sorted by (updated_at, cert_identifier) for paging."""

    def __init__(self, records: Iterable[dict], key: str = "cert_identifier"):
        self._lock = threading.Lock()
        self.key = key
        self._by_id: dict[str, dict] = {}
        self._order: list[tuple[dt.datetime, str]] = []
        self.upsert(records)

    def upsert(self, records: Iterable[dict]) -> None:
        with self._lock:
            for record in records:
                self._by_id[record[self.key]] = dict(record)
            self._reindex()

    def delete(self, identifiers: Iterable[str]) -> None:
        with self._lock:
            for identifier in identifiers:
                self._by_id.pop(identifier, None)
            self._reindex()

    def replace(self, records: Iterable[dict]) -> None:
        with self._lock:
            self._by_id = {r[self.key]: dict(r) for r in records}
            self._reindex()

    def _reindex(self) -> None:
        self._order = sorted((parse_timestamp(r["updated_at"]), k) for k, r in self._by_id.items())

    def all(self) -> list[dict]:
        with self._lock:
            return [dict(self._by_id[k]) for _, k in self._order]

    def page(self, after: tuple[dt.datetime, str] | None, since: dt.datetime | None, until: dt.datetime | None,
             size: int) -> tuple[list[dict], bool]:
        """Up to ``size`` records after the cursor position inside the filter, and whether more follow."""
        with self._lock:
            order = self._order
            start = 0
            if since is not None:
                start = bisect.bisect_right(order, (since, "\uffff"))
            if after is not None:
                start = max(start, bisect.bisect_right(order, after))
            out = []
            index = start
            while index < len(order) and len(out) < size:
                ts, key = order[index]
                if until is not None and ts > until:
                    break
                out.append(dict(self._by_id[key]))
                index += 1
            more = index < len(order) and (until is None or order[index][0] <= until)
            return out, more

    def before(self, position: tuple[dt.datetime, str], since: dt.datetime | None, size: int) -> list[dict]:
        """The last ``size`` records at or before ``position`` inside the filter (the page that ended there)."""
        with self._lock:
            order = self._order
            end = bisect.bisect_right(order, position)
            start = max(end - size, bisect.bisect_right(order, (since, "\uffff")) if since is not None else 0)
            return [dict(self._by_id[key]) for _, key in order[start:end]]


class CertificateApiServer:
    """The e-licence API on a real loopback socket (``ThreadingHTTPServer`` in a daemon thread).

    ``GET {url}/api/v1/certificates?updated_since=&updated_until=&cursor=&page_size=`` with
    ``Authorization: Bearer <token>`` returns ``{"items": [...], "next_cursor": str | null}``,
    items ordered by (updated_at, cert_identifier); ``updated_since`` is exclusive and
    ``updated_until`` inclusive. ``faults`` injects misbehaviour; ``upsert``/``delete``/
    ``replace`` change the data while it runs; ``requests`` logs what was asked and answered.
    """

    MAX_PAGE_SIZE = 10_000
    DEFAULT_PAGE_SIZE = 100

    def __init__(self, records: Iterable[dict], token: str, host: str = "127.0.0.1", port: int = 0,
                 endpoint: str = ENDPOINT, key: str = "cert_identifier"):
        """``endpoint`` and ``key`` (the records' identifying field) let it serve another list API."""
        self.token = token
        self.endpoint, self.key = endpoint, key
        self.host, self.port = host, port
        self.faults = Faults()
        self.requests: list[RequestLog] = []
        self._store = _Store(records, key)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # data ------------------------------------------------------------------------------------
    @property
    def records(self) -> list[dict]:
        """A copy of the served records in API order."""
        return self._store.all()

    @records.setter
    def records(self, records: Iterable[dict]) -> None:
        self._store.replace(records)

    def upsert(self, records: Iterable[dict]) -> None:
        self._store.upsert(records)

    def delete(self, identifiers: Iterable[str]) -> None:
        self._store.delete(identifiers)

    # lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def connection_uri(self) -> str:
        """An Airflow-style connection URI for this server: ``http://:<token>@host:port/``."""
        from urllib.parse import quote

        host, port = self._httpd.server_address[:2]
        return f"http://:{quote(self.token, safe='')}@{host}:{port}/"

    def start(self) -> CertificateApiServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.05),
                                        name="certificate-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a "slow" fault
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> CertificateApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start and block until interrupted (for a CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # request handling ------------------------------------------------------------------------
    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        status = self._handle(handler)
        self.requests.append(RequestLog(arrived, handler.path, status))

    def _handle(self, h: BaseHTTPRequestHandler) -> int:
        parts = urlsplit(h.path)
        if parts.path.rstrip("/") != self.endpoint:
            return _send_json(h, 404, {"error": f"no such endpoint {parts.path}"})
        if h.headers.get("Authorization", "") != f"Bearer {self.token}":
            return _send_json(h, 401, {"error": "missing or wrong token"},
                              {"WWW-Authenticate": 'Bearer realm="e-licence"'})
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            size = int(query.get("page_size") or self.DEFAULT_PAGE_SIZE)
            if not 1 <= size <= self.MAX_PAGE_SIZE:
                raise ValueError(f"page_size must be 1..{self.MAX_PAGE_SIZE}")
            since = parse_timestamp(query["updated_since"]) if query.get("updated_since") else None
            until = parse_timestamp(query["updated_until"]) if query.get("updated_until") else None
            after, page = None, 1
            if query.get("cursor"):
                ts, key, page = decode_cursor(query["cursor"])
                after = (parse_timestamp(ts), key)
        except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
            return _send_json(h, 400, {"error": f"bad request: {exc}"})

        fault = self.faults.take(page, ("rate_limit", "unavailable", "slow"))
        if fault is not None and fault.kind == "rate_limit":
            return _send_json(h, 429, {"error": "too many requests"},
                              {"Retry-After": f"{fault.seconds:g}" if fault.seconds % 1 else str(int(fault.seconds))})
        if fault is not None and fault.kind == "unavailable":
            return _send_json(h, 503, {"error": "service unavailable"})
        late = fault is not None and fault.kind == "slow"
        if late and self._stopping.wait(fault.seconds):
            return 0
        # A late answer goes to a client that has given up: it does not use up the page faults.
        empty = None if late else self.faults.take(page, ("empty_pages", "endless_empty_pages"))
        repeat = self.faults.take(page, ("repeat_page",)) if page >= 2 and not late and empty is None else None
        if empty is not None:  # nothing, and a fresh cursor that resumes where this page was asked
            position = after or (dt.datetime.min.replace(tzinfo=UTC), "")
            items, next_cursor = [], encode_cursor(_iso_key(position[0]), position[1], page + 1)
        elif repeat is not None and after is not None:
            # Serve the previous page's items again; the next cursor resumes where that page ended,
            # so the real page follows: duplicates across pages, nothing dropped.
            items = self._store.before(after, since, size)
            next_cursor = encode_cursor(_iso_key(after[0]), after[1], page + 1)
        else:
            items, more = self._store.page(after, since, until, size)
            next_cursor = (encode_cursor(items[-1]["updated_at"], items[-1][self.key], page + 1)
                           if items and more else None)
            if next_cursor is not None and not late and self.faults.take(page, ("end_early",)) is not None:
                next_cursor = None
        body = json.dumps({"items": items, "next_cursor": next_cursor}, ensure_ascii=False).encode()
        if not late and self.faults.take(page, ("truncate",)) is not None:
            body = body[: max(1, len(body) // 2)]
        return _send_bytes(h, 200, body)


def _iso_key(ts: dt.datetime) -> str:
    return ts.isoformat()


def _send_json(h: BaseHTTPRequestHandler, status: int, payload: dict, headers: dict | None = None) -> int:
    return _send_bytes(h, status, json.dumps(payload, ensure_ascii=False).encode(), headers)


def _send_bytes(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> int:
    try:
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. after its timeout)
        pass
    return status


def _handler_for(server: CertificateApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server._respond(self)

        def log_message(self, format, *args) -> None:  # quiet: tests and the demo log elsewhere
            pass

    return Handler
