"""The real-world population inputs (issue 8, "reasons that mislead the quality officer") through
the whole pipeline: a real public-security source table, real GX, a real warehouse.

The inputs are tests/fixtures/real_world/population-*.json, rows of
``frontend.population_person``. Each run also holds clean simulated people, as a real extract
does, so the quarantined share stays under the resource's threshold.
"""
from __future__ import annotations

import datetime as dt
import json

from baselib_simulators import population as sim
from tests.conftest import AS_OF, DAY1, REAL_WORLD
from tests.integration.pipeline_helpers import assert_accounted, run

INPUTS = REAL_WORLD
UPDATED_AT = DAY1[0] + dt.timedelta(hours=1)  # inside day 1
FILLER_ROWS = 200
CONTROL_ID = "360102198503151211"
FIFTEEN_DIGIT_REASON = ("公民身份号码(id_number) 为15位旧版号码（GB 11643-1989），按 GB 11643-1999 换算应为 "
                        "360102198503151254 / 15-digit old-format number (GB 11643-1989); its 18-digit form would be "
                        "360102198503151254")


def real_world_rows(*names: str) -> list[dict]:
    """The rows of the named input files, the control row (in every file) once."""
    rows = {}
    for name in names:
        for row in json.loads((INPUTS / name).read_text(encoding="utf-8")):
            rows[json.dumps(row, sort_keys=True, ensure_ascii=False)] = row
    return list(rows.values())


def fill_source(dbs, rows: list[dict]) -> None:
    """Clean simulated people, then the real-world rows as the provider sent them. The ID column
    is widened: PostgreSQL cuts trailing spaces that overflow a varchar(18) on insert, and a
    department's front-end table is not always declared as tightly as the catalog."""
    conn = dbs.source()
    try:
        sim.create(conn, rows=FILLER_ROWS, seed=8, as_of=AS_OF, rates={})
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE frontend.population_person ALTER COLUMN id_number TYPE varchar(30)")
            for row in rows:
                cur.execute(
                    "INSERT INTO frontend.population_person (id_number, name, sex, ethnicity, birth_date, division_code,"
                    " address, registration_status, updated_at) VALUES (%(id_number)s, %(name)s, %(sex)s, %(ethnicity)s,"
                    " %(birth_date)s, %(division_code)s, %(address)s, %(registration_status)s, %(updated_at)s)",
                    {**row, "updated_at": UPDATED_AT})
            cur.execute("SELECT count(DISTINCT id_number) FROM frontend.population_person")
            assert cur.fetchone()[0] == FILLER_ROWS + len(rows)  # no simulated person shares a real-world ID
        conn.commit()
    finally:
        conn.close()


def loaded(dbs, id_number: str) -> tuple | None:
    found = dbs.query("SELECT name, sex, birth_date FROM base_population.person WHERE id_number = %s", (id_number,))
    return found[0] if found else None


def test_fifteen_digit_id_is_quarantined_with_one_reason_and_the_control_loads(dbs, population):
    rows = real_world_rows("population-15-digit.json")
    fill_source(dbs, rows)

    summary = run(population, DAY1)

    assert_accounted(summary)
    assert summary["rows_extracted"] == FILLER_ROWS + 2
    assert summary["rows_quarantined"] == 1 and summary["rows_inserted"] == FILLER_ROWS + 1
    assert loaded(dbs, CONTROL_ID) == ("对照甲", "1", dt.date(1985, 3, 15))
    assert loaded(dbs, "360102850315125") is None
    quarantined = dbs.query("SELECT record_key, reason, failed_expectations, source_row FROM ops.quarantine "
                            "WHERE last_load_id = %s", (summary["load_id"],))
    assert len(quarantined) == 1
    key, reason, failed, source_row = quarantined[0]
    assert key == "360102850315125"
    # exactly the 15-digit reason: no "birth date disagrees", no "sex disagrees"
    assert reason == FIFTEEN_DIGIT_REASON
    assert [f["expectation"] for f in failed] == ["expect_column_values_to_be_valid_citizen_id"]
    assert source_row["id_number"] == "360102850315125"  # quarantined as sent, never converted


def test_lowercase_fullwidth_and_padded_values_load_normalised(dbs, population):
    """Needs the text rules every source applies (baselib.sources.text): identifiers NFKC-normalised,
    trimmed and upper-cased, text trimmed at both ends (U+3000 included)."""
    rows = real_world_rows("population-lowercase-x.json", "population-fullwidth-padded.json")
    fill_source(dbs, rows)

    summary = run(population, DAY1)

    assert_accounted(summary)
    assert summary["rows_extracted"] == FILLER_ROWS + 5
    assert summary["rows_quarantined"] == 0, dbs.query("SELECT record_key, reason FROM ops.quarantine")
    assert loaded(dbs, CONTROL_ID) == ("对照甲", "1", dt.date(1985, 3, 15))
    assert loaded(dbs, "36010219900101107X") == ("小写x", "1", dt.date(1990, 1, 1))
    assert loaded(dbs, "360102198503151203") == ("全角数字", "2", dt.date(1985, 3, 15))
    assert loaded(dbs, "360102198503151238") == ("尾随空格", "1", dt.date(1985, 3, 15))
    assert loaded(dbs, "360102198503151254") == ("姓名前后空格", "1", dt.date(1985, 3, 15))
    # nothing was stored in the form it was sent in
    assert dbs.scalar("SELECT count(*) FROM base_population.person WHERE id_number IN (%s, %s, %s)",
                      ("36010219900101107x", "３６０１０２１９８５０３１５１２０３", "360102198503151238 ")) == 0
