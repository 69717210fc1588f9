"""baselib.loading.changes: the row hash computed in Arrow, and the rows whose live version holds it."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from baselib.loading.changes import ROW_HASH, row_hashes, unchanged, with_row_hash
from tests.conftest import DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import change_source, fill_source, run

NAMES = ["id_number", "name", "sex", "ethnicity", "birth_date", "division_code", "address", "registration_status",
         "updated_at"]


def _people(**overrides) -> pa.Table:
    columns = {
        "id_number": ["11010519491231002X", "110105194912310038", "110105194912310046"],
        "name": ["张三", "李四", None],
        "sex": ["2", "1", "2"],
        "ethnicity": ["01", None, "02"],
        "birth_date": pa.array([dt.date(1949, 12, 31)] * 3, pa.date32()),
        "division_code": ["110105"] * 3,
        "address": ["北京市朝阳区", "", "None"],
        "registration_status": ["正常"] * 3,
        "updated_at": pa.array([dt.datetime(2026, 11, 1, 8, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")),
    }
    columns.update(overrides)
    return pa.table(columns)


def test_the_hash_is_value_based_and_the_same_across_parts_and_types(population):
    table = _people()
    hashes = row_hashes(table, population).to_pylist()

    assert len(set(hashes)) == 3 and all(len(h) == 16 for h in hashes)
    # a part boundary, another column order and other Arrow types for the same values change nothing
    assert row_hashes(table.slice(1), population).to_pylist() == hashes[1:]
    shuffled = table.select(list(reversed(NAMES)))
    assert row_hashes(shuffled, population).to_pylist() == hashes
    other_types = table.set_column(8, "updated_at", table["updated_at"].cast(pa.timestamp("ns", tz="Asia/Shanghai")))
    other_types = other_types.set_column(1, "name", table["name"].cast(pa.large_string()))
    assert row_hashes(other_types, population).to_pylist() == hashes
    # pinned: the same in every process and release (a change would make every row look changed once)
    assert hashes == ["888827a0de5db778", "60e074e0b4ae2f77", "e4038fcc5b9f49f0"]


def test_null_empty_and_the_text_none_hash_apart(population):
    base = _people()
    variants = [
        base.set_column(6, "address", pa.array([None, None, None], pa.string())),
        base.set_column(6, "address", pa.array(["", "", ""])),
        base.set_column(6, "address", pa.array(["None", "None", "None"])),
        base.set_column(6, "address", pa.array(["~", "~", "~"])),
    ]
    first_rows = {row_hashes(v, population).to_pylist()[0] for v in variants}
    assert len(first_rows) == 4
    # moving text from one item to the next is another row (the serialisation is injective)
    a = _people(name=["张三", "李四", "王"], ethnicity=["01", "1", "02"])
    b = _people(name=["张三0", "李四", "王"], ethnicity=["1", "1", "02"])
    assert row_hashes(a, population).to_pylist()[0] != row_hashes(b, population).to_pylist()[0]


def test_a_value_that_cannot_be_cast_changes_only_its_own_row(population):
    """Only the value that cannot take its canonical type is hashed as it is: a row's hash does not
    depend on the other rows of its part."""
    hashes = row_hashes(_people(), population).to_pylist()
    as_text = ["1949-12-31", "1949-12-31", "1949-12-31"]
    assert row_hashes(_people(birth_date=as_text), population).to_pylist() == hashes  # text that casts
    bad = ["1949-12-31", "31/12/1949", "1949-12-31"]
    mixed = row_hashes(_people(birth_date=bad), population).to_pylist()
    assert mixed[0] == hashes[0] and mixed[2] == hashes[2]
    assert mixed[1] != hashes[1]
    # the bad value's hash is its own too, whatever part it arrives in
    assert row_hashes(_people(birth_date=bad).slice(1, 1), population).to_pylist() == [mixed[1]]
    # many rows, bad values scattered, chunked: the same verdict per value
    many = pa.concat_tables([_people(birth_date=bad)] * 300 + [_people(birth_date=as_text)] * 100)
    assert row_hashes(many, population).to_pylist() == mixed * 300 + hashes * 100


def test_with_row_hash_appends_or_replaces_the_column(population):
    table = _people()
    hashed = with_row_hash(table, population)
    assert hashed.column_names == [*NAMES, ROW_HASH]
    again = with_row_hash(hashed.set_column(9, ROW_HASH, pa.array(["x", "y", "z"])), population)
    assert again.column_names == [*NAMES, ROW_HASH] and again[ROW_HASH] == hashed[ROW_HASH]


def test_unchanged_marks_live_keys_with_the_same_hash(dbs, population):
    fill_source(dbs, rows=300)
    run(population, DAY1)
    live = dbs.query("SELECT id_number, name, sex, ethnicity, birth_date, division_code, address, "
                     "registration_status, updated_at FROM base_population.person_current ORDER BY id_number LIMIT 4")
    table = with_row_hash(pa.table({n: [r[i] for r in live] for i, n in enumerate(NAMES)}), population)
    edited = table.set_column(6, "address", pa.array(["changed", *table["address"].to_pylist()[1:]]))
    edited = with_row_hash(edited, population)
    unknown = with_row_hash(_people().slice(0, 1), population)
    probe = pa.concat_tables([edited, unknown.cast(edited.schema)])
    conn = dbs.warehouse()
    try:
        mask = unchanged(conn, population, probe)
        # a deleted key is not live: its rows must be validated and loaded again
        with conn.cursor() as cur:
            cur.execute("UPDATE base_population.person_history SET _deleted_at = now() "
                        "WHERE id_number = %s AND _valid_to IS NULL", (live[3][0],))
        after_delete = unchanged(conn, population, probe)
        conn.rollback()
    finally:
        conn.close()
    assert mask.dtype == np.bool_ and mask.tolist() == [False, True, True, True, False]
    assert after_delete.tolist() == [False, True, True, False, False]


def test_a_stored_hash_from_another_algorithm_is_rewritten_not_versioned(dbs, population):
    fill_source(dbs, rows=300)
    first = run(population, DAY1)
    versions = dbs.scalar("SELECT count(*) FROM base_population.person_history")
    dbs.query("UPDATE base_population.person_history SET _row_hash = md5(id_number) WHERE _valid_to IS NULL")
    change_source(dbs, at=dt.datetime(2026, 11, 2, 8, tzinfo=UTC), changed=3)

    summary = run(population, DAY2, mode="full")

    assert (summary["rows_inserted"], summary["rows_updated"]) == (0, 3)
    assert summary["rows_unchanged"] == first["rows_inserted"] - 3
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history") == versions + 3
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE _valid_to IS NULL "
                      "AND _row_hash = md5(id_number)") == 0
