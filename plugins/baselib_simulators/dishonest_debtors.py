"""The courts' list of dishonest judgment debtors (失信被执行人名单), simulated and served like the
court's enforcement information system does: ``GET /api/v1/dishonest-debtors`` on loopback
(:func:`server`: the e-licence API's server with this endpoint, its own token and records).

:func:`generate` lists :data:`COMPANY_SHARE` of the defect-free registrants (party code type
``001``, their unified social credit code) and :data:`CITIZEN_SHARE` of the defect-free adult
people (``111``, their citizen ID), each under one case of the county court of their division
(citizens: of their ID's county), filed over the six years before ``as_of``. :data:`REMOVED_SHARE`
of the cases are 已移出 with a removal date after publication; the rest are 在列.

Truth: the records' ``manifest`` (:class:`DebtorManifest`, also written next to the records as
``…manifest.json`` by :func:`simulate`):

* ``defects``: case_number -> one of :data:`DEFECTS`, each quarantined by the suite
  (``expectations/dept_court.dishonest_debtor.json``): ``bad_party_code`` (wrong check character for
  its type), ``type_mismatch`` (a citizen ID sent with type 001), ``unknown_status``,
  ``removed_date_while_listed`` (在列 with a removal date), ``future_publish_date``,
  ``published_before_filing``;
* ``unmatched``: case_number -> party code of the :data:`DEFAULT_UNMATCHED_RATE` share of parties
  (per code type) found in neither base library (they load; the cross checks warn).

Truth readers: :meth:`DebtorManifest.loadable` (records that load), :meth:`DebtorManifest.match_rate`.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from baselib.identifiers import citizen_id, credit_code
from baselib.settings import PROJECT_ROOT
from baselib_simulators import departments
from baselib_simulators.certificates import CertificateApiServer, _iso_z, _person_name
from baselib_simulators.departments import PROVINCE_ABBR

CONN_ID = "court_api"
ENDPOINT = "/api/v1/dishonest-debtors"
KEY = "case_number"
RECORDS_FILE = PROJECT_ROOT / "data" / "simulated" / "court_dishonest_debtors.json"
FIELDS = ("case_number", "party_name", "party_code", "party_code_type", "court_name", "filing_date",
          "publish_date", "status", "removed_date", "updated_at")

CREDIT_CODE, CITIZEN_ID = "001", "111"
COMPANY_SHARE = 0.02
CITIZEN_SHARE = 0.01
REMOVED_SHARE = 0.2
YEARS_BACK = 6
DEFECTS = ("bad_party_code", "type_mismatch", "unknown_status", "removed_date_while_listed",
           "future_publish_date", "published_before_filing")
DEFAULT_RATES = {kind: 0.005 for kind in DEFECTS}
DEFAULT_UNMATCHED_RATE = 0.05
BAD_STATUSES = ("暂缓", "撤销", "未知")


@dataclass
class DebtorManifest:
    """What :func:`generate` put in: per-record defects and parties found in no base library."""

    records: list[dict] = field(default_factory=list)
    defects: dict[str, str] = field(default_factory=dict)            # case_number -> defect
    unmatched: dict[str, str] = field(default_factory=dict)          # case_number -> party code

    @property
    def defect_counts(self) -> dict[str, int]:
        return departments.counts(self.defects.values())

    def loadable(self) -> list[dict]:
        """The records without an injected defect: they load into ``dept_court.dishonest_debtor``."""
        return [r for r in self.records if r[KEY] not in self.defects]

    def match_rate(self, code_type: str) -> float | None:
        """Share of loadable records of ``code_type`` (001 / 111) whose party is in its base library:
        the cross checks' match rates after a first load."""
        rows = [r for r in self.loadable() if r["party_code_type"] == code_type]
        return sum(r[KEY] not in self.unmatched for r in rows) / len(rows) if rows else None

    def to_dict(self) -> dict:
        return {"defects": self.defects, "unmatched": self.unmatched, "defect_counts": self.defect_counts}


def _county_court(reg, county: str) -> str:
    return f"{departments.county_label(reg, county)}人民法院"


def generate(registrants: list[departments.Registrant], people: list[departments.Person], seed: int,
             as_of: dt.datetime, rates: dict[str, float] | None = None,
             unmatched_rate: float = DEFAULT_UNMATCHED_RATE, company_share: float = COMPANY_SHARE,
             citizen_share: float = CITIZEN_SHARE) -> DebtorManifest:
    """The court's records (JSON-able dicts with the keys of :data:`FIELDS`) and their truth:
    ``company_share`` of ``registrants`` and ``citizen_share`` of the adult living ``people`` are
    listed, plus ``unmatched_rate`` of parties (per code type) found in neither."""
    rates = dict(DEFAULT_RATES if rates is None else rates)
    rng = random.Random(f"{seed}/debtors")
    as_of_day = as_of.astimezone(departments.SHANGHAI).date()
    adult = as_of_day.replace(year=as_of_day.year - 18)
    fresh = departments.Fresh(rng, [r.credit_code for r in registrants], [p.id_number for p in people])
    parties: list[tuple[str, str, str, str, bool]] = []       # (code, type, name, county, in_base)
    companies = [(r.credit_code, CREDIT_CODE, r.name, r.division_code, True)
                 for r in registrants if rng.random() < company_share]
    citizens = [(p.id_number, CITIZEN_ID, p.name, p.id_number[:6], True)
                for p in people if p.birth_date <= adult and p.registration_status != "死亡"
                and rng.random() < citizen_share]
    for group, code_type in ((companies, CREDIT_CODE), (citizens, CITIZEN_ID)):
        extra = round(len(group) * unmatched_rate / (1 - unmatched_rate)) if group else 0
        for _ in range(extra):
            county = fresh.county()
            if code_type == CREDIT_CODE:
                group.append((fresh.enterprise_code(), code_type, fresh.company_name(county), county, False))
            else:
                number = fresh.citizen_id(as_of_day)
                group.append((number, code_type, _person_name(rng), number[:6], False))
        parties += group
    rng.shuffle(parties)

    counties = set(fresh.counties)
    manifest = DebtorManifest()
    sequence: dict[tuple[str, int], int] = {}
    first_day = as_of_day.replace(year=as_of_day.year - YEARS_BACK)
    for code, code_type, name, county, in_base in parties:
        if county not in counties:               # an ID's county abolished since: a court of today
            county = rng.choice(fresh.counties)
        filed = first_day + dt.timedelta(days=rng.randrange((as_of_day - first_day).days - 60))
        published = filed + dt.timedelta(days=rng.randrange(20, min(400, (as_of_day - filed).days)))
        removed = None
        if rng.random() < REMOVED_SHARE and (as_of_day - published).days > 2:
            removed = published + dt.timedelta(days=rng.randrange(1, (as_of_day - published).days))
        key = (county, filed.year)
        sequence[key] = sequence.get(key, 0) + 1
        number = f"（{filed.year}）{PROVINCE_ABBR.get(county[:2], '')}{county[2:6]}执{sequence[key]}号"
        updated = min(departments.local_time(removed or published, rng), as_of - dt.timedelta(minutes=5))
        record = {"case_number": number, "party_name": name, "party_code": code, "party_code_type": code_type,
                  "court_name": _county_court(fresh.reg, county), "filing_date": filed.isoformat(),
                  "publish_date": published.isoformat(), "status": "已移出" if removed else "在列",
                  "removed_date": removed.isoformat() if removed else None, "updated_at": _iso_z(updated)}
        defect = departments.draw_defect(rng, rates, DEFECTS)
        if defect == "bad_party_code":
            alphabet = credit_code.ALPHABET if code_type == CREDIT_CODE else citizen_id.CHECK_CHARS
            record["party_code"] = departments.wrong_check(code, alphabet, rng)
        elif defect == "type_mismatch":                      # a credit code sent as a citizen ID, or the reverse
            record["party_code_type"] = CITIZEN_ID if code_type == CREDIT_CODE else CREDIT_CODE
            if (citizen_id.is_valid if code_type == CREDIT_CODE else credit_code.is_valid)(code):
                defect = "bad_party_code"                    # valid under both types by chance: break its check
                record["party_code_type"] = code_type
                alphabet = credit_code.ALPHABET if code_type == CREDIT_CODE else citizen_id.CHECK_CHARS
                record["party_code"] = departments.wrong_check(code, alphabet, rng)
        elif defect == "unknown_status":
            record["status"] = rng.choice(BAD_STATUSES)
        elif defect == "removed_date_while_listed":
            record["status"] = "在列"
            record["removed_date"] = (removed or published + dt.timedelta(days=1)).isoformat()
        elif defect == "future_publish_date":
            record["publish_date"] = (as_of_day + dt.timedelta(days=rng.randrange(30, 300))).isoformat()
            record["status"], record["removed_date"] = "在列", None
        elif defect == "published_before_filing":
            record["publish_date"] = (filed - dt.timedelta(days=rng.randrange(1, 200))).isoformat()
        if defect:
            manifest.defects[number] = defect
        if not in_base:
            manifest.unmatched[number] = code
        manifest.records.append(record)
    return manifest


def manifest_file(records_file: Path) -> Path:
    return records_file.with_name(records_file.stem + ".manifest.json")


def simulate(registrants: list[departments.Registrant], people: list[departments.Person], seed: int,
             as_of: dt.datetime, records_file: Path = RECORDS_FILE) -> DebtorManifest:
    """Generate the records and store them (and the manifest) for the court API's server."""
    manifest = generate(registrants, people, seed, as_of)
    records_file.parent.mkdir(parents=True, exist_ok=True)
    records_file.write_text(json.dumps(manifest.records, ensure_ascii=False), encoding="utf-8")
    manifest_file(records_file).write_text(json.dumps(manifest.to_dict(), ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    return manifest


def read_manifest(records_file: Path = RECORDS_FILE) -> DebtorManifest:
    """The manifest :func:`simulate` stored next to ``records_file``, with its records."""
    truth = json.loads(manifest_file(records_file).read_text(encoding="utf-8"))
    return DebtorManifest(records=json.loads(records_file.read_text(encoding="utf-8")),
                          defects=truth["defects"], unmatched=truth["unmatched"])


def server(records: list[dict], token: str, host: str = "127.0.0.1", port: int = 0) -> CertificateApiServer:
    """The court's API on loopback (not started): paging, ``updated_since``/``updated_until`` and
    faults as :class:`~baselib_simulators.certificates.CertificateApiServer`, on :data:`ENDPOINT`."""
    return CertificateApiServer(records, token=token, host=host, port=port, endpoint=ENDPOINT, key=KEY)

