"""The theme engine against real PostgreSQL: a SQL-model theme (the fixture under
tests/fixtures/themes) over the population base library, loaded through the pipeline.

The fixture theme counts, per household-registration division, the live people, the deceased and
the adults as of the run. Its input is ``base_population.person`` (mapped by ``division_code``,
with ``birth_date + 18 years`` as an input age)."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest

from baselib.catalog import scan_catalog
from baselib.settings import CATALOG_DIR, EXPECTATIONS_DIR, PROJECT_ROOT
from baselib.themes import model as theme_model
from tests.conftest import DAY1, DAY2
from tests.integration.pipeline_helpers import assert_accounted, fill_source, run, table_digest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "themes"
THEME = "theme_fixture.division_headcount"
HISTORY = "theme_fixture.division_headcount_history"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture
def themes(tmp_path, monkeypatch):
    """The population entry and the fixture theme in a catalog of their own (entries, suites and
    the model copied to ``tmp_path``); the pipeline's validation reads the suites from there."""
    from baselib.validation import plan

    entries, suites, models = tmp_path / "catalog", tmp_path / "expectations", tmp_path / "models"
    for folder in (entries, suites, models):
        folder.mkdir()
    shutil.copy(CATALOG_DIR / "base_population_person.yaml", entries)
    shutil.copy(EXPECTATIONS_DIR / "base_population.person.json", suites)
    for kind, folder in (("catalog", entries), ("expectations", suites), ("models", models)):
        for path in (FIXTURE / kind).iterdir():
            shutil.copy(path, folder)
    monkeypatch.setenv("BASELIB_MODELS_DIR", str(models))
    compile_plan = plan.compile
    monkeypatch.setattr(plan, "compile", lambda resource, directory=suites: compile_plan(resource, directory))
    catalog = scan_catalog(entries, suites)
    assert catalog.errors == []
    population = next(r for r in catalog.resources if r.code == "101001/000001")
    theme = next(r for r in catalog.resources if r.is_theme)
    return {"entries": entries, "suites": suites, "models": models, "population": population, "theme": theme}


def _model_rows(dbs, theme, as_of) -> dict[str, tuple]:
    """The model evaluated unrestricted (what a full rebuild would load): key -> items."""
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT division_code, residents, deceased, adults FROM ({theme_model.model_text(theme)}) m",
                        theme_model.parameters(theme, as_of))
            return {r[0]: tuple(r) for r in cur.fetchall()}
    finally:
        conn.rollback()
        conn.close()


def _theme_rows(dbs) -> dict[str, tuple]:
    rows = dbs.query(f"SELECT division_code, residents, deceased, adults FROM {THEME}_current")
    return {r[0]: tuple(r) for r in rows}


def _history(dbs) -> dict[str, set]:
    """Every version of the theme, by key."""
    out: dict[str, set] = {}
    for row in dbs.query(f"SELECT h.division_code, h::text FROM {HISTORY} AS h"):
        out.setdefault(row[0], set()).add(row[1])
    return out


def _load(dbs, load_id: int) -> dict:
    mode, extracted, keys = dbs.query(
        "SELECT r.mode, r.rows_extracted, t.keys FROM ops.load_run r LEFT JOIN ops.theme_refresh t "
        "ON t.load_id = r.load_id WHERE r.load_id = %s", (load_id,))[0]
    return {"mode": mode, "rows_extracted": extracted, "keys": keys}


def _age_instant_keys(dbs, lower: dt.datetime, upper: dt.datetime) -> set[str]:
    """Divisions of live people whose 18th birthday (midnight, Asia/Shanghai) is in (lower, upper]."""
    people = dbs.query("SELECT division_code, birth_date FROM base_population.person_current")
    out = set()
    for division, born in people:
        try:
            birthday = born.replace(year=born.year + 18)
        except ValueError:  # 29 February: PostgreSQL's + interval '18 years' gives 28 February
            birthday = born.replace(year=born.year + 18, day=28)
        instant = dt.datetime.combine(birthday, dt.time(), tzinfo=SHANGHAI)
        if lower < instant <= upper:
            out.add(division)
    return out


def test_theme_refreshes_only_the_affected_keys(dbs, themes):
    population, theme = themes["population"], themes["theme"]
    fill_source(dbs, rows=1500)
    assert run(population, DAY1)["status"] == "success"

    # 1. first run: full, every key, the related codes derived from the inputs
    first = run(theme, DAY1)
    assert_accounted(first)
    assert first["mode"] == "full"
    model = _model_rows(dbs, theme, DAY1[1])
    assert _theme_rows(dbs) == model and first["rows_inserted"] == len(model) > 20
    assert dbs.scalar("SELECT related_codes FROM catalog.resource WHERE resource_code = %s",
                      (theme.code,)) == ["101001/000001"]
    consumed = dbs.query("SELECT input_load_id, consumed_by_load_id FROM ops.theme_input_load")
    assert consumed == [(dbs.scalar("SELECT max(load_id) FROM ops.load_run WHERE resource_code = '101001/000001'"),
                         first["load_id"])]
    # the engine indexed the input's open versions by the mapped and the age columns
    indexes = {r[0] for r in dbs.query("SELECT indexname FROM pg_indexes WHERE tablename = 'person_history'")}
    assert {"person_history_division_code_open", "person_history_birth_date_open",
            "person_history_load_id", "person_history_closed_by_load_id"} <= indexes

    # 2. a rerun with no input change: nothing to recompute, nothing changes
    before = table_digest(dbs, HISTORY)
    again = run(theme, DAY1)
    assert again["mode"] == "incremental" and again["rows_extracted"] == 0
    assert _load(dbs, again["load_id"])["keys"] == 0
    assert table_digest(dbs, HISTORY) == before

    # 3. a small input change: a few rows updated, one deleted, one inserted, a division emptied
    #    by moving its people to another (key A -> B)
    at = DAY2[0] + dt.timedelta(hours=3)
    source = dbs.source()
    try:
        with source.cursor() as cur:
            cur.execute("SELECT division_code, count(*) FROM frontend.population_person p WHERE NOT EXISTS "
                        "(SELECT 1 FROM simulator.injected_defect d WHERE d.id_number = p.id_number) "
                        "GROUP BY 1 ORDER BY 2, 1")
            counts = cur.fetchall()
        moved_from = next(d for d, n in counts if n <= 2 and d in model
                          and not dbs.query("SELECT 1 FROM frontend.population_person p JOIN simulator.injected_defect"
                                            " d USING (id_number) WHERE p.division_code = %s", (d,), db="source"))
        moved_to = counts[-1][0]
    finally:
        source.close()
    from baselib_simulators import population as sim

    conn = dbs.source()
    try:
        changes = sim.apply_changes(conn, at=at, new=1, changed=3, deleted=1, seed=5)
        with conn.cursor() as cur:
            cur.execute("UPDATE frontend.population_person SET division_code = %s, updated_at = %s "
                        "WHERE division_code = %s", (moved_to, at, moved_from))
        conn.commit()
    finally:
        conn.close()
    division_of = dict(dbs.query("SELECT id_number, division_code FROM base_population.person"))
    expected = {moved_from, moved_to} | {division_of[i] for i in changes["changed"] + changes["deleted"]}
    expected |= {r[0] for r in dbs.query("SELECT division_code FROM frontend.population_person WHERE id_number = ANY(%s)",
                                         (changes["new"],), db="source")}
    assert run(population, DAY2, mode="reconcile")["rows_deleted"] == 1

    history_before = _history(dbs)
    refresh = run(theme, DAY1)  # the same as-of: only the input change matters
    assert_accounted(refresh)
    after = _model_rows(dbs, theme, DAY1[1])
    loaded = _load(dbs, refresh["load_id"])
    assert loaded["mode"] == "incremental" and loaded["keys"] == len(expected)
    assert refresh["rows_extracted"] == len(expected & after.keys())  # moved_from vanished from the model
    assert moved_from not in after and moved_to in after
    # only the affected keys' history changed; the emptied division has a tombstone
    history_after = _history(dbs)
    changed_keys = {k for k in history_before.keys() | history_after.keys()
                    if history_before.get(k) != history_after.get(k)}
    assert changed_keys <= expected and {moved_from, moved_to} <= changed_keys
    vanished = set(model) - set(after)  # moved_from, and the deleted person's division if it was alone
    assert moved_from in vanished and vanished <= expected
    assert refresh["rows_deleted"] == len(vanished)
    assert set(dbs.query(f"SELECT division_code, _change, _load_id FROM {HISTORY} "
                         "WHERE _valid_to IS NULL AND _deleted_at IS NOT NULL")) == {
        (k, "D", refresh["load_id"]) for k in vanished}
    # and the theme equals a full rebuild from the same inputs
    assert _theme_rows(dbs) == after

    # 4. as-of moves past some 18th birthdays: exactly those people's divisions are recomputed
    previous = DAY1[1]
    birthdays = sorted(
        dt.datetime.combine(b.replace(year=b.year + 18) if not (b.month == 2 and b.day == 29)
                            else b.replace(year=b.year + 18, day=28), dt.time(), tzinfo=SHANGHAI)
        for (b,) in dbs.query("SELECT birth_date FROM base_population.person_current"))
    crossing = [b for b in birthdays if b > previous]
    as_of = crossing[min(4, len(crossing) - 1)] + dt.timedelta(hours=1)
    aged = _age_instant_keys(dbs, previous, as_of)
    assert aged
    grown = run(theme, (as_of - dt.timedelta(days=1), as_of))
    assert _load(dbs, grown["load_id"]) == {"mode": "incremental", "rows_extracted": len(aged), "keys": len(aged)}
    assert _theme_rows(dbs) == _model_rows(dbs, theme, as_of)
    assert grown["rows_updated"] >= 1  # someone became an adult

    # 5. a changed model forces a full rebuild (a reconcile over every key)
    path = themes["models"] / f"{THEME}.sql"
    path.write_text(path.read_text(encoding="utf-8") + "\n-- reviewed: same rows\n", encoding="utf-8")
    rebuilt = run(theme, (as_of - dt.timedelta(days=1), as_of))
    assert rebuilt["mode"] == "reconcile"
    assert rebuilt["rows_extracted"] == len(_theme_rows(dbs)) == rebuilt["rows_unchanged"]
    again = run(theme, (as_of - dt.timedelta(days=1), as_of))
    assert again["mode"] == "incremental" and again["rows_extracted"] == 0


def test_failed_theme_load_consumes_nothing(dbs, themes):
    """A run that fails in its load records nothing: the next run recomputes the same keys."""
    from tests.integration.pipeline_helpers import fail_inserts_into, stop_failing

    population, theme = themes["population"], themes["theme"]
    fill_source(dbs, rows=400)
    run(population, DAY1)
    run(theme, DAY1)
    conn = dbs.source()
    try:
        from baselib_simulators import population as sim

        sim.apply_changes(conn, at=DAY2[0] + dt.timedelta(hours=1), new=2, seed=3)
    finally:
        conn.close()
    run(population, DAY2)
    fail_inserts_into(dbs, HISTORY)
    with pytest.raises(Exception, match="disk full"):
        run(theme, DAY1)
    stop_failing(dbs, HISTORY)
    assert dbs.scalar("SELECT count(*) FROM ops.theme_input_load") == 1  # only the first population load
    retried = run(theme, DAY1)
    assert retried["mode"] == "incremental" and 1 <= retried["rows_extracted"] <= 2
    assert _theme_rows(dbs) == _model_rows(dbs, theme, DAY1[1])


def test_a_new_theme_is_an_entry_a_model_and_a_suite(dbs, themes):
    """The fixture theme runs through the engine from configuration alone: a separate process
    pointed (BASELIB_CATALOG_DIR, BASELIB_EXPECTATIONS_DIR, BASELIB_MODELS_DIR) at folders holding
    the fixture's three files beside the population entry."""
    fill_source(dbs, rows=300)
    run(themes["population"], DAY1)
    script = (
        "import json, datetime as dt\n"
        "from baselib import pipeline\n"
        "from baselib.catalog.loader import find\n"
        "theme = find('299001/000001')\n"
        "end = dt.datetime.fromisoformat(%r)\n"
        "info = pipeline.RunInfo(theme.dag_id, 'fixture-run', end, end - dt.timedelta(days=1), end)\n"
        "print(json.dumps(pipeline.run(theme, info)))\n" % DAY1[1].isoformat()
    )
    env = {**os.environ, "BASELIB_CATALOG_DIR": str(themes["entries"]), "BASELIB_EXPECTATIONS_DIR": str(themes["suites"]),
           "BASELIB_MODELS_DIR": str(themes["models"]), "PYTHONPATH": str(PROJECT_ROOT / "plugins")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "success" and summary["mode"] == "full"
    assert _theme_rows(dbs) == _model_rows(dbs, themes["theme"], DAY1[1])
    assert summary["rows_inserted"] == len(_theme_rows(dbs)) > 0


def _move_people(dbs, moves: dict[str, str], at: dt.datetime) -> None:
    conn = dbs.source()
    try:
        with conn.cursor() as cur:
            for old, new in moves.items():
                cur.execute("UPDATE frontend.population_person SET division_code = %s, updated_at = %s "
                            "WHERE division_code = %s", (new, at, old))
        conn.commit()
    finally:
        conn.close()


def test_scoped_deletions_are_exact_and_not_limited_by_max_deleted_share(dbs, themes):
    """An incremental refresh flags deleted exactly the scope's keys the model no longer returns,
    however many: the extract is one query in one snapshot, never a snapshot cut short."""
    population, theme = themes["population"], themes["theme"]
    fill_source(dbs, rows=600)
    run(population, DAY1)
    run(theme, DAY1)
    live = dbs.scalar(f"SELECT count(*) FROM {THEME}_current")
    counts = dbs.query("SELECT division_code, count(*) FROM base_population.person_current GROUP BY 1 ORDER BY 2 DESC")
    target, small = counts[0][0], [d for d, _ in counts[1:]]
    emptied = small[-(int(live * theme.pipeline.max_deleted_share) + 1):]  # one more than a reconcile may delete
    _move_people(dbs, dict.fromkeys(emptied, target), DAY2[0] + dt.timedelta(hours=2))
    run(population, DAY2)
    assert not (set(emptied) & {r[0] for r in dbs.query("SELECT division_code FROM base_population.person_current")})

    refreshed = run(theme, DAY1)
    assert refreshed["status"] == "success" and refreshed["mode"] == "incremental"
    assert refreshed["rows_deleted"] == len(emptied) > live * theme.pipeline.max_deleted_share
    assert {r[0] for r in dbs.query(f"SELECT division_code FROM {THEME} WHERE _deleted_at IS NOT NULL")} == set(emptied)
    assert _theme_rows(dbs) == _model_rows(dbs, theme, DAY1[1])
    assert dbs.scalar("SELECT count(*) FROM ops.theme_input_load") == 2  # both population loads consumed


@pytest.fixture
def death_list(themes):
    """The fixture exception-list theme (tests/fixtures/themes/death_list: the people recorded as
    deceased, ``allow_empty: true``) added to the ``themes`` catalog."""
    for kind, folder in (("catalog", "entries"), ("expectations", "suites"), ("models", "models")):
        for path in (FIXTURE / "death_list" / kind).iterdir():
            shutil.copy(path, themes[folder])
    catalog = scan_catalog(themes["entries"], themes["suites"])
    assert catalog.errors == []
    return next(r for r in catalog.resources if r.code == "299001/000002")


def _set_status(dbs, ids: list[str], status: str, at: dt.datetime | None = None) -> None:
    """Set the registration status of ``ids`` at the source (``updated_at`` = ``at`` when given)."""
    if at is None:
        dbs.query("UPDATE frontend.population_person SET registration_status = %s WHERE id_number = ANY(%s)",
                  (status, ids), db="source")
    else:
        dbs.query("UPDATE frontend.population_person SET registration_status = %s, updated_at = %s "
                  "WHERE id_number = ANY(%s)", (status, at, ids), db="source")


def _nobody_dead(dbs) -> list[str]:
    """Mark every deceased person alive at the source; the clean (defect-free) ids, sorted."""
    dbs.query("UPDATE frontend.population_person SET registration_status = '正常' WHERE registration_status = '死亡'",
              db="source")
    return [r[0] for r in dbs.query(
        "SELECT id_number FROM frontend.population_person p WHERE NOT EXISTS "
        "(SELECT 1 FROM simulator.injected_defect d WHERE d.id_number = p.id_number) ORDER BY id_number", db="source")]


def _list_ids(dbs) -> set[str]:
    return {r[0] for r in dbs.query("SELECT id_number FROM theme_fixture.deceased_person_current")}


def test_corrected_deaths_leave_an_exception_list_however_many(dbs, themes, death_list):
    """A 10-row exception list; 8 deaths corrected at the source: the incremental refresh removes
    the 8 rows (80 %, far above max_deleted_share) and loads. A full refresh keeps the guard: it
    may not empty the list in one go; the incremental one may."""
    from baselib.errors import BlockingQualityFailure

    population = themes["population"]
    fill_source(dbs, rows=300)
    dead = _nobody_dead(dbs)[:10]
    _set_status(dbs, dead, "死亡")
    run(population, DAY1)
    first = run(death_list, DAY1)
    assert first["mode"] == "full" and first["rows_inserted"] == 10 and _list_ids(dbs) == set(dead)

    _set_status(dbs, dead[:8], "正常", DAY2[0] + dt.timedelta(hours=1))
    run(population, DAY2)
    corrected = run(death_list, DAY1)
    assert corrected["status"] == "success" and corrected["mode"] == "incremental"
    assert corrected["rows_deleted"] == 8 and _list_ids(dbs) == set(dead[8:])
    assert dbs.scalar("SELECT keys FROM ops.theme_refresh WHERE load_id = %s", (corrected["load_id"],)) == 8

    _set_status(dbs, dead[8:], "正常", DAY2[0] + dt.timedelta(hours=2))
    run(population, DAY2)
    with pytest.raises(BlockingQualityFailure) as blocked:  # a full refresh: 2 of 2 live rows would vanish
        run(death_list, DAY1, mode="full")
    assert "max_deleted_share" in str(blocked.value) and "empty_extract" not in str(blocked.value)
    assert _list_ids(dbs) == set(dead[8:])
    emptied = run(death_list, DAY1)
    assert emptied["mode"] == "incremental" and emptied["rows_deleted"] == 2 and _list_ids(dbs) == set()
    assert emptied["status"] == "success"


def test_allow_empty_turns_off_the_emptiness_guards(dbs, themes, death_list):
    """``pipeline.allow_empty``: an empty full result is a valid state — for a theme (an exception
    list with nobody on it) and for any other resource (a reconcile of an emptied source)."""
    from baselib.errors import BlockingQualityFailure
    from baselib.validation import plan

    population = themes["population"]
    fill_source(dbs, rows=200)
    _nobody_dead(dbs)
    run(population, DAY1)

    def allowing(resource, allow: bool, **more):
        return resource.model_copy(update={"pipeline": resource.pipeline.model_copy(
            update={"allow_empty": allow, **more})})

    assert death_list.pipeline.allow_empty
    with pytest.raises(BlockingQualityFailure, match="empty_extract"):
        run(allowing(death_list, False), DAY1)
    empty = run(death_list, DAY1)
    assert empty["status"] == "success" and empty["mode"] == "full" and empty["rows_extracted"] == 0
    assert dbs.scalar("SELECT count(*) FROM theme_fixture.deceased_person_history") == 0
    engine = {c.type for c in plan.compile(death_list).checks if c.origin == "engine"}
    assert engine == {"max_deleted_share", "quarantine_threshold"}
    assert dbs.query("SELECT blocking_checks FROM ops.load_run WHERE load_id = %s", (empty["load_id"],)) == [(None,)]

    # any resource: a department source emptied, reconciled with deletions allowed
    live = dbs.scalar("SELECT count(*) FROM base_population.person_current")
    dbs.query("TRUNCATE frontend.population_person", db="source")
    for guard in ("empty_extract",):
        with pytest.raises(BlockingQualityFailure, match=guard):
            run(allowing(population, False, max_deleted_share=1.0), DAY2, mode="reconcile")
    emptied = run(allowing(population, True, max_deleted_share=1.0), DAY2, mode="reconcile")
    assert emptied["status"] == "success" and emptied["rows_deleted"] == live
    assert dbs.scalar("SELECT count(*) FROM base_population.person_current") == 0


def _suite_with(themes, extra: list[dict]) -> None:
    """Rewrite the fixture theme's suite (in the test's folder) with ``extra`` expectations added."""
    original = json.loads((FIXTURE / "expectations" / f"{THEME}.json").read_text(encoding="utf-8"))
    original["expectations"] += extra
    (themes["suites"] / f"{THEME}.json").write_text(json.dumps(original, ensure_ascii=False), encoding="utf-8")


def test_quarantined_theme_rows_are_recomputed_and_judged_against_the_theme(dbs, themes):
    """A recomputed theme row that fails a critical check: the refresh is judged against the
    theme's live rows (1 bad row among 3 recomputed keys loads the other 2), the key is pending,
    and the next refresh recomputes it although no input changed; once it loads, it is no longer
    pending."""
    population, theme = themes["population"], themes["theme"]
    fill_source(dbs, rows=1500, rates={})  # no defects: the population's own small loads are not blocked
    run(population, DAY1)
    run(theme, DAY1)
    live = dbs.scalar(f"SELECT count(*) FROM {THEME}_current")
    assert live > 1 / theme.pipeline.quarantine_threshold  # 1 bad row is within the threshold of the theme
    counts = dbs.query(f"SELECT division_code, residents FROM {THEME}_current ORDER BY residents DESC, division_code")
    (big, most), (giver, other) = counts[0], [d for d, n in counts[1:] if n >= 2][-2:]  # neither empties
    people = dict(dbs.query(
        "SELECT division_code, min(id_number) FROM frontend.population_person p WHERE division_code = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM simulator.injected_defect d WHERE d.id_number = p.id_number) GROUP BY 1",
        ([giver, other],), db="source"))
    # a stricter rule arrives: the biggest division may not grow
    _suite_with(themes, [{"type": "expect_column_values_to_be_between",
                          "kwargs": {"column": "residents", "max_value": most}, "severity": "critical",
                          "meta": {"reason": "fixture: the biggest division may not grow"}}])
    at = DAY2[0] + dt.timedelta(hours=1)
    dbs.query("UPDATE frontend.population_person SET division_code = %s, updated_at = %s WHERE id_number = %s",
              (big, at, people[giver]), db="source")                # giver -> big: big becomes bad
    _set_status(dbs, [people[other]], "迁出", at)                     # other changes, stays good
    run(population, DAY2)

    refreshed = run(theme, DAY1)
    assert refreshed["status"] == "success" and refreshed["mode"] == "incremental"
    assert refreshed["rows_extracted"] == len({big, giver, other} & set(_model_rows(dbs, theme, DAY1[1]))) == 3
    assert refreshed["rows_quarantined"] == 1
    assert dbs.query("SELECT record_key FROM ops.quarantine WHERE resource_code = %s", (theme.code,)) == [(big,)]
    assert dbs.query("SELECT refresh_key FROM ops.theme_pending_key") == [([big],)]
    model = _model_rows(dbs, theme, DAY1[1])
    stale = _theme_rows(dbs)
    assert stale[big] != model[big] and stale[giver] == model[giver] and stale[other] == model[other]

    # the rule is relaxed again; no input changes, yet the pending key is recomputed and loads
    _suite_with(themes, [])
    again = run(theme, DAY1)
    assert _load(dbs, again["load_id"]) == {"mode": "incremental", "rows_extracted": 1, "keys": 1}
    assert again["rows_updated"] == 1 and again["rows_quarantined"] == 0
    assert _theme_rows(dbs) == model
    assert dbs.query("SELECT refresh_key FROM ops.theme_pending_key") == []
    assert run(theme, DAY1)["rows_extracted"] == 0  # nothing pending any more


def test_a_refresh_committed_since_the_extract_blocks_the_stale_load(dbs, themes):
    """Two refreshes of one theme overlapping: the one whose extract is older cannot overwrite the
    newer one's rows; it fails, loads nothing, and a rerun recomputes."""
    from baselib import pipeline
    from baselib.themes.refresh import RefreshConflict
    from tests.integration.pipeline_helpers import validated

    population, theme = themes["population"], themes["theme"]
    fill_source(dbs, rows=300)
    run(population, DAY1)
    run(theme, DAY1)
    stale = validated(theme, DAY1)  # extracted and validated, not loaded yet
    assert run(theme, DAY1, mode="full")["status"] == "success"  # another refresh commits meanwhile
    with pytest.raises(RefreshConflict, match="committed after this run's extract"):
        pipeline.load(theme, stale)
    assert dbs.scalar("SELECT status FROM ops.load_run WHERE load_id = %s", (stale["load_id"],)) == "failed"
    assert run(theme, DAY1)["status"] == "success"


def _adult_instants(dbs) -> list[dt.datetime]:
    """Every live person's 18th birthday (midnight, Asia/Shanghai; 29 February → 28 February), sorted."""
    out = []
    for (born,) in dbs.query("SELECT birth_date FROM base_population.person_current"):
        day = born.replace(year=born.year + 18, day=28) if (born.month, born.day) == (2, 29) \
            else born.replace(year=born.year + 18)
        out.append(dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI))
    return sorted(out)


def test_as_of_going_backwards_and_forwards_again(dbs, themes):
    """A backfill of an earlier interval after a later run: the age window is symmetric, so every
    run leaves the theme equal to the model evaluated unrestricted at that run's as-of — forward,
    backward across 18th birthdays, and forward again."""
    population, theme = themes["population"], themes["theme"]
    fill_source(dbs, rows=800)
    run(population, DAY1)
    start = DAY1[1]
    instants = [i for i in _adult_instants(dbs) if i > start + dt.timedelta(days=1)]
    early = instants[2] + dt.timedelta(hours=1)    # past a few birthdays
    late = instants[8] + dt.timedelta(hours=1)     # past a few more
    between = _age_instant_keys(dbs, early, late)
    assert between and _model_rows(dbs, theme, early) != _model_rows(dbs, theme, late)

    exact = instants[5]                            # an as-of exactly at a birthday: that person is an adult
    steps = [("full", start), ("incremental", late), ("incremental", early), ("incremental", late),
             ("incremental", exact), ("incremental", start), ("incremental", exact), ("incremental", late)]
    for mode, as_of in steps:
        summary = run(theme, (as_of - dt.timedelta(days=1), as_of))
        assert summary["mode"] == mode
        assert _theme_rows(dbs) == _model_rows(dbs, theme, as_of), f"theme differs from the model as of {as_of}"
    # the last step (exact → late) recomputed exactly the divisions with a birthday in between
    assert _load(dbs, summary["load_id"])["keys"] == len(_age_instant_keys(dbs, exact, late))
