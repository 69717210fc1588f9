"""Personal data of the social-security themes with real login roles (TCP connections as LOGIN
roles with random passwords, dropped in a finaliser): a member of ``theme_social_security_reader``
reads masked citizen IDs and names from ``<table>_masked`` and cannot read a raw personal column
of ``_current`` (nor the history or base view); the personal-data reader each catalog entry names
reads the raw values, and only of its own entry.

The themes are built through ``pipeline.run`` from simulated, loaded sources (the world of
``test_themes``)."""
from __future__ import annotations

import re

from tests.conftest import DAY1
from tests.integration.pipeline_helpers import catalog_entry, run
from tests.integration import test_masking_roles, test_themes
from tests.integration.login_queries import columns as _columns, denied as _denied, rows as _rows
from tests.integration.test_themes import AFTER_DEATH, INSURED, SOCIAL, load_inputs

# the fixtures of those modules, used here under the same names
login_roles = test_masking_roles.login_roles
world = test_themes.world

READER = "theme_social_security_reader"


def _masked_id(value: str) -> str:
    return value[:6] + "*" * 8 + value[-4:]


def _looks_masked_name(masked: str | None, raw: str | None) -> bool:
    """The surname (one character, or two for a compound surname), the rest starred."""
    if raw is None:
        return masked is None
    kept = len(masked.rstrip("*"))
    return (len(masked) == len(raw) and kept in (1, 2) and masked[:kept] == raw[:kept]
            and set(masked[kept:]) == {"*"} and masked != raw)


def _build(dbs) -> None:
    load_inputs(only=SOCIAL)
    for target in (INSURED, AFTER_DEATH):
        assert run(catalog_entry(target), DAY1)["status"] == "success"
    assert dbs.scalar(f"SELECT count(*) FROM {AFTER_DEATH}_current") > 0


def test_a_theme_reader_reads_masked_personal_values_only(dbs, world, login_roles):
    _build(dbs)
    reader = login_roles(READER)
    for target, personal in ((INSURED, ("citizen_id", "name")), (AFTER_DEATH, ("citizen_id", "name"))):
        raw = dbs.query(f"SELECT citizen_id, name FROM {target}_current ORDER BY citizen_id")
        columns = _columns(reader, f"SELECT * FROM {target}_masked")
        assert set(personal) <= set(columns), target
        masked = _rows(reader, f"SELECT citizen_id, name FROM {target}_masked ORDER BY citizen_id")
        assert len(masked) == len(raw) > 0
        assert sorted(m[0] for m in masked) == sorted(_masked_id(r[0]) for r in raw)
        assert all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", m[0]) for m in masked)
        assert not {r[0] for r in raw} & {m[0] for m in masked}, "a raw citizen ID reached the reader"
        by_id = {}
        for citizen_id, name in raw:
            by_id.setdefault(_masked_id(citizen_id), []).append(name)
        assert all(any(_looks_masked_name(m[1], n) for n in by_id[m[0]]) for m in masked), target
        assert not {r[1] for r in raw if r[1]} & {m[1] for m in masked}, "a raw name reached the reader"
        for column in personal:
            assert _denied(reader, f"SELECT {column} FROM {target}_current LIMIT 1"), (target, column)
        assert _denied(reader, f"SELECT * FROM {target}_current LIMIT 1"), target
        assert _denied(reader, f"SELECT * FROM {target}_history LIMIT 1"), target
        assert _denied(reader, f"SELECT * FROM {target} LIMIT 1"), target
    # the non-personal columns of the current view stay readable
    assert _rows(reader, f"SELECT count(months_paid) FROM {INSURED}_current") == [
        (dbs.scalar(f"SELECT count(*) FROM {INSURED}_current"),)]
    # people paid without any enrolment have no name: NULL stays NULL in the masked view
    assert _rows(reader, f"SELECT count(*) FROM {INSURED}_masked WHERE name IS NULL") == [
        (dbs.scalar(f"SELECT count(*) FROM {INSURED}_current WHERE name IS NULL"),)]


def test_each_entrys_personal_data_reader_reads_raw_values_of_its_own_theme(dbs, world, login_roles):
    _build(dbs)
    social = login_roles("social_security_personal_reader")
    human_resources = login_roles("human_resources_personal_reader")
    raw_insured = dbs.query(f"SELECT citizen_id, name FROM {INSURED}_current")
    raw_list = dbs.query(f"SELECT citizen_id, pay_month, name FROM {AFTER_DEATH}_current")
    assert sorted(_rows(social, f"SELECT citizen_id, name FROM {INSURED}_current"), key=repr) == \
        sorted(raw_insured, key=repr)
    assert sorted(_rows(human_resources, f"SELECT citizen_id, pay_month, name FROM {AFTER_DEATH}_current"),
                  key=repr) == sorted(raw_list, key=repr)
    # a personal-data reader of one entry is not one of the other
    assert _denied(social, f"SELECT citizen_id FROM {AFTER_DEATH}_current LIMIT 1")
    assert _denied(human_resources, f"SELECT citizen_id FROM {INSURED}_current LIMIT 1")
    assert _denied(social, f"SELECT * FROM {INSURED}_history LIMIT 1")
