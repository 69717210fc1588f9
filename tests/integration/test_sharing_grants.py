"""Grants derived from approved sharing applications (baselib.sharing.grants), proven by logging in
as real consumer roles: what each consumer reads for each sharing type, what is masked and how its
row key maps back, that access ends with the period (and on revocation), that hand-made grants are
removed and recorded, that a second reconcile changes nothing, and that a recreated current view
keeps its consumer views."""
from __future__ import annotations

import datetime as dt

import psycopg2
import psycopg2.errors
import pytest

from baselib.catalog import Catalog, EntryError, scan_catalog
from baselib.catalog.model import Item, Sharing, SharingType
from baselib.sharing import consumers as consumers_mod
from baselib.settings import CATALOG_DIR
from baselib.sharing import grants, policy
from baselib.warehouse import schema
from baselib_simulators import macro_economy
from tests.conftest import DAY1
from tests.integration.pipeline_helpers import catalog_entry, fill_source, run
from tests.integration import sharing_fixtures

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


def _rows(conn, query: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _columns(conn, query: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(query)
        return [d.name for d in cur.description]


def _denied(conn, query: str) -> bool:
    try:
        _rows(conn, query)
    except psycopg2.errors.InsufficientPrivilege:
        return True
    return False


def _ensure(dbs, resources) -> None:
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, resources)
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
    _ensure(dbs, [pension])
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
    assert _columns(as_tax, "SELECT * FROM base_macro_economy__indicator") == [
        "_row_key", "indicator_code", "indicator_name", "unit", "_loaded_at"]
    assert sorted(_rows(as_tax, "SELECT _row_key, indicator_code, indicator_name, unit FROM base_macro_economy__indicator")) \
        == sorted(dbs.query("SELECT indicator_code, indicator_code, indicator_name, unit "
                            "FROM base_macro_economy.indicator_current"))
    # 有条件共享 without personal-data approval: masked
    assert _columns(as_tax, "SELECT * FROM base_population__person") == PERSON_MASKED
    # 不予共享: no view, and nothing underneath
    assert dbs.scalar("SELECT to_regclass(%s)", (world.view("tax", world.pension),)) is None
    assert not any(c.application_id == refused_by_catalog for c in changes)
    for relation in ("dept_human_resources.pension_payment_current", "base_population.person_current",
                     "base_population.person_masked", "base_macro_economy.indicator_current",
                     "base_population.person_history"):
        assert _denied(as_tax, f"SELECT * FROM {relation} LIMIT 1"), relation
    # a consumer without an application has no view and cannot read the other's
    assert _rows(as_relief, "SELECT count(*) FROM pg_views WHERE schemaname = %s", (f"share_{world.code('relief')}",)) \
        == [(0,)]
    assert _denied(as_relief, f"SELECT * FROM {world.view('tax', world.indicator)}")
    assert _denied(as_relief, "SELECT * FROM base_macro_economy.indicator_current")
    as_tax.close()
    as_relief.close()


def test_masked_values_hashed_row_keys_and_raw_values_with_personal_approval(dbs, world):
    _application(dbs, world.code("tax"), world.person)  # not personal
    _application(dbs, world.code("relief"), world.person, personal=True)
    _reconcile(dbs)
    as_tax, as_relief = world.login("tax"), world.login("relief")

    masked = _rows(as_tax, "SELECT _row_key, id_number, name, address, sex, registration_status "
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
    assert _columns(as_relief, "SELECT * FROM base_population__person") == PERSON_RAW
    assert sorted(_rows(as_relief, "SELECT _row_key, id_number, name, birth_date, address FROM base_population__person")) \
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
        _rows(as_tax, "SELECT count(*) FROM base_macro_economy__indicator")
    assert _rows(as_relief, "SELECT count(*) FROM base_macro_economy__indicator")[0][0] > 0

    dbs.query("UPDATE sharing.application SET status = 'revoked', revoked_at = now(), revoked_by = 'test', "
              "revoke_reason = '用途已完成' WHERE application_id = %s", (revoked,))
    changes = _reconcile(dbs, run_id="test-run")

    assert sorted((c.action, c.object, c.application_id) for c in changes) == [
        ("drop_view", world.view("relief", world.indicator), revoked),
        ("drop_view", world.view("tax", world.indicator), ended)]
    reasons = dict(dbs.query("SELECT application_id, reason FROM sharing.grant_change WHERE action = 'drop_view' "
                             "AND run_id = 'test-run'"))
    assert reasons == {ended: f"application {ended}: its period ended {yesterday}",
                       revoked: f"application {revoked} revoked: 用途已完成"}
    for conn in (as_tax, as_relief):
        with pytest.raises(psycopg2.errors.UndefinedTable):
            _rows(conn, "SELECT count(*) FROM base_macro_economy__indicator")
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
    assert _columns(as_tax, "SELECT * FROM base_macro_economy__indicator") == [
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
    assert _rows(as_tax, "SELECT count(*) FROM ops.load_run")[0][0] > 0  # the hand grants work
    assert _rows(as_tax, "SELECT count(sex) FROM base_population.person_current")[0][0] > 0
    as_tax.close()

    changes = _reconcile(dbs)

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
                      "AND reason LIKE '%%not justified%%'") == len(changes)

    as_tax, as_relief = world.login("tax"), world.login("relief")
    for relation in ("ops.load_run", "ops.quarantine", "evaluation.sync_metrics", "base_population.person_current",
                     "base_population.person_masked", "base_population.person", "sharing.application",
                     "sharing.consumer", "sharing.row_key_secret", "sharing.grant_change",
                     world.view("relief", world.person)):
        assert _denied(as_tax, f"SELECT * FROM {relation} LIMIT 1"), relation
    assert _denied(as_tax, "SELECT count(sex) FROM base_population.person_current")
    # what every consumer reads: the published catalog and its own applications
    assert _rows(as_tax, "SELECT count(*) FROM catalog.resource")[0][0] >= 2
    assert _rows(as_tax, "SELECT count(*) FROM catalog.resource_item")[0][0] > 10
    assert _rows(as_tax, "SELECT consumer_code, resource_code FROM sharing.my_application") == [
        (tax, world.indicator.code)]
    assert _rows(as_relief, "SELECT consumer_code, resource_code FROM sharing.my_application") == [
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
    assert _rows(as_relief, "SELECT count(*) FROM base_population__person")[0][0] > 100
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
    assert _rows(as_tax, "SELECT count(*) FROM base_population__person")[0][0] > 100
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

    _ensure(dbs, [grown])

    assert dbs.scalar("SELECT attname FROM pg_attribute WHERE attrelid = 'base_population.person_current'::regclass "
                      "AND attnum = 5") == "phone"
    assert sorted(dbs.query("SELECT action, object FROM sharing.grant_change WHERE change_id > %s", (before,))) == [
        ("replace_view", world.view("relief", world.person)), ("replace_view", world.view("tax", world.person))]
    as_tax, as_relief = world.login("tax"), world.login("relief")
    assert _columns(as_tax, "SELECT * FROM base_population__person") == PERSON_MASKED
    assert _rows(as_tax, "SELECT count(*) FROM base_population__person")[0][0] > 100
    assert _columns(as_relief, "SELECT * FROM base_population__person") == PERSON_RAW
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

    _ensure(dbs, [secret])

    assert dbs.scalar("SELECT to_regclass(%s)", (world.view("tax", world.person),)) is None
    assert dbs.query("SELECT action, object, reason FROM sharing.grant_change WHERE change_id > %s", (before,)) == [
        ("drop_view", world.view("tax", world.person), f"{world.person.code} is 不予共享 in the catalog")]
