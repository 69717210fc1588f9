"""The market regulation department's front-end exchange database (前置库), simulated.

``frontend.legal_entity`` holds registered legal entities (法人单位) with realistic values:

* unified social credit codes (GB 32100-2015) built as authority + category + a real GB/T 2260
  county code (3 % abolished since registration) + a GB 11714 organisation code (8 body
  characters + its own check character, unique per generated row) + the MOD 31 check character;
* registrants: enterprises (91), individual businesses (92), farmers' co-operatives (93),
  government organs (11), public institutions (12), social groups (51), private non-enterprise
  units (52), foundations (53), rural collective economic organisations (N1/N2/N3) and others (Y1);
* legal representatives with valid citizen IDs (GB 11643) when their ID type is ``111``.

Legal representative ID type codes (证件类型代码, the code list exchange platforms use;
``111`` is confirmed by shared/domain.md, the others are this simulator's choice):
``111`` 居民身份证, ``414`` 普通护照, ``511`` 台湾居民来往大陆通行证,
``516`` 港澳居民来往内地通行证, ``990`` 其他.

Known defects are injected at known rates, at most one per row, and recorded in
``simulator.injected_defect (credit_code, defect)``; warning-level anomalies (loaded, not
quarantined) go to ``simulator.injected_warning (credit_code, warning)``. The pipeline never
reads the ``simulator`` schema. Everything derives from the seed: same seed and size, same rows.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from baselib.pgcopy import copy_table
from baselib.warehouse.sqlfiles import ident
from baselib.identifiers import citizen_id, credit_code, divisions

SOURCE_TABLE = "frontend.legal_entity"

DDL = """
CREATE SCHEMA IF NOT EXISTS frontend;
CREATE SCHEMA IF NOT EXISTS simulator;
DROP TABLE IF EXISTS frontend.legal_entity;
DROP TABLE IF EXISTS simulator.injected_defect;
DROP TABLE IF EXISTS simulator.injected_warning;
-- A front-end exchange table: no uniqueness on the credit code (duplicates happen upstream).
CREATE TABLE frontend.legal_entity (
    row_id                 bigserial PRIMARY KEY,
    credit_code            varchar(18),
    entity_name            varchar(200),
    entity_type            varchar(50),
    status                 varchar(4),
    legal_rep_name         varchar(50),
    legal_rep_id_type      varchar(3),
    legal_rep_id_number    varchar(30),
    address                varchar(200),
    division_code          char(6),
    registered_capital     numeric(18,4),
    currency               char(3),
    established_on         date,
    term_start             date,
    term_end               date,
    approved_on            date,
    registration_authority varchar(100),
    industry_code          varchar(5),
    business_scope         text,
    updated_at             timestamptz NOT NULL
);
CREATE TABLE simulator.injected_defect (
    credit_code varchar(18),
    defect      text NOT NULL
);
CREATE TABLE simulator.injected_warning (
    credit_code varchar(18),
    warning     text NOT NULL
);
"""
INDEX_DDL = "CREATE INDEX IF NOT EXISTS legal_entity_updated_at ON frontend.legal_entity (updated_at)"

COLUMNS = ["credit_code", "entity_name", "entity_type", "status", "legal_rep_name", "legal_rep_id_type",
           "legal_rep_id_number", "address", "division_code", "registered_capital", "currency",
           "established_on", "term_start", "term_end", "approved_on", "registration_authority",
           "industry_code", "business_scope", "updated_at"]

STATUSES = ["存续", "在业", "吊销", "注销", "迁出"]
STATUS_P = [0.80, 0.08, 0.05, 0.06, 0.01]
BAD_STATUSES = ["停业", "撤销", "未知"]
CITIZEN_ID_TYPE = "111"
ID_TYPES = ["111", "414", "511", "516", "990"]
ID_TYPE_P = [0.94, 0.03, 0.01, 0.015, 0.005]
CURRENCIES = ["CNY", "USD", "HKD", "EUR"]
CURRENCY_P = [0.94, 0.035, 0.017, 0.008]

DEFECTS = (
    "bad_check_character",
    "bad_org_code_check",
    "unknown_division_in_code",
    "bad_authority_category",
    "bad_legal_rep_id",
    "bad_status",
    "inconsistent_dates",
    "duplicate_conflict",
)
DEFAULT_RATES = {
    "bad_check_character": 0.003,
    "bad_org_code_check": 0.002,
    "unknown_division_in_code": 0.002,
    "bad_authority_category": 0.002,
    "bad_legal_rep_id": 0.003,
    "bad_status": 0.002,
    "inconsistent_dates": 0.003,
    "duplicate_conflict": 0.002,
}
WARNINGS = ("capital_outlier", "empty_business_scope")
DEFAULT_WARNING_RATES = {"capital_outlier": 0.002, "empty_business_scope": 0.003}
CAPITAL_WARNING_MAX = 1e8  # 万元; the suite's warning bound (1 万亿元)

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉萍红玲芬燕春菊凤洁梅琳云莲雪荣爱香月瑞凡佳嘉琼勤珍莉晶妍倩婷颖露瑶怡丹蓉君琴薇岚韵卿聪澜悦昭冰宁欣柔晓欢枫芸菲宜舒")
BRAND = list("恒达鑫源宏泰华信盛世金辉博远中正天成瑞丰嘉禾汇通永兴新创润德昌隆安康富民和顺星光")
ROADS = ["人民路", "解放路", "中山路", "建设路", "胜利街", "和平路", "新华路", "文化路", "光明街", "团结路",
         "工业大道", "科技园路", "滨江路", "迎宾大道"]

# registrant kinds: (authority+category, share, entity types, name middles, name suffixes, authority
# suffix, capital range in 万元 (lo, hi; None = no registered capital), industries, scope phrases)
_TRADE = ["科技", "贸易", "建筑工程", "餐饮管理", "物流", "电子", "机械制造", "信息技术", "文化传媒", "农业开发",
          "新材料", "医药", "房地产开发", "环保科技", "商贸"]
_BIZ_SCOPE = ["软件开发", "信息技术咨询服务", "货物进出口", "技术进出口", "建筑工程施工", "日用百货销售",
              "餐饮服务", "道路货物运输", "机械设备销售", "电子产品销售", "房地产开发经营", "广告设计、代理",
              "食品销售", "五金产品零售", "企业管理咨询", "物业管理", "农产品初加工"]
KINDS = [
    ("91", 0.62, ["有限责任公司（自然人投资或控股）", "有限责任公司（自然人独资）", "股份有限公司（非上市、自然人投资或控股）",
                  "有限责任公司（国有独资）", "个人独资企业", "普通合伙企业", "有限责任公司（外商投资、非独资）"],
     _TRADE, ["有限公司", "有限责任公司", "股份有限公司", "（普通合伙）"], "市场监督管理局", (10, 50_000),
     ["C3011", "C3921", "C1310", "E4710", "F5123", "F5261", "G5411", "I6510", "I6513", "K7010", "L7212",
      "M7320", "C2710", "N7721", "C3411"], _BIZ_SCOPE),
    ("92", 0.25, ["个体工商户"], ["便利店", "小吃店", "五金店", "服装店", "理发店", "汽车修理部", "水果店", "百货商行"],
     [""], "市场监督管理局", (1, 50), ["F5211", "H6210", "F5232", "O8010", "O8111", "F5223", "F5213"],
     ["日用百货零售", "餐饮服务", "五金产品零售", "服装零售", "理发服务", "机动车维修", "水果零售"]),
    ("93", 0.04, ["农民专业合作社"], ["种植", "养殖", "农机", "蔬菜", "茶叶", "水产"], ["专业合作社"], "市场监督管理局",
     (5, 2_000), ["A0111", "A0141", "A0311", "A0511", "A0164"], ["组织收购、销售成员种植的农产品", "农业机械服务",
                                                               "畜禽养殖", "农业技术培训", "水产养殖"]),
    ("11", 0.01, ["机关"], ["人民政府办公室", "发展和改革局", "财政局", "教育局", "卫生健康委员会"], [""], "机构编制委员会办公室",
     None, ["S9221", "S9222", "S9223"], ["依法履行行政管理职责", "负责本行政区域内有关工作"]),
    ("12", 0.03, ["事业单位"], ["第一中学", "人民医院", "疾病预防控制中心", "图书馆", "档案馆", "公共资源交易中心"], [""],
     "机构编制委员会办公室", (10, 20_000), ["P8334", "Q8411", "Q8431", "R8831", "M7320"],
     ["实施普通高中学历教育", "为人民身体健康提供医疗与护理保健服务", "疾病预防控制", "图书借阅与信息服务"]),
    ("51", 0.015, ["社会团体"], ["企业家协会", "个体劳动者协会", "书法家协会", "物流行业协会", "慈善总会"], [""], "民政局",
     (3, 500), ["S9522", "S9521", "S9529"], ["行业交流", "业务培训", "咨询服务", "会员服务"]),
    ("52", 0.015, ["民办非企业单位"], ["职业技能培训学校", "养老服务中心", "社区服务中心", "幼儿园"], [""], "民政局",
     (3, 1_000), ["P8391", "Q8514", "P8310"], ["职业技能培训", "养老服务", "学前教育"]),
    ("53", 0.003, ["基金会"], ["教育基金会", "慈善基金会", "扶贫基金会"], [""], "民政局", (200, 10_000),
     ["S9530"], ["资助教育事业", "开展慈善救助", "扶贫济困"]),
    ("N1", 0.002, ["农村集体经济组织"], ["村民小组经济合作社"], [""], "农业农村局", None, ["A0511"],
     ["集体资产经营与管理"]),
    ("N2", 0.008, ["农村集体经济组织"], ["村股份经济合作社", "村经济合作社"], [""], "农业农村局", None, ["A0511"],
     ["集体资产经营与管理", "集体资源发包"]),
    ("N3", 0.002, ["农村集体经济组织"], ["镇经济联合总社"], [""], "农业农村局", None, ["A0511"], ["集体资产经营与管理"]),
    ("Y1", 0.005, ["其他组织机构"], ["工会委员会", "宗教活动场所管理委员会"], [""], "人民政府", (1, 100), ["S9690"],
     ["组织管理服务"]),
]
_KIND_P = np.array([k[1] for k in KINDS]) / sum(k[1] for k in KINDS)
BAD_PAIRS = ["97", "58", "15"]  # authority/category pairs GB 32100 does not define

# bijections on the generated row index: unique organisation-code bodies for every row
_NUM_MOD, _NUM_MUL = 10**8, 48_271_183     # coprime with 10**8
_MA_MOD, _MA_MUL = 31**6, 16_807           # coprime with 31
_OFFSET = 13_579_246


@dataclass
class SimulationResult:
    rows: int                      # rows written to the source table (duplicates included)
    defects: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    as_of: dt.datetime | None = None


# --- identifiers, vectorised -----------------------------------------------------------------------
_CREDIT_VALUE = np.full(256, 0, dtype=np.int64)
for _i, _ch in enumerate(credit_code.ALPHABET):
    _CREDIT_VALUE[ord(_ch)] = _i
_CREDIT_ALPHABET = np.frombuffer(credit_code.ALPHABET.encode(), dtype=np.uint8)
_CREDIT_WEIGHTS = np.array(credit_code.WEIGHTS, dtype=np.int64)
_ORG_VALUE = np.zeros(256, dtype=np.int64)
_ORG_VALUE[48:58] = np.arange(10)
_ORG_VALUE[65:91] = np.arange(10, 36)
_ORG_CHECK = np.frombuffer(b"0123456789X0", dtype=np.uint8)
_ORG_WEIGHTS = np.array(credit_code.ORG_WEIGHTS, dtype=np.int64)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digit bytes of non-negative integers, zero-padded."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values.astype(np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)


def _strings(matrix: np.ndarray) -> pa.Array:
    width = matrix.shape[1]
    return pa.array(np.ascontiguousarray(matrix).view(f"S{width}").ravel()).cast(pa.string())


def _set_credit_check(m: np.ndarray) -> None:
    """Recompute column 18 of an (n, 18) credit-code byte matrix in place."""
    total = _CREDIT_VALUE[m[:, :17]] @ _CREDIT_WEIGHTS
    m[:, 17] = _CREDIT_ALPHABET[(31 - total % 31) % 31]


def _set_org_check(m: np.ndarray) -> None:
    """Recompute column 17 (the embedded organisation code's check) in place."""
    m[:, 16] = _ORG_CHECK[11 - (_ORG_VALUE[m[:, 8:16]] @ _ORG_WEIGHTS) % 11]


def _credit_matrix(pairs: np.ndarray, counties: np.ndarray, index: np.ndarray, numeric_form: np.ndarray) -> np.ndarray:
    n = len(index)
    m = np.zeros((n, 18), dtype=np.uint8)
    pair_bytes = np.asarray(pairs, dtype="S2").view(np.uint8).reshape(n, 2) if n else np.zeros((0, 2), np.uint8)
    m[:, :2] = pair_bytes
    m[:, 2:8] = _digits(counties.astype(np.int64), 6)
    offset = _OFFSET  # fixed, not seeded: the bijections stay injective across seeds and calls
    num = (index * _NUM_MUL + offset) % _NUM_MOD
    m[:, 8:16] = _digits(num, 8)
    ma = (index * _MA_MUL + offset) % _MA_MOD
    sym = _CREDIT_ALPHABET[(ma[:, None] // (31 ** np.arange(5, -1, -1, dtype=np.int64))) % 31]
    ma_body = np.concatenate([np.tile(np.frombuffer(b"MA", dtype=np.uint8), (n, 1)), sym], axis=1)
    m[~numeric_form, 8:16] = ma_body[~numeric_form]
    _set_org_check(m)
    _set_credit_check(m)
    return m


def _citizen_ids(counties: np.ndarray, births: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """(n, 18) byte matrix of valid citizen IDs."""
    days = births.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    yyyymmdd = ((days.astype("datetime64[Y]").astype(np.int64) + 1970) * 10000
                + (months.astype(np.int64) % 12 + 1) * 100 + (days - months).astype(np.int64) + 1)
    m = np.zeros((len(seq), 18), dtype=np.uint8)
    m[:, :6] = _digits(counties.astype(np.int64), 6)
    m[:, 6:14] = _digits(yyyymmdd, 8)
    m[:, 14:17] = _digits(seq, 3)
    total = (m[:, :17].astype(np.int64) - 48) @ np.array(citizen_id.WEIGHTS, dtype=np.int64)
    m[:, 17] = np.frombuffer(citizen_id.CHECK_CHARS.encode(), dtype=np.uint8)[total % 11]
    return m


# --- reference pools ------------------------------------------------------------------------------
class _Pools:
    def __init__(self):
        reg = divisions.load()
        current = reg.counties(in_use_only=True)
        self.current = np.array(sorted({d.code for d in current}))
        self.abolished = np.array(sorted({d.code for d in reg.counties(in_use_only=False) if not d.in_use}
                                         - set(self.current)))
        self.known = reg.all_codes
        self.name = {code: reg.name(code) or "" for code in reg.all_codes}


_POOLS: _Pools | None = None


def _pools() -> _Pools:
    global _POOLS
    if _POOLS is None:
        _POOLS = _Pools()
    return _POOLS


def _take(words, idx: np.ndarray) -> pa.Array:
    return pa.array(list(words), pa.string()).take(pa.array(idx))


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _place_names(division: np.ndarray) -> tuple[pa.Array, pa.Array]:
    pools = _pools()
    uniq, inverse = np.unique(division, return_inverse=True)
    county = [pools.name.get(c, "") for c in uniq]
    province = [pools.name.get(c[:2] + "0000", "") for c in uniq]
    return _take(province, inverse), _take(county, inverse)


def _addresses(division: np.ndarray, rng) -> pa.Array:
    province, county = _place_names(division)
    n = len(division)
    number = pa.array(rng.integers(1, 999, n).astype(str).astype(object), pa.string())
    return _join(province, county, _take(ROADS, rng.integers(0, len(ROADS), n)), number, pa.scalar("号"))


def _entity_names(kind: np.ndarray, division: np.ndarray, rng) -> pa.Array:
    """Name per row: county + 字号 + trade/middle + organisational suffix."""
    n = len(kind)
    _, county = _place_names(division)
    brand = _join(_take(BRAND, rng.integers(0, len(BRAND), n)), _take(BRAND, rng.integers(0, len(BRAND), n)))
    middle = np.empty(n, dtype=object)
    suffix = np.empty(n, dtype=object)
    has_brand = np.zeros(n, dtype=bool)
    for k, spec in enumerate(KINDS):
        rows = np.flatnonzero(kind == k)
        if not len(rows):
            continue
        middle[rows] = np.asarray(spec[3], dtype=object)[rng.integers(0, len(spec[3]), len(rows))]
        suffix[rows] = np.asarray(spec[4], dtype=object)[rng.integers(0, len(spec[4]), len(rows))]
        has_brand[rows] = spec[0][0] == "9"
    brand = pc.if_else(pa.array(has_brand), brand, pa.scalar(""))
    return _join(county, brand, pa.array(middle, pa.string()), pa.array(suffix, pa.string()))


def _per_kind(kind: np.ndarray, pick, rng) -> np.ndarray:
    out = np.empty(len(kind), dtype=object)
    for k, spec in enumerate(KINDS):
        rows = np.flatnonzero(kind == k)
        if len(rows):
            out[rows] = pick(spec, len(rows), rng)
    return out


def _scopes(kind: np.ndarray, rng) -> np.ndarray:
    def pick(spec, m, rng):
        phrases = np.asarray(spec[8], dtype=object)
        first = phrases[rng.integers(0, len(phrases), m)]
        second = phrases[rng.integers(0, len(phrases), m)]
        return np.where(first == second, first + "。", first + "；" + second + "。")
    return _per_kind(kind, pick, rng)


def _capitals(kind: np.ndarray, rng) -> np.ndarray:
    """Registered capital in 万元 (float; NaN where the kind has none)."""
    def pick(spec, m, rng):
        if spec[6] is None:
            return np.full(m, np.nan)
        lo, hi = spec[6]
        value = np.exp(rng.uniform(np.log(lo), np.log(hi), m))
        round_ = rng.random(m) < 0.8
        return np.where(round_, np.maximum(np.round(value, -1 if hi > 100 else 0), lo), np.round(value, 4))
    return _per_kind(kind, pick, rng).astype(float)


def _kind_index(pairs: np.ndarray) -> np.ndarray:
    lookup = {spec[0]: k for k, spec in enumerate(KINDS)}
    return np.array([lookup.get(p, 0) for p in pairs], dtype=np.int64)


# --- generation -----------------------------------------------------------------------------------
def generate(n: int, seed: int, as_of: dt.datetime, rates: dict[str, float] | None = None,
             start_index: int = 0) -> tuple[pa.Table, list[tuple[str, str]], list[tuple[str, str]]]:
    """``n`` rows (clean, defective or warned) plus duplicate twins.

    Returns (table, [(credit_code, defect)], [(credit_code, warning)]). ``rates`` covers both
    defects and warnings; ``None`` means the defaults, a dict means absent kinds get 0.
    """
    if rates is None:
        rates = {**DEFAULT_RATES, **DEFAULT_WARNING_RATES}
    pools = _pools()
    rng = np.random.default_rng([seed, start_index])
    index = np.arange(start_index, start_index + n, dtype=np.int64)

    kind = rng.choice(len(KINDS), n, p=_KIND_P)
    pairs = np.array([spec[0] for spec in KINDS])[kind]
    # 3 % of codes carry a county code abolished since registration; the address division is current
    old = (rng.random(n) < 0.03) & (len(pools.abolished) > 0)
    division = pools.current[rng.integers(0, len(pools.current), n)]
    code_county = np.where(old, pools.abolished[rng.integers(0, max(len(pools.abolished), 1), n)]
                           if len(pools.abolished) else division, division)
    numeric_form = rng.random(n) < 0.55  # older codes: numeric organisation codes; newer: "MA…"
    codes = _credit_matrix(pairs, code_county, index, numeric_form)

    as_of_us = np.datetime64(as_of.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
    updated = as_of_us - rng.integers(1, 365 * 86_400, n).astype("timedelta64[s]")
    updated_day = updated.astype("datetime64[D]")
    lo = np.datetime64("1985-01-01")
    span = (updated_day - lo).astype(np.int64)
    established = lo + (rng.random(n) * span).astype(np.int64).astype("timedelta64[D]")
    term_start = established.copy()
    years = rng.choice(np.array([10, 20, 30, 50]), n)
    has_term = (kind == 0) & (rng.random(n) < 0.5)
    term_end = np.where(has_term, (term_start.astype("datetime64[M]") + years * 12).astype("datetime64[D]")
                        + (term_start - term_start.astype("datetime64[M]").astype("datetime64[D]")) - 1,
                        np.datetime64("NaT"))
    approved = established + (rng.random(n) * (updated_day - established).astype(np.int64)).astype(
        np.int64).astype("timedelta64[D]")

    births = np.datetime64("1950-01-01") + rng.integers(0, 365 * 50, n).astype("timedelta64[D]")
    rep_county = pools.current[rng.integers(0, len(pools.current), n)]
    rep_ids = _citizen_ids(rep_county, births, rng.integers(0, 1000, n))
    id_type = np.asarray(ID_TYPES, dtype=object)[rng.choice(len(ID_TYPES), n, p=ID_TYPE_P)]
    rep_id_text = np.asarray(_strings(rep_ids).to_numpy(zero_copy_only=False), dtype=object)
    other_id = np.char.add(np.asarray(["E", "H", "T", "X"])[rng.integers(0, 4, n)],
                           np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8)).astype(object)
    rep_id_text = np.where(id_type == CITIZEN_ID_TYPE, rep_id_text, other_id)
    given = rng.choice(GIVEN, (n, 2))
    rep_name = np.char.add(np.char.add(rng.choice(SURNAMES, n), given[:, 0]),
                           np.where(rng.random(n) < 0.7, given[:, 1], ""))

    status = np.asarray(STATUSES, dtype=object)[rng.choice(len(STATUSES), n, p=STATUS_P)]
    capital = _capitals(kind, rng)
    currency = np.where(kind == 0, np.asarray(CURRENCIES, dtype=object)[rng.choice(len(CURRENCIES), n, p=CURRENCY_P)],
                        "CNY").astype(object)
    entity_type = _per_kind(kind, lambda s, m, r: np.asarray(s[2], dtype=object)[r.integers(0, len(s[2]), m)], rng)
    industry = _per_kind(kind, lambda s, m, r: np.asarray(s[7], dtype=object)[r.integers(0, len(s[7]), m)], rng)
    scope = _scopes(kind, rng)
    _, county_names = _place_names(division)
    authority_suffix = pa.array(np.array([spec[5] for spec in KINDS], dtype=object)[kind], pa.string())
    authority = _join(county_names, authority_suffix)
    name = _entity_names(kind, division, rng)
    address = _addresses(division, rng)

    # --- defects and warnings: at most one per row ---
    label = np.full(n, "", dtype=object)
    draw = rng.random(n)
    edge = 0.0
    for kind_name in DEFECTS + WARNINGS:
        low, edge = edge, edge + rates.get(kind_name, 0.0)
        label[(draw >= low) & (draw < edge)] = kind_name

    def rows_of(what: str) -> np.ndarray:
        return np.flatnonzero(label == what)

    idx = rows_of("bad_check_character")
    if len(idx):
        shift = rng.integers(1, 31, len(idx))
        codes[idx, 17] = _CREDIT_ALPHABET[(_CREDIT_VALUE[codes[idx, 17]] + shift) % 31]
    idx = rows_of("bad_org_code_check")
    if len(idx):
        right = codes[idx, 16].copy()
        alternatives = np.frombuffer(b"0123456789X", dtype=np.uint8)
        pick = alternatives[rng.integers(0, 11, len(idx))]
        codes[idx, 16] = np.where(pick == right, np.where(right == ord("0"), ord("1"), ord("0")), pick)
        sub = codes[idx]
        _set_credit_check(sub)
        codes[idx] = sub
    idx = rows_of("unknown_division_in_code")
    if len(idx):  # province prefix 99 never existed
        codes[idx, 2:8] = _digits(990000 + rng.integers(0, 10_000, len(idx)), 6)
        sub = codes[idx]
        _set_credit_check(sub)
        codes[idx] = sub
    idx = rows_of("bad_authority_category")
    if len(idx):
        codes[idx, :2] = np.asarray(BAD_PAIRS, dtype="S2")[rng.integers(0, len(BAD_PAIRS), len(idx))].view(
            np.uint8).reshape(-1, 2)
        sub = codes[idx]
        _set_credit_check(sub)
        codes[idx] = sub
    idx = rows_of("bad_legal_rep_id")
    if len(idx):
        id_type[idx] = CITIZEN_ID_TYPE
        ids = rep_ids[idx].copy()
        wrong = np.frombuffer(citizen_id.CHECK_CHARS.encode(), dtype=np.uint8)
        ids[:, 17] = np.where(ids[:, 17] == wrong[0], wrong[1], wrong[0])
        text = np.asarray(_strings(ids).to_numpy(zero_copy_only=False), dtype=object)
        text[1::2] = [t[:17] for t in text[1::2]]  # every other one: a digit short
        rep_id_text[idx] = text
    idx = rows_of("bad_status")
    status[idx] = np.asarray(BAD_STATUSES, dtype=object)[rng.integers(0, len(BAD_STATUSES), len(idx))]
    idx = rows_of("inconsistent_dates")
    if len(idx):
        variant = np.arange(len(idx)) % 3
        back = rng.integers(1, 3650, len(idx)).astype("timedelta64[D]")
        a, b, c = idx[variant == 0], idx[variant == 1], idx[variant == 2]
        term_end[a] = term_start[a] - back[variant == 0]                      # term ends before it starts
        approved[b] = established[b] - back[variant == 1]                     # approved before established
        future = np.datetime64(as_of.date()) + rng.integers(30, 3000, len(c)).astype("timedelta64[D]")
        established[c] = future                                               # established in the future
        term_start[c] = future
    idx = rows_of("capital_outlier")
    capital[idx] = np.round(rng.uniform(1e10, 9e12, len(idx)), 0)
    idx = rows_of("empty_business_scope")
    scope[idx] = np.where(np.arange(len(idx)) % 2 == 0, "", None)

    code_text = _strings(codes)
    capital_arr = pa.array(capital, pa.float64(), mask=np.isnan(capital))
    table = pa.table({
        "credit_code": code_text,
        "entity_name": name,
        "entity_type": pa.array(entity_type, pa.string()),
        "status": pa.array(status, pa.string()),
        "legal_rep_name": pa.array(rep_name),
        "legal_rep_id_type": pa.array(id_type, pa.string()),
        "legal_rep_id_number": pa.array(rep_id_text, pa.string()),
        "address": address,
        "division_code": pa.array(division.astype(str)),
        "registered_capital": capital_arr,
        "currency": pa.array(currency, pa.string()),
        "established_on": pa.array(established.astype("datetime64[D]")),
        "term_start": pa.array(term_start.astype("datetime64[D]")),
        "term_end": pa.array(term_end.astype("datetime64[D]")),
        "approved_on": pa.array(approved.astype("datetime64[D]")),
        "registration_authority": authority,
        "industry_code": pa.array(industry, pa.string()),
        "business_scope": pa.array(scope, pa.string()),
        "updated_at": pa.array(updated, pa.timestamp("us", tz="UTC")),
    })
    code_list = np.asarray(code_text.to_numpy(zero_copy_only=False), dtype=object)
    dup = rows_of("duplicate_conflict")
    if len(dup):
        twins = table.take(pa.array(dup))
        renamed = _entity_names(kind[dup], division[dup], rng)
        twins = twins.set_column(twins.schema.get_field_index("entity_name"), "entity_name", renamed)
        twins = twins.set_column(twins.schema.get_field_index("address"), "address",
                                 pc.binary_join_element_wise(twins["address"], pa.scalar("附1号"), ""))
        table = pa.concat_tables([table, twins])
    defects = [(code_list[i], str(label[i])) for i in np.flatnonzero(np.isin(label, DEFECTS))]
    defects += [(code_list[i], "duplicate_conflict") for i in dup]
    warned = [(code_list[i], str(label[i])) for i in np.flatnonzero(np.isin(label, WARNINGS))]
    return table, defects, warned




def create(conn, rows: int = 20_000, seed: int = 20261101, as_of: dt.datetime | None = None,
           rates: dict[str, float] | None = None, chunk_rows: int = 200_000) -> SimulationResult:
    """(Re)create and fill the source. The same arguments always produce the same rows.

    ``rates`` maps defect and warning names (:data:`DEFECTS`, :data:`WARNINGS`) to per-row rates;
    ``None`` uses :data:`DEFAULT_RATES` and :data:`DEFAULT_WARNING_RATES`.
    """
    as_of = as_of or dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    result = SimulationResult(rows=0, as_of=as_of)
    with conn.cursor() as cur:
        cur.execute(DDL)
        for start in range(0, rows, chunk_rows):
            table, defects, warned = generate(min(chunk_rows, rows - start), seed, as_of, rates, start_index=start)
            copy_table(cur, table, ident(SOURCE_TABLE), COLUMNS)
            result.rows += table.num_rows
            for _, kind in defects:
                result.defects[kind] = result.defects.get(kind, 0) + 1
            for _, kind in warned:
                result.warnings[kind] = result.warnings.get(kind, 0) + 1
            copy_table(cur, pa.table({"credit_code": pa.array([d[0] for d in defects], pa.string()),
                                      "defect": pa.array([d[1] for d in defects], pa.string())}),
                       ident("simulator.injected_defect"), ["credit_code", "defect"])
            copy_table(cur, pa.table({"credit_code": pa.array([w[0] for w in warned], pa.string()),
                                      "warning": pa.array([w[1] for w in warned], pa.string())}),
                       ident("simulator.injected_warning"), ["credit_code", "warning"])
        cur.execute(INDEX_DDL)
        cur.execute("ANALYZE frontend.legal_entity")
    conn.commit()
    return result


_CLEAN = (
    "SELECT f.row_id, f.credit_code, f.division_code FROM frontend.legal_entity f "
    "WHERE NOT EXISTS (SELECT 1 FROM simulator.injected_defect d WHERE d.credit_code = f.credit_code) "
    "AND f.updated_at < %s AND NOT (f.credit_code = ANY(%s)) ORDER BY md5(f.credit_code || %s) LIMIT %s"
)


def apply_changes(conn, at: dt.datetime, new: int = 0, changed: int = 0, deleted: int = 0, renamed: int = 0,
                  moved: int = 0, seed: int = 7) -> dict[str, list[str]]:
    """Simulate a day at the registration authority. Returns the credit codes per kind of change.

    * ``new``: clean registrations; ``changed``: capital increase (增资, capital doubled);
    * ``renamed``: a new entity name, same credit code; ``moved``: a new address in another county
      (``division_code`` changes, the credit code keeps its original division);
    * ``deleted``: physically removed from the front-end table.

    Changed rows get ``updated_at = at`` and ``approved_on = at``'s date. Only clean (defect-free)
    rows are changed, and each row gets at most one kind of change.
    """
    out: dict[str, list[str]] = {"new": [], "changed": [], "deleted": [], "renamed": [], "moved": []}
    rng = np.random.default_rng([seed, 99])
    with conn.cursor() as cur:
        taken: list[str] = []

        def pick(count: int, tag: str) -> list[tuple]:
            cur.execute(_CLEAN, (at, taken, f"{tag}{seed}", count))
            picked = cur.fetchall()
            taken.extend(r[1] for r in picked)
            return picked

        if changed:
            picked = pick(changed, "c")
            cur.execute(
                "UPDATE frontend.legal_entity SET registered_capital = registered_capital * 2, "
                "approved_on = %s, updated_at = %s WHERE row_id = ANY(%s)",
                (at.date(), at, [r[0] for r in picked]))
            out["changed"] = [r[1] for r in picked]
        if renamed:
            picked = pick(renamed, "r")
            if picked:
                kinds = _kind_index(np.array([r[1][:2] for r in picked]))
                names = _entity_names(kinds, np.array([r[2] for r in picked]), rng).to_pylist()
                cur.execute(
                    "UPDATE frontend.legal_entity f SET entity_name = CASE WHEN u.name = f.entity_name "
                    "THEN u.name || '（更名）' ELSE u.name END, approved_on = %s, updated_at = %s "
                    "FROM unnest(%s::bigint[], %s::text[]) AS u(row_id, name) WHERE f.row_id = u.row_id",
                    (at.date(), at, [r[0] for r in picked], names))
            out["renamed"] = [r[1] for r in picked]
        if moved:
            picked = pick(moved, "m")
            if picked:
                current = _pools().current
                choice = current[rng.integers(0, len(current), len(picked))]
                old = np.array([r[2] for r in picked])
                choice = np.where(choice == old, current[(np.searchsorted(current, old) + 1) % len(current)], choice)
                addresses = _addresses(choice, rng).to_pylist()
                cur.execute(
                    "UPDATE frontend.legal_entity f SET address = u.address, division_code = u.division, "
                    "approved_on = %s, updated_at = %s "
                    "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(row_id, address, division) "
                    "WHERE f.row_id = u.row_id",
                    (at.date(), at, [r[0] for r in picked], addresses, choice.tolist()))
            out["moved"] = [r[1] for r in picked]
        if deleted:
            picked = pick(deleted, "d")
            cur.execute("DELETE FROM frontend.legal_entity WHERE row_id = ANY(%s)", ([r[0] for r in picked],))
            out["deleted"] = [r[1] for r in picked]
        if new:
            # generated row indexes above every existing row id: codes never collide across calls
            cur.execute("SELECT coalesce(max(row_id), 0) FROM frontend.legal_entity")
            start = 10_000_000 + cur.fetchone()[0]
            table, _, _ = generate(new, seed, at, rates={}, start_index=start)
            table = table.set_column(table.schema.get_field_index("updated_at"), "updated_at",
                                     pa.array([at] * table.num_rows, pa.timestamp("us", tz="UTC")))
            copy_table(cur, table, ident(SOURCE_TABLE), COLUMNS)
            out["new"] = table["credit_code"].to_pylist()
    conn.commit()
    return out


def clean_credit_codes(conn, limit: int) -> list[str]:
    """Up to ``limit`` credit codes of rows without an injected defect (they load into
    ``base_legal_entity.legal_entity``), in source order: holders for the certificate simulator."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT f.credit_code FROM frontend.legal_entity f WHERE NOT EXISTS "
            "(SELECT 1 FROM simulator.injected_defect d WHERE d.credit_code = f.credit_code) "
            "ORDER BY f.row_id LIMIT %s", (limit,))
        return [r[0] for r in cur.fetchall()]
