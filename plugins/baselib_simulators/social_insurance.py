"""The human-resources department's social-insurance front-end database (前置库), simulated:
``frontend.insurance_enrolment`` (one row per person and insurance type) and
``frontend.pension_payment`` (one row per pensioner and month paid for).

Subjects are the population source's defect-free people (:func:`departments.people`: they load
into ``base_population.person``), with their birth date, registration status and ``updated_at``:

* :data:`ENROLLED_SHARE` of the people aged 16 or more hold one basic pension insurance (110
  企业职工, 120 机关事业单位 or 170 城乡居民), employees (110/120) under 60 also medical (310),
  work-injury (410, 110 only) and unemployment (210, 110 only) insurance, retired employees
  medical insurance;
* :data:`PENSIONER_SHARE` of the enrolled aged 60 or more are pensioners, retired the month after
  their 60th birthday. Their pension enrolment is 暂停缴费 (no more contributions) / 领取中; they are
  paid every month (on the 15th, Asia/Shanghai) from retirement, or from :data:`PAYMENT_MONTHS`
  months before ``as_of``'s month, up to the month before it; the amount rises 3 % each January;
* other enrolments are 参保缴费, 暂停缴费 or 终止参保 with pension status 未领取; a deceased person's
  enrolments are 终止参保 (and the pension 已停发), updated some days after the death;
* **pensions after death**: a deceased pensioner (population ``registration_status`` 死亡) dies in
  the month (Asia/Shanghai) of the population row's ``updated_at``. Payments normally stop after
  that month. For :data:`AFTER_DEATH_SHARE` of the deceased pensioners who died before the last
  paid month, they go on for k >= 1 further months (the enrolment still says 暂停缴费 / 领取中):
  those payments are recorded in ``simulator.pension_after_death (citizen_id, pay_month,
  death_registered_at, amount)``; none of them carries an injected defect, so each loads.

Known defects, at most one per row, at known rates, recorded in ``simulator.enrolment_truth``
and ``simulator.payment_truth`` (``defect``), each quarantined by the suites:
enrolments :data:`ENROLMENT_DEFECTS`, payments :data:`PAYMENT_DEFECTS`. :data:`UNMATCHED_RATE`
of the insured are valid citizen IDs found in no population row (``in_population`` false): their
rows load, and the cross checks count them.

Truth readers (``conn``: the human-resources front-end database): :func:`pension_after_death`,
:func:`loadable_enrolments`, :func:`loadable_payments`, :func:`defects`, :func:`expected_match_rates`.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from baselib.identifiers import citizen_id
from baselib_simulators import departments
from baselib_simulators.certificates import _add_years, _person_name
from baselib_simulators.departments import TS, add_months, death_month

ENROLMENT_TABLE = "frontend.insurance_enrolment"
PAYMENT_TABLE = "frontend.pension_payment"

DDL = """
CREATE SCHEMA IF NOT EXISTS frontend;
CREATE SCHEMA IF NOT EXISTS simulator;
DROP TABLE IF EXISTS frontend.insurance_enrolment;
DROP TABLE IF EXISTS frontend.pension_payment;
DROP TABLE IF EXISTS simulator.enrolment_truth;
DROP TABLE IF EXISTS simulator.payment_truth;
DROP TABLE IF EXISTS simulator.pension_after_death;
CREATE TABLE frontend.insurance_enrolment (
    row_id         bigserial PRIMARY KEY,
    citizen_id     varchar(18),
    insurance_type varchar(3),
    name           varchar(50),
    status         varchar(4),
    pension_status varchar(4),
    enrolled_on    date,
    updated_at     timestamptz NOT NULL
);
CREATE TABLE frontend.pension_payment (
    row_id     bigserial PRIMARY KEY,
    citizen_id varchar(18),
    pay_month  date,
    amount     numeric(20,2),
    paid_on    date,
    updated_at timestamptz NOT NULL
);
CREATE TABLE simulator.enrolment_truth (
    citizen_id     varchar(18) NOT NULL,
    insurance_type varchar(3) NOT NULL,
    defect         text,
    in_population  boolean NOT NULL,
    PRIMARY KEY (citizen_id, insurance_type)
);
CREATE TABLE simulator.payment_truth (
    citizen_id    varchar(18) NOT NULL,
    pay_month     date NOT NULL,
    defect        text,
    in_population boolean NOT NULL,
    PRIMARY KEY (citizen_id, pay_month)
);
CREATE TABLE simulator.pension_after_death (
    citizen_id          varchar(18) NOT NULL,
    pay_month           date NOT NULL,
    death_registered_at timestamptz NOT NULL,
    amount              numeric(20,2) NOT NULL,
    PRIMARY KEY (citizen_id, pay_month)
);
"""
INDEX_DDL = """
CREATE INDEX IF NOT EXISTS insurance_enrolment_updated_at ON frontend.insurance_enrolment (updated_at);
CREATE INDEX IF NOT EXISTS pension_payment_updated_at ON frontend.pension_payment (updated_at);
"""

ENROLMENT_SCHEMA = {"citizen_id": pa.string(), "insurance_type": pa.string(), "name": pa.string(),
                    "status": pa.string(), "pension_status": pa.string(), "enrolled_on": pa.date32(),
                    "updated_at": TS}
PAYMENT_SCHEMA = {"citizen_id": pa.string(), "pay_month": pa.date32(), "amount": pa.string(),
                  "paid_on": pa.date32(), "updated_at": TS}
ENROLMENT_TRUTH = {"citizen_id": pa.string(), "insurance_type": pa.string(), "defect": pa.string(),
                   "in_population": pa.bool_()}
PAYMENT_TRUTH = {"citizen_id": pa.string(), "pay_month": pa.date32(), "defect": pa.string(),
                 "in_population": pa.bool_()}
AFTER_DEATH = {"citizen_id": pa.string(), "pay_month": pa.date32(), "death_registered_at": TS,
               "amount": pa.string()}

PENSION_TYPES = {"110": 0.55, "120": 0.10, "170": 0.35}     # 企业职工 / 机关事业单位 / 城乡居民基本养老保险
MEDICAL, INJURY, UNEMPLOYMENT = "310", "410", "210"
INSURANCE_TYPES = ("110", "120", "170", "310", "410", "210")
# monthly pension (元) at the start of the window, by pension type
PENSION_RANGE = {"110": (1800, 5500), "120": (3500, 9000), "170": (160, 450)}
YEARLY_RISE = Decimal("1.03")

ENROLLED_SHARE = 0.4
PENSIONER_SHARE = 0.8
RETIREMENT_AGE = 60
PAYMENT_MONTHS = 24
AFTER_DEATH_SHARE = 0.35
UNMATCHED_RATE = 0.02

ENROLMENT_DEFECTS = ("bad_citizen_id", "unknown_insurance_type", "unknown_status", "pension_status_on_non_pension",
                     "future_enrolled_on")
PAYMENT_DEFECTS = ("bad_citizen_id", "negative_amount", "future_paid_on", "paid_before_month")
DEFAULT_ENROLMENT_RATES = {kind: 0.004 for kind in ENROLMENT_DEFECTS}
DEFAULT_PAYMENT_RATES = {kind: 0.002 for kind in PAYMENT_DEFECTS}
BAD_STATUSES = ("冻结", "退休", "未知")


@dataclass
class SimulationResult:
    enrolments: int
    payments: int
    pension_after_death: int                  # payments of months after the death month (they all load)
    people_paid_after_death: int
    enrolment_defects: dict[str, int] = field(default_factory=dict)
    payment_defects: dict[str, int] = field(default_factory=dict)
    unmatched_people: int = 0                 # insured people in no population row
    as_of: dt.datetime | None = None


def _age(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _between(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    return lo + dt.timedelta(days=rng.randrange(max((hi - lo).days, 1)))


def _status(rng: random.Random) -> str:
    return rng.choices(("参保缴费", "暂停缴费", "终止参保"), (0.85, 0.10, 0.05))[0]


def generate(people: list[departments.Person], seed: int, as_of: dt.datetime,
             enrolment_rates: dict[str, float] | None = None, payment_rates: dict[str, float] | None = None,
             unmatched_rate: float = UNMATCHED_RATE, enrolled_share: float = ENROLLED_SHARE,
             after_death_share: float = AFTER_DEATH_SHARE) -> dict[str, list[dict]]:
    """Rows of every table (keys ``enrolments``, ``payments``, ``enrolment_truth``,
    ``payment_truth``, ``after_death``) for ``people``; see the module docstring. Deterministic."""
    e_rates = dict(DEFAULT_ENROLMENT_RATES if enrolment_rates is None else enrolment_rates)
    p_rates = dict(DEFAULT_PAYMENT_RATES if payment_rates is None else payment_rates)
    rng = random.Random(f"{seed}/social-insurance")
    as_of_day = as_of.astimezone(departments.SHANGHAI).date()
    as_of_month = as_of_day.replace(day=1)
    last_month = add_months(as_of_month, -1)
    window_start = add_months(as_of_month, -PAYMENT_MONTHS)
    latest_update = as_of - dt.timedelta(minutes=1)
    fresh = departments.Fresh(rng, taken_ids=[p.id_number for p in people])

    insured: list[tuple[departments.Person, bool]] = []
    for person in people:
        if _age(person.birth_date, as_of_day) >= 16 and rng.random() < enrolled_share:
            insured.append((person, True))
    for _ in range(round(len(insured) * unmatched_rate / (1 - unmatched_rate)) if insured else 0):
        number = fresh.citizen_id(as_of_day)
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        insured.append((departments.Person(number, _person_name(rng), born, "正常", latest_update), False))

    # deceased pensioners who died before the last paid month: some are paid on after their death
    plans = []
    for person, in_population in insured:
        pension = rng.choices(list(PENSION_TYPES), list(PENSION_TYPES.values()))[0]
        retire = add_months(person.birth_date.replace(day=1), RETIREMENT_AGE * 12 + 1)
        dead = person.registration_status == "死亡"
        died = death_month(person.updated_at) if dead else None
        pensioner = (_age(person.birth_date, as_of_day) >= RETIREMENT_AGE and retire <= last_month
                     and (not dead or retire <= died) and rng.random() < PENSIONER_SHARE)
        plans.append([person, in_population, pension, retire, died, pensioner, 0])
    eligible = [p for p in plans if p[5] and p[4] is not None and p[4] < last_month]
    chosen = rng.sample(eligible, max(1, round(len(eligible) * after_death_share)) if eligible else 0)
    for plan in chosen:
        plan[6] = rng.randint(1, departments.months_between(plan[4], last_month))

    out: dict[str, list[dict]] = {k: [] for k in ("enrolments", "payments", "enrolment_truth", "payment_truth",
                                                  "after_death")}
    for person, in_population, pension, retire, died, pensioner, extra_months in plans:
        pid = person.id_number
        death_day = person.updated_at.astimezone(departments.SHANGHAI).date() if died else None
        protected = extra_months > 0          # rows of a person paid after death never get a defect
        start_work = max(_add_years(person.birth_date, 18), dt.date(1992, 1, 1))
        if pension == "170":
            start_work = max(_add_years(person.birth_date, 16) + dt.timedelta(days=1),
                             dt.date(2009, 10, 1))
        start_work = min(start_work, as_of_day - dt.timedelta(days=60))
        enrolled_on = _between(rng, start_work, min(as_of_day - dt.timedelta(days=30),
                                                    max(start_work + dt.timedelta(days=1), retire - dt.timedelta(days=400))))
        types = [pension]
        working = not pensioner and _age(person.birth_date, as_of_day) < RETIREMENT_AGE
        if pension in ("110", "120") and (working or pensioner) and rng.random() < 0.95:
            types.append(MEDICAL)
        if pension == "110" and working:
            types += [t for t, share in ((INJURY, 0.8), (UNEMPLOYMENT, 0.85)) if rng.random() < share]
        for kind in types:
            if died and not extra_months:            # the department knows: enrolments ended
                status, pension_status = "终止参保", ("已停发" if kind == pension and pensioner else "未领取")
                updated = min(departments.local_time(death_day + dt.timedelta(days=rng.randrange(5, 40)), rng),
                              latest_update)
            elif kind == pension and pensioner:
                status, pension_status = "暂停缴费", "领取中"
                updated = min(departments.local_time(retire + dt.timedelta(days=rng.randrange(0, 20)), rng),
                              latest_update)
            else:
                status, pension_status = (("参保缴费", "未领取") if kind == MEDICAL and pensioner
                                          else (_status(rng), "未领取"))
                updated = min(departments.local_time(_between(rng, max(enrolled_on, as_of_day - dt.timedelta(days=900)),
                                                              as_of_day), rng), latest_update)
            row = {"citizen_id": pid, "insurance_type": kind, "name": person.name, "status": status,
                   "pension_status": pension_status, "enrolled_on": enrolled_on, "updated_at": updated}
            defect = None if protected else departments.draw_defect(rng, e_rates, ENROLMENT_DEFECTS)
            if defect == "bad_citizen_id":
                row["citizen_id"] = departments.wrong_check(pid, citizen_id.CHECK_CHARS, rng)
            elif defect == "unknown_insurance_type":
                row["insurance_type"] = kind[:2] + "9"          # 119, 319, …: still unique per person
            elif defect == "unknown_status":
                row["status"] = rng.choice(BAD_STATUSES)
            elif defect == "pension_status_on_non_pension":
                if kind in PENSION_TYPES:                     # only a non-pension type can carry it
                    defect = None
                else:
                    row["pension_status"] = "领取中"
            elif defect == "future_enrolled_on":
                row["enrolled_on"] = as_of_day + dt.timedelta(days=rng.randrange(30, 300))
            out["enrolments"].append(row)
            out["enrolment_truth"].append({"citizen_id": row["citizen_id"], "insurance_type": row["insurance_type"],
                                           "defect": defect, "in_population": in_population})
        if not pensioner:
            continue
        low, high = PENSION_RANGE[pension]
        base = Decimal(rng.randrange(low * 100, high * 100)) / 100
        first = max(retire, window_start)
        last = min(last_month, add_months(died, extra_months)) if died else last_month
        month = first
        while month <= last:
            amount = (base * YEARLY_RISE ** (month.year - window_start.year)).quantize(Decimal("0.01"))
            paid_on = month + dt.timedelta(days=14)
            row = {"citizen_id": pid, "pay_month": month, "amount": amount, "paid_on": paid_on,
                   "updated_at": min(departments.local_time(paid_on, rng, 9, 12), latest_update)}
            after_death = died is not None and month > died
            defect = None if after_death else departments.draw_defect(rng, p_rates, PAYMENT_DEFECTS)
            if defect == "bad_citizen_id":
                row["citizen_id"] = departments.wrong_check(pid, citizen_id.CHECK_CHARS, rng)
            elif defect == "negative_amount":
                row["amount"] = -amount
            elif defect == "future_paid_on":
                row["paid_on"] = as_of_day + dt.timedelta(days=rng.randrange(30, 200))
            elif defect == "paid_before_month":
                row["paid_on"] = month - dt.timedelta(days=rng.randrange(3, 40))
            row["amount"] = str(row["amount"])
            out["payments"].append(row)
            out["payment_truth"].append({"citizen_id": row["citizen_id"], "pay_month": month, "defect": defect,
                                         "in_population": in_population})
            if after_death:
                out["after_death"].append({"citizen_id": pid, "pay_month": month,
                                           "death_registered_at": person.updated_at, "amount": row["amount"]})
            month = add_months(month, 1)
    return out


def create(conn, people: list[departments.Person], seed: int = 20261101, as_of: dt.datetime | None = None,
           **options) -> SimulationResult:
    """(Re)create and fill both front-end tables and the truth tables in the human-resources
    front-end database ``conn``. ``people``: :func:`departments.people` of the population source.
    ``options``: :func:`generate`'s rates and shares. Same arguments, same rows."""
    as_of = as_of or dt.datetime(2026, 11, 1, tzinfo=departments.UTC)
    out = generate(people, seed, as_of, **options)
    with conn.cursor() as cur:
        cur.execute(DDL)
        departments.copy_rows(cur, ENROLMENT_TABLE, ENROLMENT_SCHEMA, out["enrolments"])
        departments.copy_rows(cur, PAYMENT_TABLE, PAYMENT_SCHEMA, out["payments"])
        departments.copy_rows(cur, "simulator.enrolment_truth", ENROLMENT_TRUTH, out["enrolment_truth"])
        departments.copy_rows(cur, "simulator.payment_truth", PAYMENT_TRUTH, out["payment_truth"])
        departments.copy_rows(cur, "simulator.pension_after_death", AFTER_DEATH, out["after_death"])
        cur.execute(INDEX_DDL)
        cur.execute("ANALYZE frontend.insurance_enrolment; ANALYZE frontend.pension_payment")
    conn.commit()
    return SimulationResult(
        enrolments=len(out["enrolments"]), payments=len(out["payments"]),
        pension_after_death=len(out["after_death"]),
        people_paid_after_death=len({r["citizen_id"] for r in out["after_death"]}),
        enrolment_defects=departments.counts(t["defect"] for t in out["enrolment_truth"]),
        payment_defects=departments.counts(t["defect"] for t in out["payment_truth"]),
        unmatched_people=len({t["citizen_id"] for t in out["enrolment_truth"] if not t["in_population"]}),
        as_of=as_of)


def _rows(conn, sql: str) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def pension_after_death(conn) -> set[tuple[str, dt.date]]:
    """Every (citizen_id, pay_month) paid for a month after the pensioner's death month: what
    ``theme_social_security.pension_after_death`` must hold (all of these rows load)."""
    return {(r["citizen_id"], r["pay_month"]) for r in
            _rows(conn, "SELECT citizen_id, pay_month FROM simulator.pension_after_death")}


def loadable_enrolments(conn) -> list[dict]:
    """Enrolment rows without an injected defect (they load), items as in the catalog plus
    ``in_population``."""
    return _rows(conn, "SELECT e.citizen_id, e.insurance_type, e.name, e.status, e.pension_status, e.enrolled_on, "
                       "e.updated_at, t.in_population FROM frontend.insurance_enrolment e "
                       "JOIN simulator.enrolment_truth t USING (citizen_id, insurance_type) WHERE t.defect IS NULL "
                       "ORDER BY 1, 2")


def loadable_payments(conn) -> list[dict]:
    """Payment rows without an injected defect (they load): items (``amount`` a Decimal) plus ``in_population``."""
    return _rows(conn, "SELECT p.citizen_id, p.pay_month, p.amount, p.paid_on, p.updated_at, t.in_population "
                       "FROM frontend.pension_payment p JOIN simulator.payment_truth t USING (citizen_id, pay_month) "
                       "WHERE t.defect IS NULL ORDER BY 1, 2")


def defects(conn, table: str) -> dict[tuple[str, str], str]:
    """``table`` "enrolment" or "payment": record key (as ``ops.quarantine.record_key`` spells it,
    the key values joined by "/") -> injected defect."""
    second = {"enrolment": "insurance_type", "payment": "pay_month"}[table]
    rows = _rows(conn, f"SELECT citizen_id, {second}::text AS k2, defect FROM simulator.{table}_truth "
                       "WHERE defect IS NOT NULL")
    return {f"{r['citizen_id']}/{r['k2']}": r["defect"] for r in rows}


def expected_match_rates(conn) -> dict[str, float | None]:
    """The cross checks' match rates after a first load: share of loadable rows whose citizen is
    in the population library (``insured_in_population``, ``pensioner_in_population``)."""
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT avg(in_population::int)::float FROM simulator.enrolment_truth WHERE defect IS NULL), "
                    "(SELECT avg(in_population::int)::float FROM simulator.payment_truth WHERE defect IS NULL)")
        enrolment, payment = cur.fetchone()
    return {"insured_in_population": enrolment, "pensioner_in_population": payment}
