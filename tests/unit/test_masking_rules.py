"""The masking functions (include/sql/ddl/050_masking.sql) against the documented rules, run in
real PostgreSQL: each function's output equals an independent Python statement of its rule for
generated values, NULL stays NULL, short values never leak, and the functions are IMMUTABLE,
PARALLEL SAFE and inlined by the planner. The DDL is applied inside a transaction that is rolled back, so the
server is left as it was."""
from __future__ import annotations

import psycopg2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselib.settings import SQL_DIR

RULES = ("citizen_id", "name", "phone", "address")
MIN_HIDDEN = 4  # characters a citizen_id, phone or address mask hides at least, or it stars everything
# PostgreSQL text holds any Unicode scalar value but NUL.
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@pytest.fixture(scope="module")
def pg(pg_server):
    """A cursor on the test server with the masking DDL applied in an open transaction."""
    conn = psycopg2.connect(pg_server)
    try:
        with conn.cursor() as cur:
            cur.execute((SQL_DIR / "ddl" / "050_masking.sql").read_text(encoding="utf-8"))
            yield cur
    finally:
        conn.rollback()
        conn.close()


def mask(cur, rule: str, value: str | None) -> str | None:
    cur.execute(f"SELECT masking.{rule}(%s)", (value,))  # rule: one of RULES, not input
    return cur.fetchone()[0]


# The documented rules, stated independently of the SQL.
def keep_ends(value: str, head: int, tail: int) -> str:
    hidden = len(value) - head - tail
    if hidden < MIN_HIDDEN:
        return "*" * len(value)
    return value[:head] + "*" * hidden + value[len(value) - tail:]


def expected(rule: str, value: str, compound: frozenset[str]) -> str:
    if rule == "citizen_id":
        return keep_ends(value, 6, 4)
    if rule == "phone":
        return keep_ends(value, 3, 4)
    if rule == "address":
        return value[:6] + "****" if len(value) >= 6 + MIN_HIDDEN else "****"
    surname = 2 if len(value) >= 3 and value[:2] in compound else 1
    return value[:surname] + "*" * (len(value) - surname) if len(value) >= 2 else "*" * len(value)


@pytest.fixture(scope="module")
def compound(pg) -> frozenset[str]:
    pg.execute("SELECT masking.compound_surnames()")
    return frozenset(pg.fetchone()[0])


@pytest.mark.parametrize(("rule", "value", "masked"), [
    ("citizen_id", "360102199001011234", "360102********1234"),
    ("citizen_id", "11010519491231002X", "110105********002X"),
    ("citizen_id", "110105491231002", "110105*****1002"),   # the 15-digit form
    ("citizen_id", "E12345678", "*********"),              # a passport number: too short to show anything
    ("name", "张三", "张*"),
    ("name", "李小龙", "李**"),
    ("name", "欧阳娜娜", "欧阳**"),
    ("name", "诸葛亮", "诸葛*"),
    ("name", "欧阳", "欧*"),                                # two characters: 欧 is the surname
    ("name", "张", "*"),
    ("name", "", ""),
    ("phone", "13800138000", "138****8000"),
    ("phone", "0791-88881234", "079******1234"),
    ("phone", "88881234", "********"),
    ("address", "江西省南昌市东湖区八一大道1号", "江西省南昌市****"),
    ("address", "南昌市东湖区1号", "****"),
])
def test_documented_examples(pg, rule, value, masked):
    assert mask(pg, rule, value) == masked


@pytest.mark.parametrize("rule", RULES)
def test_null_stays_null(pg, rule):
    assert mask(pg, rule, None) is None


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rule=st.sampled_from(RULES), value=ANY_TEXT)
def test_every_rule_equals_its_documented_statement(pg, compound, rule, value):
    assert mask(pg, rule, value) == expected(rule, value, compound)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(surname=st.sampled_from(["欧阳", "司马", "诸葛", "上官", "张", "王", "东"]),
       given_name=st.text(HAN, min_size=0, max_size=3))
def test_names_keep_the_surname_only(pg, compound, surname, given_name):
    name = surname + given_name
    masked = mask(pg, "name", name)
    assert masked == expected("name", name, compound)
    assert len(masked) == len(name)
    kept = masked.rstrip("*")
    assert len(kept) <= 2 and name.startswith(kept)
    if len(name) >= 2:
        assert masked.endswith("*" * (len(name) - len(kept)))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rule=st.sampled_from(["citizen_id", "phone", "address"]),
       value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00*"), max_size=30))
def test_short_values_never_leak(pg, rule, value):
    """At least 4 characters are hidden, or every character is (``****`` for an address)."""
    masked = mask(pg, rule, value)
    shown = sum(1 for c in masked if c != "*")
    assert shown <= max(0, len(value) - MIN_HIDDEN)
    assert shown == 0 or "*" * MIN_HIDDEN in masked


def test_functions_are_immutable_and_parallel_safe(pg):
    pg.execute("SELECT proname, provolatile, proparallel FROM pg_proc "
                "WHERE pronamespace = 'masking'::regnamespace AND proname = ANY(%s) ORDER BY proname", (list(RULES),))
    assert pg.fetchall() == [(r, "i", "s") for r in sorted(RULES)]


def test_the_planner_inlines_every_rule(pg):
    """No function call is left in the plan: the rules cost what their expressions cost."""
    pg.execute("CREATE TEMP TABLE masking_plan (v text)")
    pg.execute("EXPLAIN VERBOSE SELECT masking.citizen_id(v), masking.name(v), masking.phone(v), masking.address(v) "
               "FROM masking_plan")
    plan = "\n".join(r[0] for r in pg.fetchall())
    assert "masking." not in plan and "char_length" in plan


def test_applying_the_ddl_again_changes_nothing(pg):
    before = mask(pg, "citizen_id", "360102199001011234")
    pg.execute((SQL_DIR / "ddl" / "050_masking.sql").read_text(encoding="utf-8"))
    assert mask(pg, "citizen_id", "360102199001011234") == before
