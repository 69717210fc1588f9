"""Grants derived from approved sharing applications (baselib.sharing.grants), proven by logging in
as real consumer roles: what each consumer reads for each sharing type, what is masked and how its
row key maps back, that access ends with the period (and on revocation), that hand-made grants are
removed and recorded, that a second reconcile changes nothing, and that a recreated current view
keeps its consumer views."""
from __future__ import annotations

import datetime as dt
import secrets

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from baselib.catalog import Catalog, EntryError, scan_catalog
from baselib.catalog.model import Item, Sharing, SharingType
from baselib.sharing import consumers as consumers_mod
from baselib.settings import CATALOG_DIR
from baselib.sharing import grants, policy
from baselib.warehouse import schema
from baselib_simulators import macro_economy
from tests.conftest import DAY1
from tests.integration.login_queries import columns, denied, ensure, rows
from tests.integration.pipeline_helpers import catalog_entry, fill_source, run
from tests.integration import sharing_fixtures
from tests.integration.test_sharing_usage import consumer_session  # noqa: F401  (the fixture)

sharing_consumers = sharing_fixtures.sharing_consumers  # the fixture

ZONE = policy.load().zone
PERSON_MASKED = ["_row_key", "id_number", "name", "sex", "ethnicity", "division_code", "address", "registration_status", "updated_at",
                 "_loaded_at"]  # birth_date: personal without a masking rule, left out
PERSON_RAW = ["_row_key", "id_number", "name", "sex", "ethnicity", "birth_date", "division_code", "address", "registration_status",
              "updated_at", "_loaded_at"]


def _today() -> dt.date:
    return dt.datetime.now(ZONE).date()


def _application(dbs, consumer_code: str, resource, *, items=None, personal=False, start=None, end=None,
                 status="approved") -> int:
    """An application row as the applications module would leave it once decided (written here
    directly so that these tests do not depend on that module)."""
    items = items or [i.name for i in resource.items]
    start = start or _today() - dt.timedelta(days=3)
    end = end or _today() + dt.timedelta(days=30)
    return dbs.scalar(
        "INSERT INTO sharing.application (consumer_code, resource_code, provider_code, sharing_type, items, personal, "
        "purpose, legal_basis, period_start, period_end, status, response_limit_days, due_at, decided_at, decided_by, "
        "decision_reason) VALUES (%s, %s, %s, %s, %s, %s, '测试用途', '测试依据', %s, %s, %s, 5, now(), now(), 'test', "
        "'测试') RETURNING application_id",
        (consumer_code, resource.code, resource.provider.code, resource.sharing.type.value, items, personal, start,
         end, status))


def _reconcile(dbs, **kwargs):
    conn = dbs.warehouse()
    try:
        return grants.reconcile(conn, **kwargs)
    finally:
        conn.close()


class World:
    def __init__(self, dbs, declared, person, indicator, pension):
        self.dbs, self.declared = dbs, declared
        self.person, self.indicator, self.pension = person, indicator, pension

    def code(self, short):
        return self.declared.code(short)

    def view(self, short, resource):
        return grants.view_name(f"share_{self.code(short)}", resource)

    def login(self, short):
        return self.declared.login(short)


@pytest.fixture
def world(dbs, sharing_consumers, landing, population):
    """Population (有条件共享, personal items) and the statistical indicators (无条件共享) loaded
    through their pipelines; the pension payments (不予共享) created empty; two consumers with
    their LOGIN roles applied."""
    fill_source(dbs, rows=120)
    assert run(population, DAY1)["status"] == "success"
    macro_economy.write_drop(landing, seed=11)
    indicator = catalog_entry("base_macro_economy.indicator")
    assert run(indicator, DAY1)["status"] == "success"
    pension = catalog_entry("dept_human_resources.pension_payment")
    ensure(dbs, [pension])
    declared = sharing_consumers("tax", "relief")
    conn = dbs.warehouse()
    try:
        consumers_mod.apply_roles(conn)
    finally:
        conn.close()
    return World(dbs, declared, population, indicator, pension)


def test_each_sharing_type_gives_exactly_the_approved_items(dbs, world):
    tax = world.code("tax")
    _application(dbs, tax, world.indicator, items=["unit", "indicator_code", "indicator_name"])
    _application(dbs, tax, world.person)
    refused_by_catalog = _application(dbs, tax, world.pension)  # written by hand: still nothing

    changes = _reconcile(dbs)

    assert {(c.action, c.object) for c in changes if c.action in ("create_view", "drop_view")} == {
        ("create_view", world.view("tax", world.indicator)), ("create_view", world.view("tax", world.person))}
    role = world.declared.role("tax")
    assert sorted((c.role_name, c.action, c.object, c.detail) for c in changes if c.role_name in (role, "sharing_consumer")
                  and c.action not in ("create_view",)) == sorted([
        ("sharing_consumer", "grant", "catalog", "USAGE"),
        ("sharing_consumer", "grant", "catalog.resource", "SELECT"),
        ("sharing_consumer", "grant", "catalog.resource_item", "SELECT"),
        ("sharing_consumer", "grant", "sharing", "USAGE"),
        ("sharing_consumer", "grant", "sharing.my_application", "SELECT"),
        ("sharing_consumer", "grant", "sharing.my_objection", "SELECT"),
        ("sharing_consumer", "grant", grants.REQUIRE_ACTIVE, "EXECUTE"),
        (role, "grant_membership", "sharing_consumer", f"{role} member of sharing_consumer"),
        (role, "create_schema", f"share_{tax}", None),
        (role, "grant", f"share_{tax}", "USAGE"),
        (role, "grant", world.view("tax", world.indicator), "SELECT"),
        (role, "grant", world.view("tax", world.person), "SELECT")])
    as_tax, as_relief = world.login("tax"), world.login("relief")
    # 无条件共享: exactly the approved items in catalog order, SELECT * through the search_path
    assert columns(as_tax, "SELECT * FROM base_macro_economy__indicator") == [
        "_row_key", "indicator_code", "indicator_name", "unit", "_loaded_at"]
    assert sorted(rows(as_tax, "SELECT _row_key, indicator_code, indicator_name, unit FROM base_macro_economy__indicator")) \
        == sorted(dbs.query("SELECT indicator_code, indicator_code, indicator_name, unit "
                            "FROM base_macro_economy.indicator_current"))
    # 有条件共享 without personal-data approval: masked
    assert columns(as_tax, "SELECT * FROM base_population__person") == PERSON_MASKED
    # 不予共享: no view, and nothing underneath
    assert dbs.scalar("SELECT to_regclass(%s)", (world.view("tax", world.pension),)) is None
    assert not any(c.application_id == refused_by_catalog for c in changes)
    for relation in ("dept_human_resources.pension_payment_current", "base_population.person_current",
                     "base_population.person_masked", "base_macro_economy.indicator_current",
                     "base_population.person_history"):
        assert denied(as_tax, f"SELECT * FROM {relation} LIMIT 1"), relation
    # a consumer without an application has no view and cannot read the other's
    assert rows(as_relief, "SELECT count(*) FROM pg_views WHERE schemaname = %s", (f"share_{world.code('relief')}",)) \
        == [(0,)]
    assert denied(as_relief, f"SELECT * FROM {world.view('tax', world.indicator)}")
    assert denied(as_relief, "SELECT * FROM base_macro_economy.indicator_current")
    as_tax.close()
    as_relief.close()


def test_masked_values_hashed_row_keys_and_raw_values_with_personal_approval(dbs, world):
    _application(dbs, world.code("tax"), world.person)  # not personal
    _application(dbs, world.code("relief"), world.person, personal=True)
    _reconcile(dbs)
    as_tax, as_relief = world.login("tax"), world.login("relief")

    masked = rows(as_tax, "SELECT _row_key, id_number, name, address, sex, registration_status "
                           "FROM base_population__person")
    expected = dbs.query("SELECT masking.citizen_id(id_number), masking.name(name), masking.address(address), sex, "
                         "registration_status FROM base_population.person_current")
    assert sorted(m[1:] for m in masked) == sorted(expected)
    raw_ids = {r[0] for r in dbs.query("SELECT id_number FROM base_population.person_current")}
    assert len(masked) == len(raw_ids) > 100
    assert not raw_ids & {m[1] for m in masked} and not raw_ids & {m[0] for m in masked}
    assert all(len(m[0]) == 64 and int(m[0], 16) >= 0 for m in masked)
    assert len({m[0] for m in masked}) == len(masked)
    with dbs.warehouse() as conn, conn.cursor() as cur:
        for row_key, masked_id, *_ in masked[:5]:
            record_key = grants.resolve_row_key(cur, world.code("tax"), world.person, row_key)
            assert record_key in raw_ids and masked_id == record_key[:6] + "********" + record_key[-4:]
        assert grants.resolve_row_key(cur, world.code("tax"), world.person, "0" * 64) is None
        # the tax consumer's hashed key means nothing for another consumer, nor is a raw ID accepted
        assert grants.resolve_row_key(cur, world.code("relief"), world.person, masked[0][0]) is None
        assert grants.resolve_row_key(cur, world.code("tax"), world.person, sorted(raw_ids)[0]) is None
        assert grants.resolve_row_key(cur, world.code("relief"), world.person, sorted(raw_ids)[0]) == sorted(raw_ids)[0]
    conn.close()

    # personal approval: raw values equal to the current rows, the record key as row key
    assert columns(as_relief, "SELECT * FROM base_population__person") == PERSON_RAW
    assert sorted(rows(as_relief, "SELECT _row_key, id_number, name, birth_date, address FROM base_population__person")) \
        == sorted(dbs.query("SELECT id_number, id_number, name, birth_date, address FROM base_population.person_current"))
    as_tax.close()
    as_relief.close()


def test_access_ends_with_the_period_and_on_revocation(dbs, world):
    tax, relief = world.code("tax"), world.code("relief")
    yesterday = _today() - dt.timedelta(days=1)
    ended = _application(dbs, tax, world.indicator, start=yesterday - dt.timedelta(days=5), end=yesterday)
    revoked = _application(dbs, relief, world.indicator)
    # the state of yesterday noon: the application's period covered it
    _reconcile(dbs, now=dt.datetime.combine(yesterday, dt.time(12), ZONE))
    assert dbs.scalar("SELECT to_regclass(%s) IS NOT NULL", (world.view("tax", world.indicator),))
    as_tax, as_relief = world.login("tax"), world.login("relief")

    # the view itself refuses once the period is over, before any reconcile
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match=f"sharing application {ended} ended at"):
        rows(as_tax, "SELECT count(*) FROM base_macro_economy__indicator")
    assert rows(as_relief, "SELECT count(*) FROM base_macro_economy__indicator")[0][0] > 0

    dbs.query("UPDATE sharing.application SET status = 'revoked', revoked_at = now(), revoked_by = 'test', "
              "revoke_reason = '用途已完成' WHERE application_id = %s", (revoked,))
    changes = _reconcile(dbs, run_id="test-run")

    # the consumers' sessions end before their views go: nothing they opened earlier reads on
    assert sorted((c.action, c.object, c.application_id) for c in changes) == sorted([
        ("terminate_sessions", world.declared.role("relief"), None),
        ("drop_view", world.view("relief", world.indicator), revoked),
        ("terminate_sessions", world.declared.role("tax"), None),
        ("drop_view", world.view("tax", world.indicator), ended)])
    for conn in (as_tax, as_relief):
        with pytest.raises(psycopg2.OperationalError):
            rows(conn, "SELECT 1")
        conn.close()
    as_tax, as_relief = world.login("tax"), world.login("relief")
    reasons = dict(dbs.query("SELECT application_id, reason FROM sharing.grant_change WHERE action = 'drop_view' "
                             "AND run_id = 'test-run'"))
    assert reasons == {ended: f"application {ended}: its period ended {yesterday}",
                       revoked: f"application {revoked} revoked: 用途已完成"}
    for conn in (as_tax, as_relief):
        with pytest.raises(psycopg2.errors.UndefinedTable):
            rows(conn, "SELECT count(*) FROM base_macro_economy__indicator")
        conn.close()


def test_a_superseding_application_replaces_the_view(dbs, world):
    tax = world.code("tax")
    first = _application(dbs, tax, world.indicator, items=["indicator_code", "unit"])
    _reconcile(dbs)
    second = _application(dbs, tax, world.indicator, items=["indicator_code", "indicator_name"])
    dbs.query("UPDATE sharing.application SET status = 'superseded', superseded_by = %s WHERE application_id = %s",
              (second, first))

    changes = _reconcile(dbs)

    assert [(c.action, c.application_id) for c in changes] == [("replace_view", second), ("grant", second)]
    as_tax = world.login("tax")
    assert columns(as_tax, "SELECT * FROM base_macro_economy__indicator") == [
        "_row_key", "indicator_code", "indicator_name", "_loaded_at"]
    as_tax.close()


def test_hand_made_grants_are_removed_and_recorded(dbs, world):
    tax, relief = world.code("tax"), world.code("relief")
    _application(dbs, tax, world.indicator)
    _application(dbs, relief, world.person)
    _reconcile(dbs)
    role = world.declared.role("tax")
    dbs.query(f"""
        GRANT USAGE ON SCHEMA ops TO {role};
        GRANT SELECT ON ops.load_run TO {role};
        GRANT base_population_reader TO {role};
        GRANT USAGE ON SCHEMA base_population TO {role};
        GRANT SELECT (sex) ON base_population.person_current TO {role};
        GRANT SELECT ON catalog.resource TO {role} WITH GRANT OPTION;
        GRANT SELECT ON ops.quarantine TO PUBLIC;
        GRANT USAGE ON SCHEMA evaluation TO sharing_consumer;
        GRANT SELECT ON sharing.my_application TO sharing_consumer WITH GRANT OPTION;
    """)
    as_tax = world.login("tax")
    assert rows(as_tax, "SELECT count(*) FROM ops.load_run")[0][0] > 0  # the hand grants work
    assert rows(as_tax, "SELECT count(sex) FROM base_population.person_current")[0][0] > 0
    as_tax.close()

    changes = _reconcile(dbs, run_id="hand-made")

    assert sorted((c.role_name, c.action, c.object, c.detail) for c in changes) == sorted([
        (role, "revoke", "ops", "USAGE"),
        (role, "revoke", "ops.load_run", "SELECT"),
        (role, "revoke_membership", "base_population_reader", f"{role} no longer a member of base_population_reader"),
        (role, "revoke", "base_population", "USAGE"),
        (role, "revoke", "base_population.person_current", "SELECT (sex)"),
        (role, "revoke", "catalog.resource", "SELECT WITH GRANT OPTION"),
        ("PUBLIC", "revoke", "ops.quarantine", "SELECT"),
        ("sharing_consumer", "revoke", "evaluation", "USAGE"),
        ("sharing_consumer", "revoke", "sharing.my_application", "GRANT OPTION FOR SELECT"),
    ])
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE action LIKE 'revoke%%' "
                      "AND reason LIKE '%%not justified%%' AND run_id = 'hand-made'") == len(changes)

    as_tax, as_relief = world.login("tax"), world.login("relief")
    for relation in ("ops.load_run", "ops.quarantine", "evaluation.sync_metrics", "base_population.person_current",
                     "base_population.person_masked", "base_population.person", "sharing.application",
                     "sharing.consumer", "sharing.row_key_secret", "sharing.grant_change",
                     world.view("relief", world.person)):
        assert denied(as_tax, f"SELECT * FROM {relation} LIMIT 1"), relation
    assert denied(as_tax, "SELECT count(sex) FROM base_population.person_current")
    # what every consumer reads: the published catalog and its own applications
    assert rows(as_tax, "SELECT count(*) FROM catalog.resource")[0][0] >= 2
    assert rows(as_tax, "SELECT count(*) FROM catalog.resource_item")[0][0] > 10
    assert rows(as_tax, "SELECT consumer_code, resource_code FROM sharing.my_application") == [
        (tax, world.indicator.code)]
    assert rows(as_relief, "SELECT consumer_code, resource_code FROM sharing.my_application") == [
        (relief, world.person.code)]
    assert dbs.scalar("SELECT has_table_privilege(%s, 'catalog.resource', 'SELECT WITH GRANT OPTION')", (role,)) \
        is False
    as_tax.close()
    as_relief.close()


def test_a_second_reconcile_changes_nothing_and_a_removed_consumer_keeps_nothing(dbs, world):
    tax = world.code("tax")
    _application(dbs, tax, world.indicator)
    _application(dbs, tax, world.person)
    _application(dbs, world.code("relief"), world.person, personal=True)
    first = _reconcile(dbs)
    recorded = dbs.scalar("SELECT count(*) FROM sharing.grant_change")
    assert first and recorded >= len(first)

    assert _reconcile(dbs) == []
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change") == recorded

    # a view edited by hand (its comment kept) is made again
    view = world.view("tax", world.indicator)
    dbs.query(f"CREATE OR REPLACE VIEW {view} AS SELECT indicator_code::text AS _row_key, indicator_code, "
              "indicator_name, unit, additive, frequency, loaded_at AS _loaded_at "
              "FROM base_macro_economy.indicator_current")  # without sharing.require_active
    assert [(c.action, c.object) for c in _reconcile(dbs)] == [("replace_view", view), ("grant", view)]
    assert "require_active" in dbs.scalar("SELECT pg_get_viewdef(%s::regclass)", (view,))

    # the tax consumer is removed from the consumers file
    conn = dbs.warehouse()
    try:
        consumers_mod.apply_roles(conn, [c for c in consumers_mod.load() if c.code != tax])
    finally:
        conn.close()
    changes = _reconcile(dbs)

    role = world.declared.role("tax")
    assert sorted((c.action, c.object) for c in changes if c.role_name == role) == sorted([
        ("drop_view", world.view("tax", world.indicator)), ("drop_view", world.view("tax", world.person)),
        ("revoke_membership", "sharing_consumer"), ("revoke", f"share_{tax}"), ("drop_schema", f"share_{tax}")])
    assert all(c.role_name == role for c in changes)
    assert dbs.scalar("SELECT count(*) FROM pg_auth_members WHERE member = %s::regrole", (role,)) == 0
    assert dbs.scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)) is False
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        world.login("tax")
    assert _reconcile(dbs) == []
    as_relief = world.login("relief")
    assert rows(as_relief, "SELECT count(*) FROM base_population__person")[0][0] > 100
    as_relief.close()


def test_a_broken_catalog_entry_keeps_its_consumer_views(dbs, world, tmp_path):
    _application(dbs, world.code("tax"), world.person)
    _reconcile(dbs)
    scanned = scan_catalog()
    broken = tmp_path / "base_population_person.yaml"
    broken.write_text((CATALOG_DIR / "base_population_person.yaml").read_text(encoding="utf-8")
                      .replace("type: 有条件共享", "type: 随便共享"), encoding="utf-8")
    catalog = Catalog([r for r in scanned.resources if r.code != world.person.code],
                      [EntryError(broken, f"{broken}: field 'sharing.type': not a sharing type")])

    assert _reconcile(dbs, catalog=catalog) == []
    as_tax = world.login("tax")
    assert rows(as_tax, "SELECT count(*) FROM base_population__person")[0][0] > 100
    as_tax.close()


def test_a_recreated_current_view_keeps_its_consumer_views(dbs, world):
    _application(dbs, world.code("tax"), world.person)
    _application(dbs, world.code("relief"), world.person, personal=True)
    _reconcile(dbs)
    before = dbs.scalar("SELECT count(*) FROM sharing.grant_change")
    # an item added in the middle: the current view's columns move, so it is dropped and recreated
    phone = Item(name="phone", label="联系电话", type="C", length=20, personal=True, mask="phone")
    items = list(world.person.items)
    grown = world.person.model_copy(update={"items": [*items[:3], phone, *items[3:]]})

    ensure(dbs, [grown])

    assert dbs.scalar("SELECT attname FROM pg_attribute WHERE attrelid = 'base_population.person_current'::regclass "
                      "AND attnum = 5") == "phone"
    assert sorted(dbs.query("SELECT action, object FROM sharing.grant_change WHERE change_id > %s", (before,))) == [
        ("replace_view", world.view("relief", world.person)), ("replace_view", world.view("tax", world.person))]
    as_tax, as_relief = world.login("tax"), world.login("relief")
    assert columns(as_tax, "SELECT * FROM base_population__person") == PERSON_MASKED
    assert rows(as_tax, "SELECT count(*) FROM base_population__person")[0][0] > 100
    assert columns(as_relief, "SELECT * FROM base_population__person") == PERSON_RAW
    as_tax.close()
    as_relief.close()
    # the views were rebuilt as the reconcile builds them: it has nothing to do
    assert _reconcile(dbs) == []


def test_describe_access_marks_each_column(dbs, world):
    _application(dbs, world.code("tax"), world.person)
    relief_app = _application(dbs, world.code("relief"), world.person, personal=True)
    _reconcile(dbs)
    conn = dbs.warehouse()
    try:
        accesses = grants.describe_access(conn)
    finally:
        conn.close()

    by_code = {a.consumer_code: a for a in accesses}
    tax = by_code[world.code("tax")]
    marks = {c.name: c.mark for c in tax.views[0].columns}
    assert marks["_row_key"] == "row key (hashed)" and marks["id_number"] == "masked (citizen_id)"
    assert marks["sex"] == "raw" and "birth_date" not in marks
    relief = by_code[world.code("relief")].views[0]
    assert relief.application_id == relief_app and {c.mark for c in relief.columns} == {"row key", "raw", "load time"}
    assert relief.access_ends == dt.datetime.combine(_today() + dt.timedelta(days=31), dt.time(), ZONE)
    text = grants.format_access(accesses)
    assert f"login role {world.declared.role('tax')} (can log in)" in text
    assert "id_number [masked (citizen_id)]" in text and "_row_key [row key (hashed)]" in text
    assert f"application {relief_app}, access ends" in text


def test_a_resource_that_becomes_not_shared_loses_its_consumer_views_with_its_ddl(dbs, world):
    _application(dbs, world.code("tax"), world.person)
    _reconcile(dbs)
    before = dbs.scalar("SELECT count(*) FROM sharing.grant_change")
    secret = world.person.model_copy(update={"sharing": Sharing(
        type=SharingType.not_shared, condition="《测试》第一条：不予共享", method=world.person.sharing.method)})

    ensure(dbs, [secret])

    assert dbs.scalar("SELECT to_regclass(%s)", (world.view("tax", world.person),)) is None
    assert dbs.query("SELECT action, object, reason FROM sharing.grant_change WHERE change_id > %s", (before,)) == [
        ("drop_view", world.view("tax", world.person), f"{world.person.code} is 不予共享 in the catalog")]


# --- access ends on time, and nothing a consumer holds open keeps it -----------------------------


def test_access_ends_at_the_statement_time_even_inside_a_transaction_opened_earlier(dbs, world):
    """sharing.require_active compares the statement's start with ends_at, not the transaction's:
    a consumer that opened its transaction before the end cannot keep reading after it."""
    app = _application(dbs, world.code("tax"), world.indicator)
    _reconcile(dbs)
    as_tax = world.login("tax")
    as_tax.autocommit = False
    with as_tax.cursor() as cur:
        cur.execute("SELECT count(*) FROM base_macro_economy__indicator")  # inside its period: fine
        cur.execute("SELECT now() + interval '1 millisecond'")
        ends_at = cur.fetchone()[0]      # access "ends" 1 ms after the transaction began
        cur.execute("SELECT pg_sleep(0.05)")  # the end passes (no race: 50 ms > 1 ms)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="its access has ended"):
            cur.execute("SELECT sharing.require_active(%s, %s)", (app, ends_at))
    as_tax.rollback()
    as_tax.close()


def test_a_consumer_holding_a_transaction_open_on_its_view_is_ended_when_the_view_goes(dbs, world):
    """A consumer that keeps a transaction open on its view holds a lock the reconcile's DROP VIEW
    waits for, and reads on after the revocation: the reconcile ends its sessions first (recorded)."""
    revoked = _application(dbs, world.code("tax"), world.indicator)
    _reconcile(dbs)
    as_tax = world.login("tax")
    as_tax.autocommit = False
    assert rows(as_tax, "SELECT count(*) FROM base_macro_economy__indicator")[0][0] > 0  # lock held from now on
    dbs.query("UPDATE sharing.application SET status = 'revoked', revoked_at = now(), revoked_by = 'test', "
              "revoke_reason = '违规使用' WHERE application_id = %s", (revoked,))

    changes = _reconcile(dbs, run_id="idle-tx")

    role = world.declared.role("tax")
    assert [(c.action, c.object) for c in changes] == [
        ("terminate_sessions", role), ("drop_view", world.view("tax", world.indicator))]
    assert changes[0].detail == "1 session(s) ended"
    with pytest.raises(psycopg2.OperationalError):
        rows(as_tax, "SELECT count(*) FROM base_macro_economy__indicator")
    as_tax.close()
    assert dbs.scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)) == 0
    assert _reconcile(dbs) == []


def test_a_lock_held_on_a_view_makes_the_reconcile_give_up_and_free_the_ddl_lock(dbs, world):
    """Someone other than the consumer (not ended) holds a lock on a view the reconcile must drop:
    each attempt waits lock_timeout only, rolls back (the DDL lock the pipelines need is free
    again), and after the last attempt LockNotAvailable propagates with nothing changed."""
    revoked = _application(dbs, world.code("tax"), world.indicator)
    _reconcile(dbs)
    view = world.view("tax", world.indicator)
    dbs.query("UPDATE sharing.application SET status = 'revoked', revoked_at = now(), revoked_by = 'test', "
              "revoke_reason = '测试' WHERE application_id = %s", (revoked,))
    holder = dbs.warehouse()
    try:
        with holder.cursor() as cur:
            cur.execute(f"LOCK TABLE {view} IN ACCESS SHARE MODE")  # held until holder ends its transaction
        with pytest.raises(psycopg2.errors.LockNotAvailable):
            _reconcile(dbs, run_id="locked", lock_timeout="100ms", attempts=2)
        assert dbs.scalar("SELECT to_regclass(%s) IS NOT NULL", (view,))
        assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE run_id = 'locked'") == 0
        assert dbs.scalar("SELECT pg_try_advisory_xact_lock(%s)", (schema.DDL_LOCK_KEY,)) is True
    finally:
        holder.rollback()
        holder.close()
    assert [(c.action, c.object) for c in _reconcile(dbs)] == [("drop_view", view)]


# --- privileges the reconcile must also find -----------------------------------------------------


@pytest.fixture
def helper_role(dbs):
    """A NOLOGIN role unique to the test (roles are cluster-wide), dropped afterwards."""
    name = f"grantor_{secrets.token_hex(3)}"
    dbs.query(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)).as_string(dbs.warehouse()))
    yield name
    conn = dbs.warehouse()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    conn.close()


def test_a_grant_made_by_another_grantor_is_revoked_as_that_grantor(dbs, world, helper_role):
    """A REVOKE only removes what its issuer granted: grants made by a role holding the grant option
    (to a consumer, to the group, to PUBLIC) are revoked as that role, recorded with their grantor,
    and gone; the next run has nothing to do."""
    _application(dbs, world.code("tax"), world.indicator)
    _reconcile(dbs)
    role = world.declared.role("tax")
    dbs.query(f"""
        GRANT USAGE ON SCHEMA base_population TO {helper_role} WITH GRANT OPTION;
        GRANT SELECT ON base_population.person_current TO {helper_role} WITH GRANT OPTION;
        GRANT USAGE ON SCHEMA ops TO {helper_role};
        GRANT SELECT ON ops.quarantine TO {helper_role} WITH GRANT OPTION;
        SET ROLE {helper_role};
        GRANT USAGE ON SCHEMA base_population TO {role};
        GRANT SELECT ON base_population.person_current TO {role};
        GRANT SELECT (sex) ON base_population.person_current TO sharing_consumer;
        GRANT SELECT ON ops.quarantine TO PUBLIC;
        RESET ROLE;
    """)
    changes = _reconcile(dbs)

    assert sorted((c.role_name, c.action, c.object, c.detail) for c in changes) == sorted([
        (role, "revoke", "base_population", f"USAGE granted by {helper_role}"),
        (role, "revoke", "base_population.person_current", f"SELECT granted by {helper_role}"),
        ("sharing_consumer", "revoke", "base_population.person_current", f"SELECT (sex) granted by {helper_role}"),
        ("PUBLIC", "revoke", "ops.quarantine", f"SELECT granted by {helper_role}"),
    ])
    as_tax = world.login("tax")
    assert denied(as_tax, "SELECT id_number FROM base_population.person_current LIMIT 1")
    assert denied(as_tax, "SELECT count(*) FROM ops.quarantine")
    as_tax.close()
    assert _reconcile(dbs) == []


def test_default_privileges_for_consumers_the_group_or_public_are_removed(dbs, world):
    """ALTER DEFAULT PRIVILEGES … TO a consumer, the group, or PUBLIC in a guarded schema would
    give them every table created later: removed and recorded; tables made afterwards stay closed."""
    role = world.declared.role("tax")
    dbs.query(f"ALTER DEFAULT PRIVILEGES IN SCHEMA base_population GRANT SELECT ON TABLES TO {role};"
              f"ALTER DEFAULT PRIVILEGES GRANT USAGE ON SEQUENCES TO {role};"
              "ALTER DEFAULT PRIVILEGES IN SCHEMA ops GRANT SELECT ON TABLES TO sharing_consumer;"
              "ALTER DEFAULT PRIVILEGES IN SCHEMA base_macro_economy GRANT SELECT ON TABLES TO PUBLIC;")
    changes = _reconcile(dbs)

    assert sorted((c.role_name, c.action, c.object) for c in changes if "DEFAULT" in (c.detail or "")) == sorted([
        (role, "revoke", "base_population"), (role, "revoke", "(all schemas)"),
        ("sharing_consumer", "revoke", "ops"), ("PUBLIC", "revoke", "base_macro_economy")])
    assert dbs.scalar("SELECT count(*) FROM pg_default_acl AS d, aclexplode(d.defaclacl) AS a "
                      "WHERE a.grantee IN (%s::regrole, 'sharing_consumer'::regrole, 0)", (role,)) == 0
    dbs.query("CREATE TABLE base_population.later AS SELECT 1 AS x; CREATE TABLE ops.later AS SELECT 1 AS x")
    assert dbs.scalar("SELECT has_table_privilege(%s, 'base_population.later', 'SELECT')", (role,)) is False
    assert dbs.scalar("SELECT has_table_privilege(%s, 'ops.later', 'SELECT')", (role,)) is False
    assert _reconcile(dbs) == []


def test_consumers_hold_only_connect_on_the_database_and_public_creates_nothing_in_guarded_schemas(dbs, world):
    """CREATE on the database (schemas of its own), TEMPORARY (temporary views that read shared
    data unmeasured; PUBLIC holds it by default) and CREATE on a guarded schema granted to PUBLIC
    are revoked and recorded; the engine, the database's owner, still makes temporary tables."""
    role = world.declared.role("tax")
    db = dbs.scalar("SELECT current_database()")
    dbs.query(sql.SQL("GRANT CREATE, TEMPORARY ON DATABASE {db} TO {role}; GRANT CREATE ON DATABASE {db} TO "
                      "sharing_consumer; GRANT CREATE ON SCHEMA catalog TO PUBLIC; "
                      "GRANT CREATE ON SCHEMA base_population TO PUBLIC").format(
        db=sql.Identifier(db), role=sql.Identifier(role)).as_string(dbs.warehouse()))
    changes = _reconcile(dbs)

    assert sorted((c.role_name, c.object, c.detail) for c in changes if c.action == "revoke") == sorted([
        (role, f"database {db}", "CREATE"), (role, f"database {db}", "TEMPORARY"),
        ("sharing_consumer", f"database {db}", "CREATE"), ("PUBLIC", f"database {db}", "TEMPORARY"),
        ("PUBLIC", "catalog", "CREATE"), ("PUBLIC", "base_population", "CREATE")])
    for privilege in ("CREATE", "TEMPORARY"):
        assert dbs.scalar("SELECT has_database_privilege(%s, current_database(), %s)", (role, privilege)) is False
    assert dbs.scalar("SELECT has_database_privilege(%s, current_database(), 'CONNECT')", (role,)) is True
    for schema_name in ("catalog", "base_population"):
        assert dbs.scalar("SELECT has_schema_privilege(%s, %s, 'CREATE')", (role, schema_name)) is False
    as_tax = world.login("tax")
    assert denied(as_tax, "CREATE TEMP TABLE t AS SELECT 1")
    assert denied(as_tax, "CREATE SCHEMA mine")
    as_tax.close()
    dbs.query("CREATE TEMP TABLE engine_scratch AS SELECT 1 AS x")  # the owner: still fine
    assert _reconcile(dbs) == []


def test_a_consumer_cannot_read_through_a_temporary_view(dbs, consumer_session):  # noqa: F811
    """A temporary view over a consumer view would be read without the collection seeing the
    shared view's name: consumers cannot create temporary objects at all."""
    conn, session, code, catalog = consumer_session
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with session.cursor() as cur:
            cur.execute("CREATE TEMP VIEW p AS SELECT * FROM base_population__person")


# --- what one consumer learns about another ------------------------------------------------------


def test_other_consumers_see_no_application_of_a_consumer_in_comments(dbs, world):
    """pg_class and pg_description are readable by every role: the engine keeps what it made a view
    from in sharing.consumer_view (closed to consumers), not in a comment on the view."""
    app = _application(dbs, world.code("tax"), world.person)
    _reconcile(dbs)
    as_relief = world.login("relief")
    comments = rows(as_relief, "SELECT obj_description(c.oid, 'pg_class') FROM pg_class AS c "
                               "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = %s",
                    (f"share_{world.code('tax')}",))
    assert comments == [(None,)]
    assert denied(as_relief, "SELECT * FROM sharing.consumer_view")
    as_relief.close()
    assert dbs.query("SELECT view_name, application_id FROM sharing.consumer_view") == [
        (world.view("tax", world.person), app)]


# --- row keys ------------------------------------------------------------------------------------


def test_a_raw_personal_key_is_accepted_only_while_a_personal_application_is_active(dbs, world):
    """Once the personal application is revoked (or ends, or is superseded) the consumer sees hashed
    keys again, so a raw citizen ID from it resolves to nothing, whatever it had before."""
    personal = _application(dbs, world.code("relief"), world.person, personal=True)
    _reconcile(dbs)
    some_id = dbs.scalar("SELECT min(id_number) FROM base_population.person_current")
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            assert grants.resolve_row_key(cur, world.code("relief"), world.person, some_id) == some_id
            cur.execute("UPDATE sharing.application SET status = 'revoked', revoked_at = now(), revoked_by = 'test', "
                        "revoke_reason = '测试' WHERE application_id = %s", (personal,))
            assert grants.resolve_row_key(cur, world.code("relief"), world.person, some_id) is None
            masked = _application(dbs, world.code("relief"), world.person)  # not personal, active
            assert grants.resolve_row_key(cur, world.code("relief"), world.person, some_id) is None
            cur.execute("UPDATE sharing.application SET status = 'approved' WHERE application_id = %s", (personal,))
            cur.execute("DELETE FROM sharing.application WHERE application_id = %s", (masked,))
            later = dt.datetime.combine(_today() + dt.timedelta(days=60), dt.time(12), ZONE)  # after its period
            assert grants.resolve_row_key(cur, world.code("relief"), world.person, some_id, now=later) is None
    finally:
        conn.rollback()
        conn.close()


def test_revoke_as_grantor_restores_the_callers_role(dbs):
    """A reconcile run under SET ROLE (an engine login acting as the warehouse owner) that revokes a
    grant as its grantor comes back to the role it had, for the rest of the reconcile and after the
    commit (a RESET ROLE would leave it as its session user, here the superuser)."""
    tag = secrets.token_hex(3)
    engine, grantor = f"r5_engine_{tag}", f"r5_grantor_{tag}"
    conn = psycopg2.connect(dbs.warehouse_uri)
    cur = conn.cursor()
    cur.execute(sql.SQL("CREATE ROLE {e} NOLOGIN; CREATE ROLE {g} NOLOGIN; GRANT {g} TO {e}").format(
        e=sql.Identifier(engine), g=sql.Identifier(grantor)))
    conn.commit()
    try:
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(engine)))
        conn.commit()
        grants._revoke(cur, None, grantor, False, sql.SQL("SELECT 1"))
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == engine
        conn.commit()
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == engine
    finally:
        conn.rollback()
        cur.execute("RESET ROLE")
        cur.execute(sql.SQL("DROP ROLE {}; DROP ROLE {}").format(sql.Identifier(engine), sql.Identifier(grantor)))
        conn.commit()
        conn.close()
