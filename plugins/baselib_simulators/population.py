"""The public security department's front-end exchange database (前置库), simulated.

``frontend.population_person`` holds household-registration records with realistic values:
real county codes (current and abolished) from the GB/T 2260 reference, correct check
characters, and a sex consistent with the ID's sequence number. Known defects are injected
at known rates; ``simulator.injected_defect`` records which row got which defect, so tests can
check that each lands in quarantine. The pipeline never reads the ``simulator`` schema.

Everything is derived from the seed: the same seed and size give the same rows.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from baselib.pgcopy import copy_table
from baselib.warehouse.sqlfiles import ident
from baselib.identifiers import citizen_id, divisions

SOURCE_TABLE = "frontend.population_person"

DDL = """
CREATE SCHEMA IF NOT EXISTS frontend;
CREATE SCHEMA IF NOT EXISTS simulator;
DROP TABLE IF EXISTS frontend.population_person;
DROP TABLE IF EXISTS simulator.injected_defect;
-- A front-end exchange table: no uniqueness on the ID number (duplicates happen upstream).
CREATE TABLE frontend.population_person (
    row_id              bigserial PRIMARY KEY,
    id_number           varchar(18),
    name                varchar(50),
    sex                 char(1),
    ethnicity           char(2),
    birth_date          date,
    division_code       char(6),
    address             varchar(200),
    registration_status varchar(4),
    updated_at          timestamptz NOT NULL
);
CREATE TABLE simulator.injected_defect (
    id_number varchar(18),
    defect    text NOT NULL,
    row_id    bigint
);
"""
INDEX_DDL = "CREATE INDEX IF NOT EXISTS population_person_updated_at ON frontend.population_person (updated_at)"

COLUMNS = ["id_number", "name", "sex", "ethnicity", "birth_date", "division_code", "address",
           "registration_status", "updated_at"]

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽")
ROADS = ["人民路", "解放路", "中山路", "建设路", "胜利街", "和平路", "新华路", "文化路", "光明街", "团结路"]
STATUSES = np.array(["正常", "迁出", "死亡"])
STATUS_P = [0.95, 0.03, 0.02]

DEFECTS = (
    "bad_check_character",
    "birth_date_mismatch",
    "sex_mismatch",
    "unknown_division_code",
    "missing_name",
    "duplicate_conflict",
    "future_birth_date",
)
DEFAULT_RATES = {
    "bad_check_character": 0.004,
    "birth_date_mismatch": 0.003,
    "sex_mismatch": 0.003,
    "unknown_division_code": 0.002,
    "missing_name": 0.002,
    "duplicate_conflict": 0.002,
    "future_birth_date": 0.001,
}


@dataclass
class SimulationResult:
    rows: int                      # rows written to the source table (duplicates included)
    defects: dict[str, int] = field(default_factory=dict)
    as_of: dt.datetime | None = None


def _county_pool(rng_seed: int):
    reg = divisions.load()
    current = [d for d in reg.counties(in_use_only=True)]
    abolished = [d for d in reg.counties(in_use_only=False) if not d.in_use]
    prefectures = {code: rows[0].name for code, rows in reg.by_code.items()}
    return current, abolished, prefectures, reg


def _id_numbers(counties: np.ndarray, births: np.ndarray, seq: np.ndarray) -> pa.Array:
    """Assemble valid IDs: county (6) + YYYYMMDD + sequence (3) + check character."""
    date_txt = np.datetime_as_string(births, unit="D")
    date_txt = np.char.replace(date_txt, "-", "")
    seq_txt = np.char.zfill(seq.astype(str), 3)
    body = np.char.add(np.char.add(counties.astype("U6"), date_txt), seq_txt)
    mat = body.astype("S17").view(np.uint8).reshape(-1, 17).astype(np.int64) - 48
    check = np.frombuffer(citizen_id.CHECK_CHARS.encode(), dtype="S1")[(mat @ np.array(citizen_id.WEIGHTS)) % 11]
    return pa.array(np.char.add(body, check.astype("U1")))


def generate(n: int, seed: int, as_of: dt.datetime, rates: dict[str, float] | None = None,
             start_index: int = 0) -> tuple[pa.Table, list[tuple[str, str]]]:
    """``n`` clean-or-defective rows plus duplicates; returns (table, [(id_number, defect)])."""
    rates = dict(DEFAULT_RATES if rates is None else rates)
    rng = np.random.default_rng([seed, start_index])
    current, abolished, names, reg = _county_pool(seed)
    cur_codes = np.array([d.code for d in current])
    old_codes = np.array([d.code for d in abolished])

    # 3 % of IDs carry a county code abolished since issue; their household division is current.
    use_old = rng.random(n) < 0.03
    id_county = np.where(use_old, rng.choice(old_codes, n), rng.choice(cur_codes, n))
    division = np.where(use_old, rng.choice(cur_codes, n), id_county)

    birth_lo = np.datetime64("1930-01-01")
    span = (np.datetime64(as_of.date()) - np.timedelta64(365, "D") - birth_lo).astype(int)
    births = birth_lo + rng.integers(0, span, n).astype("timedelta64[D]")
    sex = rng.choice(np.array(["1", "2"]), n)
    seq = rng.integers(0, 500, n) * 2 + (sex == "1")  # odd sequence: male
    ids = np.asarray(_id_numbers(id_county, births, seq).to_numpy(zero_copy_only=False), dtype=object)

    given = rng.choice(GIVEN, (n, 2))
    two_char = rng.random(n) < 0.7
    name = np.char.add(np.char.add(rng.choice(SURNAMES, n), given[:, 0]), np.where(two_char, given[:, 1], ""))
    ethnicity = np.where(rng.random(n) < 0.91, "01", np.char.zfill(rng.integers(2, 57, n).astype(str), 2))
    county_names = np.array([names.get(c, "") for c in division])
    province_names = np.array([names.get(c[:2] + "0000", "") for c in division])
    address = np.char.add(
        np.char.add(np.char.add(province_names, county_names), rng.choice(ROADS, n)),
        np.char.add(rng.integers(1, 400, n).astype(str), "号"),
    )
    status = rng.choice(STATUSES, n, p=STATUS_P)
    as_of_us = np.datetime64(as_of.replace(tzinfo=None), "us")
    updated = as_of_us - rng.integers(1, 365 * 86_400, n).astype("timedelta64[s]")

    birth_dates = births.copy()
    name = name.astype(object)
    defect = np.full(n, "", dtype=object)
    draw = rng.random(n)
    edge = 0.0
    for kind in DEFECTS:
        lo, edge = edge, edge + rates.get(kind, 0.0)
        defect[(draw >= lo) & (draw < edge)] = kind

    idx = np.flatnonzero(defect == "bad_check_character")
    for i in idx:
        right = ids[i][17]
        ids[i] = ids[i][:17] + rng.choice([c for c in citizen_id.CHECK_CHARS if c != right])
    idx = np.flatnonzero(defect == "birth_date_mismatch")
    birth_dates[idx] = births[idx] + rng.integers(1, 300, len(idx)).astype("timedelta64[D]")
    idx = np.flatnonzero(defect == "sex_mismatch")
    sex[idx] = np.where(sex[idx] == "1", "2", "1")
    idx = np.flatnonzero(defect == "unknown_division_code")
    if len(idx):  # province prefix 99 never existed
        division[idx] = np.char.add("99", np.char.zfill(rng.integers(0, 10_000, len(idx)).astype(str), 4))
    idx = np.flatnonzero(defect == "missing_name")
    name[idx] = np.where(np.arange(len(idx)) % 2 == 0, None, "")
    idx = np.flatnonzero(defect == "future_birth_date")
    if len(idx):
        future = np.datetime64(as_of.date()) + rng.integers(30, 3000, len(idx)).astype("timedelta64[D]")
        births[idx] = future
        birth_dates[idx] = future
        ids[idx] = np.asarray(_id_numbers(id_county[idx], future, seq[idx]).to_numpy(zero_copy_only=False), dtype=object)

    dup = np.flatnonzero(defect == "duplicate_conflict")
    table = pa.table({
        "id_number": pa.array(ids, pa.string()),
        "name": pa.array(name, pa.string()),
        "sex": pa.array(sex),
        "ethnicity": pa.array(ethnicity),
        "birth_date": pa.array(birth_dates.astype("datetime64[D]")),
        "division_code": pa.array(division.astype(str)),
        "address": pa.array(address),
        "registration_status": pa.array(status),
        "updated_at": pa.array(updated, pa.timestamp("us", tz="UTC")),
    })
    if len(dup):
        twins = table.take(pa.array(dup))
        other_names = pa.array(np.char.add(rng.choice(SURNAMES, len(dup)), rng.choice(GIVEN, len(dup))))
        twins = twins.set_column(twins.schema.get_field_index("name"), "name", other_names)
        twins = twins.set_column(
            twins.schema.get_field_index("address"), "address",
            pc.binary_join_element_wise(twins["address"], pa.scalar("附1号"), ""),
        )
        table = pa.concat_tables([table, twins])
    manifest = [(ids[i], str(defect[i])) for i in np.flatnonzero(defect != "")]
    manifest += [(ids[i], "duplicate_conflict") for i in dup]
    return table, manifest




def create(conn, rows: int = 20_000, seed: int = 20261101, as_of: dt.datetime | None = None,
           rates: dict[str, float] | None = None, chunk_rows: int = 200_000) -> SimulationResult:
    """(Re)create and fill the source. The same arguments always produce the same rows."""
    as_of = as_of or dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    result = SimulationResult(rows=0, as_of=as_of)
    with conn.cursor() as cur:
        cur.execute(DDL)
        for start in range(0, rows, chunk_rows):
            table, manifest = generate(min(chunk_rows, rows - start), seed, as_of, rates, start_index=start)
            copy_table(cur, table, ident(SOURCE_TABLE), COLUMNS)
            result.rows += table.num_rows
            for _, kind in manifest:
                result.defects[kind] = result.defects.get(kind, 0) + 1
            manifest_table = pa.table({"id_number": [m[0] for m in manifest], "defect": [m[1] for m in manifest]})
            copy_table(cur, manifest_table, ident("simulator.injected_defect"), ["id_number", "defect"])
        cur.execute(INDEX_DDL)
        cur.execute("ANALYZE frontend.population_person")
    conn.commit()
    return result


def apply_changes(conn, at: dt.datetime, new: int = 0, changed: int = 0, deleted: int = 0,
                  seed: int = 7) -> dict[str, list[str]]:
    """Simulate a day at the department: add clean people, change addresses, delete records.

    Changed and new rows get ``updated_at = at``; deletions are physical (the front-end table
    simply stops holding the row). Only clean (defect-free) rows are changed or deleted.
    """
    out: dict[str, list[str]] = {"new": [], "changed": [], "deleted": []}
    with conn.cursor() as cur:
        if new:
            table, _ = generate(new, seed, at, rates={}, start_index=10_000_000 + seed)
            table = table.set_column(
                table.schema.get_field_index("updated_at"), "updated_at",
                pa.array([at] * table.num_rows, pa.timestamp("us", tz="UTC")),
            )
            copy_table(cur, table, ident(SOURCE_TABLE), COLUMNS)
            out["new"] = table["id_number"].to_pylist()
        clean = (
            "SELECT p.row_id, p.id_number FROM frontend.population_person p "
            "WHERE NOT EXISTS (SELECT 1 FROM simulator.injected_defect d WHERE d.id_number = p.id_number) "
            "AND p.updated_at < %s ORDER BY md5(p.id_number || %s) LIMIT %s"
        )
        if changed:
            cur.execute(clean, (at, f"c{seed}", changed))
            picked = cur.fetchall()
            cur.execute(
                "UPDATE frontend.population_person SET address = address || '（变更）', updated_at = %s "
                "WHERE row_id = ANY(%s)",
                (at, [r[0] for r in picked]),
            )
            out["changed"] = [r[1] for r in picked]
        if deleted:
            cur.execute(clean.replace("p.updated_at < %s", "p.updated_at < %s AND NOT (p.id_number = ANY(%s))"),
                        (at, out["changed"], f"d{seed}", deleted))
            picked = cur.fetchall()
            cur.execute("DELETE FROM frontend.population_person WHERE row_id = ANY(%s)", ([r[0] for r in picked],))
            out["deleted"] = [r[1] for r in picked]
    conn.commit()
    return out


def clean_ids(conn, limit: int, seed: int = 1) -> list[str]:
    """Citizen IDs of defect-free rows (they load into the base library), in a seeded order:
    what the certificate simulator uses as person holders that do exist."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT p.id_number FROM frontend.population_person p "
            "WHERE NOT EXISTS (SELECT 1 FROM simulator.injected_defect d WHERE d.id_number = p.id_number) "
            "ORDER BY md5(p.id_number || %s) LIMIT %s",
            (str(seed), limit),
        )
        return [r[0] for r in cur.fetchall()]
