"""The market regulation department's administrative penalty decisions (行政处罚决定), simulated in
its front-end exchange database (the one that holds ``frontend.legal_entity``).

``frontend.administrative_penalty`` gets a few penalties per ten defect-free registrants of the
legal-entity source (:data:`PENALISED_SHARE` of them, 1 to 5 decisions each), decided over the
five years before ``as_of`` so that a three-year window matters, by the county market-regulation
bureau of the registrant's division. A fine (罚款) or a confiscation of illegal gains
(没收违法所得) carries an amount; other kinds do not.

Truth, in ``simulator.penalty_truth (decision_number, party_credit_code, defect, party_in_base)``
(the pipeline never reads the ``simulator`` schema):

* ``defect``: at most one of :data:`DEFECTS` per row, at known rates; each is quarantined by the
  catalog entry's suite (``expectations/dept_market_regulation.administrative_penalty.json``):
  ``bad_party_code`` (the party's credit code has a wrong check character), ``bad_authority_code``
  (same for the authority), ``negative_amount``, ``future_decision_date``,
  ``unknown_penalty_type`` (a kind the law does not define);
* ``party_in_base``: false for the :data:`DEFAULT_UNMATCHED_RATE` share of rows whose party is a
  valid credit code found in neither front-end source (the cross check warns; they load).

Truth readers for tests: :func:`loadable_rows` (the rows that load, as dicts),
:func:`defects` and :func:`expected_match_rate`.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from baselib.identifiers import credit_code
from baselib_simulators import departments
from baselib_simulators.departments import PROVINCE_ABBR, TS

SOURCE_TABLE = "frontend.administrative_penalty"
TRUTH_TABLE = "simulator.penalty_truth"

DDL = """
CREATE SCHEMA IF NOT EXISTS frontend;
CREATE SCHEMA IF NOT EXISTS simulator;
DROP TABLE IF EXISTS frontend.administrative_penalty;
DROP TABLE IF EXISTS simulator.penalty_truth;
CREATE TABLE frontend.administrative_penalty (
    row_id            bigserial PRIMARY KEY,
    decision_number   varchar(64),
    party_name        varchar(200),
    party_credit_code varchar(18),
    penalty_type      varchar(50),
    penalty_amount    numeric(20,2),
    decision_date     date,
    authority_name    varchar(100),
    authority_code    varchar(18),
    updated_at        timestamptz NOT NULL
);
CREATE TABLE simulator.penalty_truth (
    decision_number   varchar(64) PRIMARY KEY,
    party_credit_code varchar(18) NOT NULL,
    defect            text,
    party_in_base     boolean NOT NULL
);
"""
INDEX_DDL = ("CREATE INDEX IF NOT EXISTS administrative_penalty_updated_at "
             "ON frontend.administrative_penalty (updated_at)")

SCHEMA = {
    "decision_number": pa.string(), "party_name": pa.string(), "party_credit_code": pa.string(),
    "penalty_type": pa.string(), "penalty_amount": pa.string(), "decision_date": pa.date32(),
    "authority_name": pa.string(), "authority_code": pa.string(), "updated_at": TS,
}
TRUTH_SCHEMA = {"decision_number": pa.string(), "party_credit_code": pa.string(), "defect": pa.string(),
                "party_in_base": pa.bool_()}

# 《行政处罚法》(2021) 第九条, with this simulator's weights (fines dominate market regulation)
PENALTY_TYPES = {
    "罚款": 0.58, "警告": 0.17, "没收违法所得": 0.10, "没收非法财物": 0.04, "通报批评": 0.03, "责令停产停业": 0.02,
    "暂扣许可证件": 0.015, "吊销许可证件": 0.015, "限制开展生产经营活动": 0.01, "降低资质等级": 0.005,
    "责令关闭": 0.0025, "限制从业": 0.0025,
}
WITH_AMOUNT = ("罚款", "没收违法所得")
BAD_TYPES = ("批评教育", "约谈", "其他")

PENALISED_SHARE = 0.15          # registrants with at least one penalty
MAX_PER_PARTY = 5
YEARS_BACK = 5
DEFECTS = ("bad_party_code", "bad_authority_code", "negative_amount", "future_decision_date", "unknown_penalty_type")
DEFAULT_RATES = {kind: 0.004 for kind in DEFECTS}
DEFAULT_UNMATCHED_RATE = 0.03


@dataclass
class SimulationResult:
    rows: int
    defects: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0                  # rows whose party is in no base library (defect-free ones included)
    expected_match_rate: float | None = None


def _amount(kind: str, rng: random.Random) -> Decimal | None:
    if kind == "罚款":
        return Decimal(int(min(max(rng.lognormvariate(8.8, 1.3), 200), 2_000_000)) // 100 * 100)
    if kind == "没收违法所得":
        return Decimal(round(min(max(rng.lognormvariate(8.0, 1.5), 50), 500_000), 2)).quantize(Decimal("0.01"))
    return None


def generate(registrants: list[departments.Registrant], seed: int, as_of: dt.datetime,
             rates: dict[str, float] | None = None,
             unmatched_rate: float = DEFAULT_UNMATCHED_RATE) -> tuple[list[dict], list[dict]]:
    """(source rows, truth rows) for ``registrants`` (see the module docstring). Deterministic."""
    rates = dict(DEFAULT_RATES if rates is None else rates)
    rng = random.Random(f"{seed}/penalties")
    fresh = departments.Fresh(rng, taken_codes=[r.credit_code for r in registrants])
    as_of_day = as_of.astimezone(departments.SHANGHAI).date()
    first_day = as_of_day.replace(year=as_of_day.year - YEARS_BACK)
    kinds, weights = list(PENALTY_TYPES), list(PENALTY_TYPES.values())
    parties: list[tuple[str, str, str, dt.date, bool]] = []
    for reg in registrants:
        if rng.random() >= PENALISED_SHARE:
            continue
        count = 1
        while count < MAX_PER_PARTY and rng.random() < 0.5:
            count += 1
        parties += [(reg.credit_code, reg.name, reg.division_code, reg.established_on, True)] * count
    unmatched = round(len(parties) * unmatched_rate / (1 - unmatched_rate)) if parties else 0
    for _ in range(unmatched):
        county = fresh.county()
        parties.append((fresh.enterprise_code(), fresh.company_name(county), county, first_day, False))
    rng.shuffle(parties)

    sequence: dict[tuple[str, int], int] = {}
    rows, truth = [], []
    for code, name, county, established, in_base in parties:
        lo = max(first_day, established + dt.timedelta(days=30))
        if lo >= as_of_day - dt.timedelta(days=2):
            lo = as_of_day - dt.timedelta(days=400)
        decided = lo + dt.timedelta(days=rng.randrange((as_of_day - lo).days - 1))
        kind = rng.choices(kinds, weights)[0]
        authority, authority_code = departments.county_authority(fresh.reg, county, "市场监督管理局", "11")
        number_key = (county, decided.year)
        sequence[number_key] = sequence.get(number_key, 0) + 1
        number = f"{PROVINCE_ABBR.get(county[:2], '')}{county}市监处罚〔{decided.year}〕{sequence[number_key]}号"
        updated = min(departments.local_time(decided + dt.timedelta(days=rng.randrange(0, 8)), rng),
                      as_of - dt.timedelta(minutes=rng.randrange(1, 600)))
        row = {"decision_number": number, "party_name": name, "party_credit_code": code, "penalty_type": kind,
               "penalty_amount": _amount(kind, rng), "decision_date": decided, "authority_name": authority,
               "authority_code": authority_code, "updated_at": updated}
        defect = departments.draw_defect(rng, rates, DEFECTS)
        if defect == "bad_party_code":
            row["party_credit_code"] = departments.wrong_check(code, credit_code.ALPHABET, rng)
        elif defect == "bad_authority_code":
            row["authority_code"] = departments.wrong_check(authority_code, credit_code.ALPHABET, rng)
        elif defect == "negative_amount":
            row["penalty_type"] = "罚款"
            row["penalty_amount"] = -(_amount("罚款", rng))
        elif defect == "future_decision_date":
            row["decision_date"] = as_of_day + dt.timedelta(days=rng.randrange(30, 400))
        elif defect == "unknown_penalty_type":
            row["penalty_type"], row["penalty_amount"] = rng.choice(BAD_TYPES), None
        if row["penalty_amount"] is not None:
            row["penalty_amount"] = str(row["penalty_amount"])
        rows.append(row)
        truth.append({"decision_number": number, "party_credit_code": row["party_credit_code"], "defect": defect,
                      "party_in_base": in_base})
    return rows, truth


def create(conn, registrants: list[departments.Registrant] | None = None, seed: int = 20261101,
           as_of: dt.datetime | None = None, rates: dict[str, float] | None = None,
           unmatched_rate: float = DEFAULT_UNMATCHED_RATE) -> SimulationResult:
    """(Re)create and fill ``frontend.administrative_penalty`` and its truth table in the
    market-regulation front-end database ``conn``. ``registrants`` default to every defect-free
    row of its ``frontend.legal_entity`` (create that first). Same arguments, same rows."""
    as_of = as_of or dt.datetime(2026, 11, 1, tzinfo=departments.UTC)
    if registrants is None:
        registrants = departments.registrants(conn)
    rows, truth = generate(registrants, seed, as_of, rates, unmatched_rate)
    with conn.cursor() as cur:
        cur.execute(DDL)
        departments.copy_rows(cur, SOURCE_TABLE, SCHEMA, rows)
        departments.copy_rows(cur, TRUTH_TABLE, TRUTH_SCHEMA, truth)
        cur.execute(INDEX_DDL)
        cur.execute("ANALYZE frontend.administrative_penalty")
    conn.commit()
    clean = [t for t in truth if t["defect"] is None]
    return SimulationResult(
        rows=len(rows), defects=departments.counts(t["defect"] for t in truth),
        unmatched=sum(not t["party_in_base"] for t in truth),
        expected_match_rate=sum(t["party_in_base"] for t in clean) / len(clean) if clean else None)


def defects(conn) -> dict[str, str]:
    """decision_number -> injected defect, for every row that must be quarantined."""
    with conn.cursor() as cur:
        cur.execute("SELECT decision_number, defect FROM simulator.penalty_truth WHERE defect IS NOT NULL")
        return dict(cur.fetchall())


def loadable_rows(conn) -> list[dict]:
    """The source rows without an injected defect (they load), as dicts of the catalog items
    (``penalty_amount`` a Decimal or None, dates as ``datetime.date``) plus ``party_in_base``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT p.decision_number, p.party_name, p.party_credit_code, p.penalty_type, p.penalty_amount, "
            "p.decision_date, p.authority_name, p.authority_code, p.updated_at, t.party_in_base "
            "FROM frontend.administrative_penalty p JOIN simulator.penalty_truth t USING (decision_number) "
            "WHERE t.defect IS NULL ORDER BY p.decision_number")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def expected_match_rate(conn) -> float | None:
    """The share of loadable rows whose party is in the legal-entity base library: the cross
    check ``party_in_legal_entity``'s match rate after a first load."""
    with conn.cursor() as cur:
        cur.execute("SELECT avg(party_in_base::int)::float FROM simulator.penalty_truth WHERE defect IS NULL")
        return cur.fetchone()[0]
