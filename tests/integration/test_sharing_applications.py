"""Sharing applications against the real warehouse: the response limit and due time of each sharing
type (10 working days before the provider's first committed load), decisions timed in working days
across the National Day holiday, supersede, expiry at the end of the period, what is active, and a
不予共享 resource refused at once with the catalog's basis.

Consumers are rows of sharing.consumer inserted by the test (no roles: nothing here logs in)."""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
import psycopg2.extensions
import pytest

from baselib.catalog import load_catalog
from baselib.catalog.loader import Catalog, EntryError
from baselib.errors import SharingError
from baselib.sharing import applications
from baselib.warehouse import schema
from tests.integration.sharing_fixtures import register_consumers

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
POPULATION = "101001/000001"      # 有条件共享, personal items
INDICATOR = "104001/000001"       # 无条件共享
PENSION = "304002/000001"         # 不予共享
POPULATION_ITEMS = ["id_number", "name", "sex", "ethnicity", "birth_date", "division_code", "address",
                    "registration_status", "updated_at"]


def local(y, m, d, h=10, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=SHANGHAI)


SUBMITTED = local(2026, 9, 30, 16)  # the Wednesday before the National Day holiday (1-7 October)


@pytest.fixture
def wh(dbs):
    """The test warehouse with the shared DDL and two active consumers, ``tax`` and ``relief``."""
    conn = dbs.warehouse()
    schema.ensure(conn, [])
    register_consumers(conn, "tax", "relief")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def file(conn, catalog, resource=POPULATION, consumer="tax", now=SUBMITTED, **kwargs):
    args = dict(consumer_code=consumer, resource_code=resource, items=None, purpose="核验纳税人身份",
                legal_basis="《中华人民共和国税收征收管理法》第五条", period_start=dt.date(2026, 10, 1),
                period_end=dt.date(2026, 12, 31), now=now, catalog=catalog)
    args.update(kwargs)
    return applications.apply(conn, **args)


def commit_load(dbs, resource_code: str, status: str = "success") -> None:
    """A row of ops.load_run as a pipeline writes it; 'success' makes ops.committed_load list it."""
    dbs.query("INSERT INTO ops.load_run (resource_code, dag_id, run_id, mode, status, rows_extracted, rows_inserted, "
              "rows_updated, rows_unchanged, rows_quarantined) VALUES (%s, 'test_dag', %s, 'full', %s, 1, "
              "CASE WHEN %s = 'success' THEN 1 END, 0, 0, 0)",
              (resource_code, f"run_{status}", status, status))


def count(dbs) -> int:
    return dbs.scalar("SELECT count(*) FROM sharing.application")


def test_limits_and_due_times_per_sharing_type(dbs, wh, catalog):
    unconditional = file(wh, catalog, INDICATOR)
    assert (unconditional.status, unconditional.sharing_type) == ("submitted", "无条件共享")
    assert unconditional.response_limit_days == 2
    # 1-7 October are holidays: 8 and 9 October are the two working days; 10 October (a make-up
    # Saturday) does not count, as the deadline is the end of the 9th
    assert unconditional.due_at == local(2026, 10, 10, 0)

    # 有条件共享 before the provider's first committed load: 10 working days, make-up Saturday included
    before_load = file(wh, catalog, POPULATION)
    assert (before_load.sharing_type, before_load.response_limit_days) == ("有条件共享", 10)
    assert before_load.due_at == local(2026, 10, 21, 0)   # 8, 9, 10(Sat), 12-16, 19, 20 October
    assert before_load.provider_code == "11360000014400005D"

    # a failed load publishes nothing
    commit_load(dbs, POPULATION, status="failed")
    assert file(wh, catalog, POPULATION).response_limit_days == 10

    commit_load(dbs, POPULATION, status="success")
    after_load = file(wh, catalog, "base_population.person")  # by target table too
    assert (after_load.resource_code, after_load.response_limit_days) == (POPULATION, 5)
    assert after_load.due_at == local(2026, 10, 14, 0)    # 8, 9, 10(Sat), 12, 13 October

    stored = dbs.query("SELECT response_limit_days, due_at, submitted_at, status FROM sharing.application "
                       "WHERE application_id = %s", (after_load.application_id,))
    assert stored == [(5, local(2026, 10, 14, 0), SUBMITTED, "submitted")]


def test_items_are_stored_in_catalog_order(wh, catalog):
    every = file(wh, catalog)
    assert every.items == POPULATION_ITEMS
    some = file(wh, catalog, items=["sex", " division_code", "id_number"])
    assert some.items == ["id_number", "sex", "division_code"]
    assert some.personal is False


def test_not_shared_is_recorded_as_refused_with_the_catalogs_basis(dbs, wh, catalog):
    pension = next(r for r in catalog if r.code == PENSION)
    app = file(wh, catalog, PENSION, items=["citizen_id"], personal=True)
    assert app.status == "refused"
    assert app.sharing_type == "不予共享"
    assert app.decision_reason == pension.sharing.condition and "不予共享" in app.decision_reason
    assert app.decided_by == "共享目录（不予共享）"
    assert app.decided_at == app.submitted_at == SUBMITTED
    assert (app.response_limit_days, app.response_working_days, app.within_limit) == (0, 0, True)
    assert dbs.query("SELECT status, decision_reason FROM sharing.application") == [
        ("refused", pension.sharing.condition)]
    with pytest.raises(SharingError, match="it is refused"):
        applications.approve(wh, app.application_id, by="张三", now=SUBMITTED + dt.timedelta(days=1))
    assert applications.active(wh, now=local(2026, 10, 15)) == []


def test_response_working_days_across_the_holiday(wh, catalog):
    approved_early = file(wh, catalog, INDICATOR)
    approved = applications.approve(wh, approved_early.application_id, by="合规审查 李四", reason="审查通过",
                                    now=local(2026, 10, 8, 9))
    assert (approved.status, approved.response_working_days, approved.within_limit) == ("approved", 1, True)
    assert approved.decided_by == "合规审查 李四" and approved.decision_reason == "审查通过"

    late = file(wh, catalog, INDICATOR, consumer="relief")
    # on the make-up Saturday 10 October the two-day limit (end of 9 October) has passed
    assert [a.application_id for a in applications.list_(wh, overdue=True, now=local(2026, 10, 10, 9))] == [
        late.application_id]
    assert applications.list_(wh, overdue=True, now=local(2026, 10, 9, 23, 59)) == []
    assert [a.application_id for a in applications.list_(wh, overdue=False, now=local(2026, 10, 10, 9))] == [
        approved_early.application_id]
    assert applications.get(wh, late.application_id, now=local(2026, 10, 10, 9)).overdue
    assert applications.get(wh, late.application_id, now=local(2026, 10, 10, 9)).within_limit is False
    assert applications.get(wh, late.application_id, now=local(2026, 10, 9, 9)).within_limit is None

    refused = applications.refuse(wh, late.application_id, by="合规审查 李四", reason="用途与职责无关",
                                  now=local(2026, 10, 12, 11))
    # 8, 9, 10 (make-up Saturday) and 12 October
    assert (refused.status, refused.response_working_days, refused.within_limit) == ("refused", 4, False)
    assert refused.decision_reason == "用途与职责无关"
    assert applications.list_(wh, status="refused") == [refused]
    assert applications.list_(wh, consumer_code="tax") == [approved]


def test_approval_supersedes_the_earlier_one(wh, catalog):
    first = file(wh, catalog, items=["sex"])
    second = file(wh, catalog, items=["sex", "division_code"])
    other = file(wh, catalog, consumer="relief", items=["sex"])
    for app in (first, other):
        applications.approve(wh, app.application_id, by="王五", now=local(2026, 10, 8))
    applications.approve(wh, second.application_id, by="王五", now=local(2026, 10, 9))
    first = applications.get(wh, first.application_id)
    assert (first.status, first.superseded_by) == ("superseded", second.application_id)
    assert applications.get(wh, other.application_id).status == "approved"  # another consumer's stays
    active = applications.active(wh, now=local(2026, 10, 9, 12))
    assert [(a.consumer_code, a.application_id) for a in active] == [
        ("relief", other.application_id), ("tax", second.application_id)]
    assert [a.application_id for a in applications.active(wh, now=local(2026, 10, 9, 12), consumer_code="tax")] == [
        second.application_id]
    with pytest.raises(SharingError, match=f"it is superseded \\(by application {second.application_id}\\)"):
        applications.revoke(wh, first.application_id, by="王五", reason="x", now=local(2026, 10, 9, 13))


def test_period_ends_at_midnight_after_its_last_day(wh, catalog):
    app = file(wh, catalog, items=["sex"], period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31))
    assert app.access_ends_at == local(2026, 11, 1, 0)
    applications.approve(wh, app.application_id, by="王五", now=local(2026, 10, 8))
    future = file(wh, catalog, items=["sex"], consumer="relief", period_start=dt.date(2026, 11, 1),
                  period_end=dt.date(2026, 11, 30))
    applications.approve(wh, future.application_id, by="王五", now=local(2026, 10, 8))

    last_minute = local(2026, 10, 31, 23, 59)
    assert [a.application_id for a in applications.active(wh, now=last_minute)] == [app.application_id]
    assert applications.expire(wh, now=last_minute) == []
    midnight = local(2026, 11, 1, 0)
    assert [a.application_id for a in applications.active(wh, now=midnight)] == [future.application_id]
    assert applications.expire(wh, now=midnight) == [app.application_id]
    assert applications.get(wh, app.application_id).status == "expired"
    assert applications.expire(wh, now=midnight) == []  # once
    with pytest.raises(SharingError, match="it is expired"):
        applications.revoke(wh, app.application_id, by="王五", reason="x", now=midnight)


def test_revoke_ends_what_is_active(wh, catalog):
    app = file(wh, catalog, items=["sex"])
    applications.approve(wh, app.application_id, by="王五", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="gives its reason"):
        applications.revoke(wh, app.application_id, by="王五", reason=" ", now=local(2026, 10, 9))
    revoked = applications.revoke(wh, app.application_id, by="王五", reason="用途已结束", now=local(2026, 10, 9))
    assert (revoked.status, revoked.revoked_by, revoked.revoke_reason) == ("revoked", "王五", "用途已结束")
    assert revoked.revoked_at == local(2026, 10, 9)
    assert applications.active(wh, now=local(2026, 10, 9, 12)) == []


def test_an_inactive_consumer_is_neither_active_nor_approved(dbs, wh, catalog):
    granted = file(wh, catalog, items=["sex"])
    pending = file(wh, catalog, items=["sex", "ethnicity"])
    applications.approve(wh, granted.application_id, by="王五", now=local(2026, 10, 8))
    dbs.query("UPDATE sharing.consumer SET active = false WHERE consumer_code = 'tax'")
    assert applications.active(wh, now=local(2026, 10, 9)) == []
    with pytest.raises(SharingError, match="no longer declared"):
        applications.approve(wh, pending.application_id, by="王五", now=local(2026, 10, 9))
    with pytest.raises(SharingError, match="no longer declared"):
        file(wh, catalog, items=["sex"])
    # a refusal or a revocation still works
    refused = applications.refuse(wh, pending.application_id, by="王五", reason="使用方已停用", now=local(2026, 10, 9))
    assert (refused.status, refused.response_working_days) == ("refused", 2)  # 8 and 9 October
    assert applications.revoke(wh, granted.application_id, by="王五", reason="停用", now=local(2026, 10, 9)).status \
        == "revoked"


def test_decisions_that_cannot_be_made(wh, catalog):
    app = file(wh, catalog, items=["sex"])
    before = applications.get(wh, app.application_id)
    with pytest.raises(SharingError, match="no sharing application 999"):
        applications.approve(wh, 999, by="王五", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="gives its reason"):
        applications.refuse(wh, app.application_id, by="王五", reason="", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="--by"):
        applications.approve(wh, app.application_id, by=" ", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="only an approved application can be revoked"):
        applications.revoke(wh, app.application_id, by="王五", reason="x", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="cannot be decided before"):
        applications.approve(wh, app.application_id, by="王五", now=SUBMITTED - dt.timedelta(hours=1))
    with pytest.raises(SharingError, match="period ended on 2026-12-31"):
        applications.approve(wh, app.application_id, by="王五", now=local(2027, 1, 1, 9))
    assert applications.get(wh, app.application_id) == before  # nothing written
    applications.approve(wh, app.application_id, by="王五", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="cannot approve application .*: it is approved since"):
        applications.approve(wh, app.application_id, by="王五", now=local(2026, 10, 8))
    with pytest.raises(SharingError, match="cannot refuse"):
        applications.refuse(wh, app.application_id, by="王五", reason="x", now=local(2026, 10, 8))


@pytest.mark.parametrize("kwargs, message", [
    (dict(consumer="nobody"), "unknown consumer 'nobody': the declared consumers are relief, tax"),
    (dict(resource="101001/000009"), "unknown resource '101001/000009'.*did you mean 101001/000001"),
    (dict(resource="base_population.persons"), "did you mean 101001/000001 base_population.person"),
    (dict(items=["sex", "colour"]), "unknown item colour; the items of 101001/000001 .* are: id_number, name"),
    (dict(items=[]), "no items given"),
    (dict(items=["sex", ""]), "an empty item name"),
    (dict(items=["sex", "sex"]), "items named more than once: sex"),
    (dict(purpose=" "), "purpose"),
    (dict(legal_basis=""), "legal basis"),
    (dict(period_start=dt.date(2026, 12, 1), period_end=dt.date(2026, 11, 30)), "ends \\(2026-11-30\\) before"),
    (dict(period_start=dt.date(2026, 9, 1), period_end=dt.date(2026, 9, 29)), "already over \\(today is 2026-09-30"),
    (dict(period_end=dt.date(2029, 10, 1)), "1097 days long; an application may cover at most 1096 days"),
    (dict(resource=INDICATOR, personal=True), "is 无条件共享: raw personal data is applied for only on 有条件共享"),
    (dict(items=["sex", "division_code"], personal=True), "none of the items applied for is personal"),
])
def test_bad_applications_record_nothing(dbs, wh, catalog, kwargs, message):
    args = {("consumer_code" if k == "consumer" else "resource_code" if k == "resource" else k): v
            for k, v in kwargs.items()}
    call = dict(consumer_code="tax", resource_code=POPULATION, items=None, purpose="核验", legal_basis="依据",
                period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 12, 31), now=SUBMITTED, catalog=catalog)
    call.update(args)
    with pytest.raises(SharingError, match=message):
        applications.apply(wh, **call)
    assert count(dbs) == 0
    assert wh.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE  # rolled back, usable


def test_a_broken_catalog_entry_is_named(dbs, wh, catalog, tmp_path):
    entry = tmp_path / "base_population_person.yaml"
    entry.write_text(f'name: 户籍人口基本信息\ncode: "{POPULATION}"\nitems: [{{name: id_number, type: Q}}]\n',
                     encoding="utf-8")
    broken = Catalog(resources=[r for r in catalog if r.code != POPULATION],
                     errors=[EntryError(entry, f"{entry}: field 'items.0.type': bad")])
    for wanted in (POPULATION, "base_population.person"):
        with pytest.raises(SharingError, match="the catalog entry for .* is broken.*field 'items.0.type': bad"):
            file(wh, broken, wanted)
    assert count(dbs) == 0


def test_a_retired_consumers_pending_application_can_still_be_refused_not_approved(dbs, wh, catalog):
    """A consumer no longer declared (sharing.consumer.active = false): its submitted applications
    are answered by a refusal (nothing granted), so they neither stay pending nor turn overdue."""
    pending = file(wh, catalog, items=["sex"], now=local(2026, 11, 2), period_start=dt.date(2026, 11, 3))
    other = file(wh, catalog, items=["sex", "ethnicity"], now=local(2026, 11, 2), period_start=dt.date(2026, 11, 3))
    dbs.query("UPDATE sharing.consumer SET active = false WHERE consumer_code = 'tax'")
    with pytest.raises(SharingError, match="no longer declared"):
        applications.approve(wh, other.application_id, by="省公安厅", now=local(2026, 11, 3))
    refused = applications.refuse(wh, pending.application_id, by="省公安厅", reason="使用方已停用",
                                  now=local(2026, 11, 3))
    assert (refused.status, refused.response_working_days, refused.within_limit) == ("refused", 1, True)
    assert [a.application_id for a in applications.list_(wh, overdue=True, now=local(2026, 12, 1))] == [
        other.application_id]
    applications.refuse(wh, other.application_id, by="省公安厅", reason="使用方已停用", now=local(2026, 12, 1))
    assert applications.list_(wh, overdue=True, now=local(2026, 12, 1)) == []


def test_a_renewal_for_a_later_period_keeps_the_current_access_until_it_starts(wh, catalog):
    current = file(wh, catalog, items=["sex"], now=local(2026, 9, 30), period_start=dt.date(2026, 10, 1),
                   period_end=dt.date(2026, 10, 31))
    applications.approve(wh, current.application_id, by="王五", now=local(2026, 10, 8))
    renewal = file(wh, catalog, items=["sex"], now=local(2026, 10, 9), period_start=dt.date(2026, 11, 1),
                   period_end=dt.date(2026, 11, 30))
    applications.approve(wh, renewal.application_id, by="王五", now=local(2026, 10, 12))
    assert applications.get(wh, current.application_id).status == "approved"
    assert [a.application_id for a in applications.active(wh, now=local(2026, 10, 15), consumer_code="tax")] == [
        current.application_id]
    assert [a.application_id for a in applications.active(wh, now=local(2026, 11, 2), consumer_code="tax")] == [
        renewal.application_id]
    assert applications.expire(wh, now=local(2026, 11, 1, 0, 30)) == [current.application_id]


def test_an_overlapping_renewal_takes_over_when_its_period_starts(wh, catalog):
    """The current one runs to 31 December, the renewal from 1 November: until then the current
    one alone is active; from 1 November the renewal (approved later) is, and the daily expire
    marks the current one superseded by it."""
    current = file(wh, catalog, items=["sex"], now=local(2026, 9, 30))  # 1 October to 31 December
    applications.approve(wh, current.application_id, by="王五", now=local(2026, 10, 8))
    renewal = file(wh, catalog, items=["sex", "ethnicity"], now=local(2026, 10, 9), period_start=dt.date(2026, 11, 1),
                   period_end=dt.date(2027, 1, 31))
    applications.approve(wh, renewal.application_id, by="王五", now=local(2026, 10, 12))
    assert applications.expire(wh, now=local(2026, 10, 31, 0, 30)) == []
    assert applications.get(wh, current.application_id).status == "approved"
    assert [a.application_id for a in applications.active(wh, now=local(2026, 10, 31))] == [current.application_id]
    assert [a.application_id for a in applications.active(wh, now=local(2026, 11, 1, 0))] == [renewal.application_id]
    assert applications.expire(wh, now=local(2026, 11, 1, 0, 30)) == []
    superseded = applications.get(wh, current.application_id)
    assert (superseded.status, superseded.superseded_by) == ("superseded", renewal.application_id)
    assert [a.application_id for a in applications.active(wh, now=local(2026, 12, 15))] == [renewal.application_id]


def test_the_latest_approval_wins_whatever_the_filing_order(wh, catalog):
    """Approving an application filed before an already approved one, both covering today: the
    later decision is the active one and supersedes the other."""
    older = file(wh, catalog, items=["sex"])
    newer = file(wh, catalog, items=["sex", "ethnicity"])
    applications.approve(wh, newer.application_id, by="王五", now=local(2026, 10, 8))
    applications.approve(wh, older.application_id, by="王五", now=local(2026, 10, 9))
    assert [a.application_id for a in applications.active(wh, now=local(2026, 10, 9, 12))] == [older.application_id]
    replaced = applications.get(wh, newer.application_id)
    assert (replaced.status, replaced.superseded_by) == ("superseded", older.application_id)


def _as(resource, **sharing):
    return resource.model_copy(update={"sharing": resource.sharing.model_copy(update=sharing)})


def test_approval_reads_the_catalog_again(dbs, wh, catalog):
    """Filed while 有条件共享; by the approval the catalog made it 不予共享 (the real catalog), removed
    it, broke its entry or dropped an item applied for: a clear error, nothing written."""
    from baselib.catalog.model import SharingType

    pension = next(r for r in catalog if r.code == PENSION)
    app = file(wh, [_as(pension, type=SharingType.conditional)], PENSION, items=["pay_month", "amount"],
               now=local(2026, 11, 2), period_start=dt.date(2026, 11, 3))
    assert app.status == "submitted"
    with pytest.raises(SharingError, match=f"不予共享, basis: {re.escape(pension.sharing.condition)}.*refuse it instead"):
        applications.approve(wh, app.application_id, by="省人社厅", now=local(2026, 11, 4))
    population = next(r for r in catalog if r.code == POPULATION)
    other = file(wh, catalog, items=["sex", "ethnicity"], now=local(2026, 11, 2), period_start=dt.date(2026, 11, 3))
    removed = Catalog(resources=[r for r in catalog if r.code != POPULATION])
    fewer = [r if r.code != POPULATION else r.model_copy(update={"items": [i for i in r.items if i.name != "ethnicity"]})
             for r in catalog]
    for changed, message in [(removed, "no longer in the catalog.*unknown resource"),
                             (fewer, "no longer has the item ethnicity"),
                             ([_as(population, type=SharingType.not_shared)], "now makes 101001/000001 .*不予共享")]:
        with pytest.raises(SharingError, match=message):
            applications.approve(wh, other.application_id, by="省公安厅", now=local(2026, 11, 4), catalog=changed)
    assert [a.status for a in applications.list_(wh)] == ["submitted", "submitted"]
    # the operator refuses it instead; with the catalog as it is, the other one is approved
    applications.refuse(wh, app.application_id, by="省人社厅", reason="目录已改为不予共享", now=local(2026, 11, 4))
    assert applications.approve(wh, other.application_id, by="省公安厅", now=local(2026, 11, 4),
                                catalog=catalog).status == "approved"


def test_within_limit_and_overdue_at_the_edges_of_due_at(wh, catalog):
    """due_at is 24:00 of the last working day, exclusive: decided one microsecond before it is
    within the limit; at due_at it is late, and an undecided one is overdue from due_at on."""
    early, late = file(wh, catalog, INDICATOR), file(wh, catalog, INDICATOR, consumer="relief")
    due = early.due_at
    assert due == local(2026, 10, 10, 0)
    before = due - dt.timedelta(microseconds=1)
    assert applications.get(wh, early.application_id, now=before).overdue is False
    assert applications.get(wh, early.application_id, now=due).overdue is True
    assert [a.application_id for a in applications.list_(wh, overdue=True, now=due)] == [
        early.application_id, late.application_id]
    assert applications.list_(wh, overdue=True, now=before) == []
    assert applications.approve(wh, early.application_id, by="李四", now=before).within_limit is True
    assert applications.approve(wh, late.application_id, by="李四", now=due).within_limit is False
