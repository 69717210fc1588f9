"""Data objections (数据异议) against the real warehouse and the real pipeline: raised by a real key
and by a consumer's hashed row key, refused with clear errors, confirmed or rejected by the
provider within working days counted across the National Day holiday, resolved inside the
transaction of the load that changes the value (and only that one), overdue judged at ``now``,
the per-provider evaluation view, and the ``objection`` CLI.

Consumers are rows of sharing.consumer inserted by the test (nothing here logs in); their
application is filed and approved through baselib.sharing.applications."""
from __future__ import annotations

import argparse
import datetime as dt
import zoneinfo
from types import SimpleNamespace

import psycopg2.errors
import pytest

from baselib.catalog import load_catalog, scan_catalog
from baselib.catalog.model import SharingType
from baselib.errors import SharingError
from baselib.sharing import applications, grants, objection_cli, objections
from baselib.warehouse import schema
from tests.conftest import DAY1, DAY2
from tests.integration.pipeline_helpers import fill_source, run
from tests.integration.sharing_fixtures import register_consumers

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc
POPULATION = "101001/000001"
PROVIDER = "11360000014400005D"  # 省公安厅
DAY3 = (DAY2[1], DAY2[1] + dt.timedelta(days=1))
ITEMS = ["id_number", "name", "sex", "division_code", "address", "registration_status"]  # not ethnicity


def local(y, m, d, h=10, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=SHANGHAI)


RAISED = local(2026, 11, 2)  # a Monday


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def wh(dbs, population, catalog):
    """The population loaded (300 people); consumer ``tax`` holds an approved application for
    ITEMS (masked: not personal) from 2026-09-01 to 2026-12-31; consumer ``relief`` holds none."""
    fill_source(dbs, rows=300)
    assert run(population, DAY1)["status"] == "success"
    conn = dbs.warehouse()
    schema.ensure(conn, [])
    register_consumers(conn, "tax", "relief")
    app = applications.apply(conn, consumer_code="tax", resource_code=POPULATION, items=ITEMS, purpose="核验纳税人身份",
                             legal_basis="《中华人民共和国税收征收管理法》第五条", period_start=dt.date(2026, 9, 1),
                             period_end=dt.date(2026, 12, 31), now=local(2026, 8, 27), catalog=catalog)
    applications.approve(conn, app.application_id, by="省公安厅 数据管理处", now=local(2026, 8, 28))
    yield conn
    conn.close()


def people(dbs, n: int) -> list[tuple[str, str, str]]:
    """``n`` live people (id_number, name, address) that no simulated defect touches, by key."""
    return dbs.query("SELECT id_number, name, address FROM base_population.person_current "
                     "WHERE address IS NOT NULL ORDER BY id_number LIMIT %s", (n,))


def row_key_of(conn, key: str, consumer: str = "tax") -> str:
    """The _row_key ``consumer`` reads for ``key`` in a view with hashed keys (id_number is personal
    and its application does not include personal data): B's template, computed here."""
    with conn.cursor() as cur:
        cur.execute("SELECT encode(sha256(convert_to((SELECT secret FROM sharing.row_key_secret) || '|' || %s || '|' "
                    "|| %s, 'UTF8')), 'hex')", (consumer, key))
        found = cur.fetchone()[0]
    conn.rollback()
    return found


def raise_(conn, catalog, key, item="address", now=RAISED, consumer="tax", **kwargs):
    """Raise as ``consumer`` (default tax, which sees hashed keys) on the row whose record key is
    ``key``, named by the consumer's _row_key (unless ``record_key`` or ``row_key`` is given)."""
    args = dict(consumer_code=consumer, resource_code=POPULATION, item=item, value_seen="某地址****",
                value_expected="南昌市东湖区八一大道 1 号", evidence="不动产登记证明 赣(2026)南昌市不动产权第 0001 号",
                now=now, catalog=catalog)
    if "record_key" not in kwargs and "row_key" not in kwargs:
        args["row_key"] = None if key is None else row_key_of(conn, key, consumer)
    args.update(kwargs)
    return objections.raise_objection(conn, **args)


def file_application(conn, catalog, consumer: str, *, personal: bool, start: dt.date, end: dt.date,
                     filed: dt.datetime, items=ITEMS) -> int:
    """An approved application of ``consumer`` for the population (approved the day after filing)."""
    app = applications.apply(conn, consumer_code=consumer, resource_code=POPULATION, items=list(items),
                             purpose="社会救助核对", legal_basis="《社会救助暂行办法》", period_start=start, period_end=end,
                             personal=personal, now=filed, catalog=catalog)
    applications.approve(conn, app.application_id, by="省公安厅 数据管理处", now=filed + dt.timedelta(days=1))
    return app.application_id


def change_source(dbs, at: dt.datetime, updates: dict[str, dict[str, str]]) -> None:
    """Set the given columns of the given people at the public-security source, updated at ``at``."""
    for id_number, values in updates.items():
        assignments = ", ".join(f"{column} = %s" for column in values)  # column names come from the test
        dbs.query(f"UPDATE frontend.population_person SET {assignments}, updated_at = %s WHERE id_number = %s",
                  (*values.values(), at, id_number), db="source")


def status(dbs, objection_id: int) -> tuple:
    return dbs.query("SELECT status, resolved_at, resolved_by_load_id FROM sharing.objection WHERE objection_id = %s",
                     (objection_id,))[0]


def opened_at(dbs, id_number: str, load_id: int) -> dt.datetime:
    return dbs.scalar("SELECT _valid_from FROM base_population.person_history WHERE id_number = %s AND _load_id = %s",
                      (id_number, load_id))


def test_raise_is_routed_to_the_provider_with_its_due_time(dbs, wh, catalog):
    [(key, _, _)] = people(dbs, 1)
    o = raise_(wh, catalog, key)
    assert (o.status, o.consumer_code, o.resource_code, o.provider_code, o.record_key, o.row_key, o.item_name) == \
        ("open", "tax", POPULATION, PROVIDER, key, row_key_of(wh, key), "address")
    # 5 working days after Monday 2 November: Tue 3 … Mon 9, so due at 00:00 on Tuesday 10 November
    assert o.answer_due_at == local(2026, 11, 10, 0)
    assert o.working_days_to_answer is None and not o.overdue
    # by the target table too (another item: the same objection twice is refused)
    assert raise_(wh, catalog, key, item="name", resource_code="base_population.person").resource_code == POPULATION


def test_raise_by_the_consumers_hashed_row_key(dbs, wh, catalog):
    [(key, _, _)] = people(dbs, 1)
    row_key = row_key_of(wh, key)
    o = raise_(wh, catalog, None, row_key=row_key)
    assert (o.record_key, o.row_key) == (key, row_key)
    with pytest.raises(SharingError, match="is not a row of 101001/000001"):
        raise_(wh, catalog, None, row_key="0" * 64)
    # the raw key is not what this consumer's view shows
    with pytest.raises(SharingError, match="is not a row"):
        raise_(wh, catalog, None, row_key=key)


def test_raise_by_record_key_where_the_consumer_sees_raw_keys(dbs, wh, catalog):
    """relief's application includes personal data: its view shows id_number raw as _row_key, so
    it may name the row by its record key or by that raw _row_key."""
    (a, _, _), (b, _, _) = people(dbs, 2)
    file_application(wh, catalog, "relief", personal=True, start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 31),
                     filed=local(2026, 10, 28))
    by_key = raise_(wh, catalog, None, consumer="relief", record_key=a)
    assert (by_key.record_key, by_key.row_key) == (a, None)
    by_row_key = raise_(wh, catalog, None, consumer="relief", row_key=b)
    assert (by_row_key.record_key, by_row_key.row_key) == (b, b)
    with pytest.raises(SharingError, match="no current row of 101001/000001 .* has the key '360102199001011234'"):
        raise_(wh, catalog, None, consumer="relief", record_key="360102199001011234")


def test_a_consumer_that_sees_hashed_keys_cannot_probe_raw_personal_keys(dbs, wh, catalog):
    """(Reviews R1 #9, R2 #3.) tax's view shows hashed _row_keys (id_number is personal, its
    application is not): a raw record key from it is refused with the same message whether or not
    a citizen with that ID exists, so objections are no oracle of the population register; nothing
    is stored. relief, which once held a personal application (revoked) and now a masked one, gets
    no answer either when it passes a raw key as its row key: the same refusal as for an unknown one."""
    [(existing, _, _)] = people(dbs, 1)
    unknown = "360102199001011234"
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE id_number = %s", (unknown,)) == 0

    def refusal(key) -> str:
        with pytest.raises(SharingError, match="_row_key") as caught:
            raise_(wh, catalog, None, record_key=key)
        return str(caught.value)

    assert refusal(existing) == refusal(unknown)
    assert "hashed _row_key" in refusal(existing) and existing not in refusal(existing)

    personal = file_application(wh, catalog, "relief", personal=True, start=dt.date(2026, 10, 8),
                                end=dt.date(2026, 10, 31), filed=local(2026, 9, 28))
    applications.revoke(wh, personal, by="省公安厅", reason="用途变更", now=local(2026, 10, 12))
    file_application(wh, catalog, "relief", personal=False, start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 31),
                     filed=local(2026, 10, 20))
    with pytest.raises(SharingError) as for_existing:
        raise_(wh, catalog, None, consumer="relief", row_key=existing)
    with pytest.raises(SharingError) as for_unknown:
        raise_(wh, catalog, None, consumer="relief", row_key=unknown)
    assert str(for_existing.value).replace(existing, "<key>") == str(for_unknown.value).replace(unknown, "<key>")
    assert "is not a row of 101001/000001" in str(for_existing.value)
    # its hashed row key works
    assert raise_(wh, catalog, existing, consumer="relief").record_key == existing
    assert dbs.scalar("SELECT count(*) FROM sharing.objection") == 1
    assert dbs.scalar("SELECT count(*) FROM sharing.objection WHERE row_key = %s OR (row_key IS NULL AND "
                      "record_key = %s)", (existing, existing)) == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"consumer": "relief"}, "consumer 'relief' has no approved sharing application for 101001/000001"),
    ({"consumer": "nobody"}, "unknown consumer 'nobody'"),
    ({"item": "ethnicity"}, "item 'ethnicity' is not among the items application"),
    ({"item": "adress"}, "unknown item 'adress' .*did you mean address"),
    ({"key": "360102199001011234"}, "row key '[0-9a-f]{64}' is not a row of 101001/000001"),
    ({"item": "id_number"}, "item 'id_number' is part of the key of 101001/000001 .*a corrected key is another row"),
    ({"resource_code": "101001/999999"}, "unknown resource '101001/999999'"),
    ({"now": local(2027, 1, 1)}, "no approved sharing application for 101001/000001 .* covering 2027-01-01"),
    ({"evidence": "  "}, "the evidence is required"),
    ({"value_seen": "南昌市", "value_expected": "南昌市"}, "the value seen and the value believed right are both"),
    ({"key": None}, "give the row's key"),
])
def test_objections_that_cannot_be_raised(dbs, wh, catalog, kwargs, message):
    [(key, _, _)] = people(dbs, 1)
    kwargs = dict(kwargs)
    key = kwargs.pop("key", key)
    with pytest.raises(SharingError, match=message):
        raise_(wh, catalog, key, **kwargs)
    assert dbs.scalar("SELECT count(*) FROM sharing.objection") == 0


def test_answers_that_cannot_be_given(dbs, wh, catalog):
    [(key, _, _)] = people(dbs, 1)
    o = raise_(wh, catalog, key)
    with pytest.raises(SharingError, match="a rejection's reason"):
        objections.reject(wh, o.objection_id, by="省公安厅", reason=" ", now=RAISED + dt.timedelta(hours=1))
    with pytest.raises(SharingError, match="who confirms"):
        objections.confirm(wh, o.objection_id, by="", now=RAISED + dt.timedelta(hours=1))
    with pytest.raises(SharingError, match="no data objection 999"):
        objections.confirm(wh, 999, by="省公安厅")
    objections.confirm(wh, o.objection_id, by="省公安厅", now=RAISED + dt.timedelta(hours=1))
    with pytest.raises(SharingError, match=f"objection {o.objection_id} is already confirmed .*only an open"):
        objections.confirm(wh, o.objection_id, by="省公安厅", now=RAISED + dt.timedelta(hours=2))
    with pytest.raises(SharingError, match="already confirmed"):
        objections.reject(wh, o.objection_id, by="省公安厅", reason="核实无误", now=RAISED + dt.timedelta(hours=2))
    with pytest.raises(SharingError, match="unknown status 'late'"):
        objections.list_(wh, status="late")


def test_reject_with_reason(dbs, wh, catalog):
    [(key, _, _)] = people(dbs, 1)
    o = raise_(wh, catalog, key)
    r = objections.reject(wh, o.objection_id, by="省公安厅 户政处", reason="经核查户籍档案，地址无误",
                          now=local(2026, 11, 4, 15, 30))
    assert (r.status, r.answered_by, r.answer_reason, r.correction_due_at) == \
        ("rejected", "省公安厅 户政处", "经核查户籍档案，地址无误", None)
    assert (r.working_days_to_answer, r.hours_to_answer, r.answered_on_time) == (2, 53.5, True)
    assert [x.objection_id for x in objections.list_(wh, status="rejected")] == [o.objection_id]


def test_working_day_timings_across_the_national_day_holiday(dbs, wh, catalog):
    [(key, _, _)] = people(dbs, 1)
    raised = local(2026, 9, 30, 16)  # the Wednesday before the holiday (1-7 October; Saturday 10 October is worked)
    o = raise_(wh, catalog, key, now=raised)
    # 5 working days: Thu 8, Fri 9, Sat 10 (make-up day), Mon 12, Tue 13 October
    assert o.answer_due_at == local(2026, 10, 14, 0)
    c = objections.confirm(wh, o.objection_id, by="省公安厅", now=local(2026, 10, 9, 11))
    assert (c.working_days_to_answer, c.hours_to_answer) == (2, 211.0)
    # 10 working days after Friday 9 October: Sat 10, Mon 12 … Fri 16, Mon 19 … Thu 22
    assert c.correction_due_at == local(2026, 10, 23, 0)
    assert not objections.get(wh, o.objection_id, now=local(2026, 10, 22, 23, 59)).overdue
    assert objections.get(wh, o.objection_id, now=local(2026, 10, 23, 0)).overdue


def test_overdue_is_judged_at_now(dbs, wh, catalog):
    first, second = people(dbs, 2)
    open_one = raise_(wh, catalog, first[0])                      # answer due 10 November 00:00
    confirmed = raise_(wh, catalog, second[0])
    objections.confirm(wh, confirmed.objection_id, by="省公安厅", now=local(2026, 11, 3))  # correction due 18 Nov
    assert confirmed.answer_due_at == local(2026, 11, 10, 0)

    def overdue(now):
        return [o.objection_id for o in objections.list_(wh, status="overdue", now=now)]

    assert overdue(local(2026, 11, 9, 23, 59)) == []
    assert overdue(local(2026, 11, 10, 0)) == [open_one.objection_id]
    assert overdue(local(2026, 11, 18, 0)) == [open_one.objection_id, confirmed.objection_id]
    assert objections.list_(wh, status="overdue", provider_code="another", now=local(2026, 11, 18, 0)) == []
    assert [o.objection_id for o in objections.list_(wh, consumer_code="tax", status="confirmed")] == \
        [confirmed.objection_id]


def test_the_load_that_changes_the_value_resolves_a_confirmed_objection(dbs, wh, catalog, population):
    (a, _, address_a), (b, _, address_b), (c, name_c, address_c) = people(dbs, 3)
    confirmed = raise_(wh, catalog, a)
    still_open = raise_(wh, catalog, b)
    other_item = raise_(wh, catalog, c)
    for o in (confirmed, other_item):
        objections.confirm(wh, o.objection_id, by="省公安厅", now=local(2026, 11, 3))
    # the next day at the source: a's and b's address corrected, c's name changed (its address not)
    change_source(dbs, dt.datetime(2026, 11, 2, 8, tzinfo=UTC), {
        a: {"address": address_a + "（更正）"}, b: {"address": address_b + "（更正）"}, c: {"name": name_c + "某"}})
    summary = run(population, DAY2)
    assert summary["status"] == "success" and summary["rows_updated"] == 3
    load_id = summary["load_id"]

    assert status(dbs, confirmed.objection_id) == ("resolved", opened_at(dbs, a, load_id), load_id)
    assert status(dbs, still_open.objection_id) == ("open", None, None)      # not confirmed: a load does not resolve it
    assert status(dbs, other_item.objection_id) == ("confirmed", None, None)  # the address did not change

    resolved = objections.get(wh, confirmed.objection_id)
    assert resolved.hours_to_resolution > 0 and resolved.working_days_to_resolution >= 1
    assert resolved.resolved_at == opened_at(dbs, a, load_id)

    # a later load that changes c's address resolves c with that load
    change_source(dbs, dt.datetime(2026, 11, 3, 8, tzinfo=UTC), {c: {"address": address_c + "（更正）"}})
    later = run(population, DAY3)
    assert later["rows_updated"] == 1
    assert status(dbs, other_item.objection_id) == ("resolved", opened_at(dbs, c, later["load_id"]),
                                                    later["load_id"])
    assert status(dbs, confirmed.objection_id)[2] == load_id  # resolved once, by the first load


def test_a_correction_loaded_before_the_confirmation_resolves_it_when_confirmed(dbs, wh, catalog, population):
    """(Review R2 #6.) A load that corrects the value while the objection is still open resolves
    nothing then; confirming it finds that correction and resolves it at once, by that load. Not
    for a value changed and changed back, nor for a change of another item only."""
    (a, name_a, address_a), (b, _, address_b), (c, name_c, _) = people(dbs, 3)
    corrected, flipped, other_item = (raise_(wh, catalog, k) for k in (a, b, c))
    change_source(dbs, dt.datetime(2026, 11, 2, 8, tzinfo=UTC), {
        a: {"address": address_a + "（更正）"}, b: {"address": address_b + "（更正）"}, c: {"name": name_c + "某"}})
    first = run(population, DAY2)
    assert first["rows_updated"] == 3
    assert status(dbs, corrected.objection_id) == ("open", None, None)  # open: a load does not resolve it
    # b's address back to the value seen, a's name changed: a later version that does not undo a's correction
    change_source(dbs, dt.datetime(2026, 11, 3, 8, tzinfo=UTC), {b: {"address": address_b}, a: {"name": name_a + "某"}})
    assert run(population, DAY3)["rows_updated"] == 2

    answered = dt.datetime.now(UTC)
    confirmed = objections.confirm(wh, corrected.objection_id, by="省公安厅", now=answered)
    assert (confirmed.status, confirmed.resolved_by_load_id, confirmed.resolved_at) == \
        ("resolved", first["load_id"], opened_at(dbs, a, first["load_id"]))
    assert (confirmed.answered_at, confirmed.correction_due_at is not None) == (answered, True)
    for o in (flipped, other_item):
        assert objections.confirm(wh, o.objection_id, by="省公安厅", now=answered).status == "confirmed"
    assert [o.objection_id for o in objections.list_(wh, status="resolved")] == [corrected.objection_id]


def test_a_deletion_at_the_source_resolves_a_confirmed_objection(dbs, wh, catalog, population):
    """A confirmed objection to a row the source then deletes is resolved by the reconcile that
    opens its tombstone (the wrong value is no longer served); one confirmed after the deletion is
    resolved at its confirmation, by that load."""
    (a, _, _), (b, _, _), (c, _, _) = people(dbs, 3)
    before, after, kept = (raise_(wh, catalog, k) for k in (a, b, c))
    objections.confirm(wh, before.objection_id, by="省公安厅", now=local(2026, 11, 3))
    objections.confirm(wh, kept.objection_id, by="省公安厅", now=local(2026, 11, 3))
    dbs.query("DELETE FROM frontend.population_person WHERE id_number = ANY(%s)", ([a, b],), db="source")
    recon = run(population, DAY2, mode="reconcile")
    assert recon["rows_deleted"] == 2
    assert status(dbs, before.objection_id) == ("resolved", opened_at(dbs, a, recon["load_id"]), recon["load_id"])
    assert status(dbs, kept.objection_id) == ("confirmed", None, None)
    assert status(dbs, after.objection_id) == ("open", None, None)
    resolved = objections.confirm(wh, after.objection_id, by="省公安厅", now=dt.datetime.now(UTC))
    assert (resolved.status, resolved.resolved_by_load_id) == ("resolved", recon["load_id"])


def test_the_same_objection_raised_twice_is_recorded_once(dbs, wh, catalog):
    """(Review R3 #2.) The same consumer, resource, row and item while the first is open or
    confirmed: refused, naming the pending objection (by either way of naming the row); once it
    is answered (rejected) it may be raised again."""
    [(key, _, _)] = people(dbs, 1)
    first = raise_(wh, catalog, key)
    for again in (lambda: raise_(wh, catalog, key, now=RAISED + dt.timedelta(days=1)),
                  lambda: raise_(wh, catalog, key, resource_code="base_population.person", value_seen="另一个")):
        with pytest.raises(objections.ObjectionAlreadyRaised,
                           match=f"already raised: objection {first.objection_id} \\(open\\)") as caught:
            again()
        assert (caught.value.objection_id, caught.value.status) == (first.objection_id, "open")
    objections.confirm(wh, first.objection_id, by="省公安厅", now=RAISED + dt.timedelta(hours=1))
    with pytest.raises(SharingError, match=f"objection {first.objection_id} \\(confirmed\\)"):
        raise_(wh, catalog, key)
    assert dbs.scalar("SELECT raised FROM evaluation.objection_outcome") == 1
    # another item of the row, or another consumer, is another objection
    assert raise_(wh, catalog, key, item="name").objection_id != first.objection_id
    assert dbs.scalar("SELECT count(*) FROM sharing.objection WHERE status IN ('open', 'confirmed')") == 2
    # the index refuses a duplicate written past the check
    with pytest.raises(psycopg2.errors.UniqueViolation):
        dbs.query("INSERT INTO sharing.objection (consumer_code, resource_code, provider_code, record_key, item_name, "
                  "value_expected, evidence, raised_at, answer_due_at) SELECT consumer_code, resource_code, "
                  "provider_code, record_key, item_name, 'x', 'y', raised_at, answer_due_at FROM sharing.objection "
                  "WHERE objection_id = %s", (first.objection_id,))


def test_the_ddl_goes_on_over_duplicates_raised_before_the_index(dbs, wh, catalog):
    """A warehouse that holds duplicates raised before the unique index existed: applying the DDL
    does not fail (the index waits, with a warning), new duplicates are still refused, and once the
    duplicates are answered the next run creates the index."""
    [(key, _, _)] = people(dbs, 1)
    first = raise_(wh, catalog, key)
    dbs.query("DROP INDEX sharing.objection_pending_once")
    dbs.query("INSERT INTO sharing.objection (consumer_code, resource_code, provider_code, record_key, row_key, "
              "item_name, value_expected, evidence, raised_at, answer_due_at) SELECT consumer_code, resource_code, "
              "provider_code, record_key, row_key, item_name, value_expected, evidence, raised_at, answer_due_at "
              "FROM sharing.objection WHERE objection_id = %s", (first.objection_id,))
    index = "SELECT count(*) FROM pg_indexes WHERE schemaname = 'sharing' AND indexname = 'objection_pending_once'"

    schema.ensure(wh, [])  # does not raise
    assert dbs.scalar(index) == 0
    with pytest.raises(objections.ObjectionAlreadyRaised, match=f"objection {first.objection_id} "):
        raise_(wh, catalog, key)
    objections.reject(wh, first.objection_id + 1, by="省公安厅", reason="重复提出", now=RAISED + dt.timedelta(hours=1))
    schema.ensure(wh, [])
    assert dbs.scalar(index) == 1


def test_evaluation_view_counts_per_provider(dbs, wh, catalog, population):
    keys = [k for k, _, _ in people(dbs, 5)]
    raised = [raise_(wh, catalog, k) for k in keys]
    objections.reject(wh, raised[0].objection_id, by="省公安厅", reason="地址无误", now=local(2026, 11, 3))
    for o in raised[1:3]:
        objections.confirm(wh, o.objection_id, by="省公安厅", now=local(2026, 11, 3))
    address = dbs.scalar("SELECT address FROM base_population.person_current WHERE id_number = %s", (keys[1],))
    change_source(dbs, dt.datetime(2026, 11, 2, 8, tzinfo=UTC), {keys[1]: {"address": address + "（更正）"}})
    assert run(population, DAY2)["rows_updated"] == 1
    # raised[1] resolved, raised[2] confirmed, raised[3:5] open; the real clock is past every due time
    row = dbs.query("SELECT provider_code, raised, open, overdue, confirmed, resolved, resolved_on_time, rejected, "
                    "answered_on_time FROM evaluation.objection_outcome")
    resolved_in_time = dbs.scalar("SELECT resolved_at <= correction_due_at FROM sharing.objection "
                                  "WHERE objection_id = %s", (raised[1].objection_id,))
    overdue_confirmed = dbs.scalar("SELECT now() >= correction_due_at FROM sharing.objection WHERE objection_id = %s",
                                   (raised[2].objection_id,))
    assert row == [(PROVIDER, 5, 2, 2 + int(overdue_confirmed), 1, 1, int(resolved_in_time), 1, 3)]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="baselib")
    objection_cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    try:
        args.func(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(dbs, wh, catalog, capsys):
    [(key, _, _)] = people(dbs, 1)
    # the CLI judges "now" by the real clock: consumer relief gets an application running from today
    today = dt.datetime.now(SHANGHAI).date()
    app = applications.apply(wh, consumer_code="relief", resource_code=POPULATION, items=ITEMS, purpose="社会救助核对",
                             legal_basis="《社会救助暂行办法》", period_start=today,
                             period_end=today + dt.timedelta(days=90), catalog=catalog)
    applications.approve(wh, app.application_id, by="省公安厅 数据管理处")
    raise_argv = ["objection", "raise", "--consumer", "relief", "--resource", "base_population.person",
                  "--row-key", row_key_of(wh, key, "relief"), "--item", "address", "--seen", "某地址****",
                  "--expected", "南昌市", "--evidence", "不动产登记证明"]
    code, out, err = run_cli(raise_argv, capsys)
    assert (code, err) == (0, "") and "objection 1: open" in out and f"routed to provider {PROVIDER}" in out
    code, out, err = run_cli(["objection", "confirm", "1", "--by", "省公安厅"], capsys)
    assert code == 0 and "confirmed by 省公安厅" in out and "to be corrected by a load before" in out
    code, out, err = run_cli(["objection", "list", "--status", "confirmed"], capsys)
    assert code == 0 and "correction due" in out and "1 objection(s)" in out and key in out
    # bad input: error on stderr, exit 1, no traceback
    for argv, message in [
        (raise_argv, "error: already raised: objection 1 (confirmed)"),
        (["objection", "raise", "--consumer", "relief", "--resource", "101001/000001", "--key", key, "--item",
          "address", "--seen", "a", "--expected", "b", "--evidence", "c"], "error: relief sees the rows of "
         "101001/000001 (base_population.person) under a hashed _row_key"),
        (["objection", "confirm", "1", "--by", "省公安厅"], "error: objection 1 is already confirmed"),
        (["objection", "reject", "x", "--by", "a", "--reason", "b"], "error: 'x' is not an objection id"),
        (["objection", "list", "--status", "late"], "error: unknown status 'late'"),
        (["objection", "raise", "--consumer", "relief", "--resource", "101001/000001", "--key", key, "--item", "adress",
          "--seen", "a", "--expected", "b", "--evidence", "c"], "error: unknown item 'adress'"),
    ]:
        code, out, err = run_cli(argv, capsys)
        assert code == 1 and err.startswith(message) and "Traceback" not in err, (argv, err)


def test_objections_and_views_agree_on_hashed_row_keys():
    """A personal application on a resource that is no longer 有条件共享: the view shows hashed keys,
    so raise_objection must refuse a raw record key too (else the raw-key probe of personal keys
    is open again): both follow grants.hashes_row_key(resource, gives_personal(...))."""
    resource = next(r for r in scan_catalog().resources if r.code == "101001/000001")
    unconditional = resource.model_copy(update={"sharing": resource.sharing.model_copy(
        update={"type": SharingType.unconditional, "personal_data_readers": []})})
    app = SimpleNamespace(personal=True, consumer_code="x", application_id=1)
    view_hashes = grants.hashes_row_key(unconditional, grants.gives_personal(unconditional, app.personal))
    assert view_hashes is True
    assert objections._hashed_keys(unconditional, app) == view_hashes
