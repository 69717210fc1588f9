"""The text rules every source applies (baselib.sources.text): trimming, identifier
normalisation, NUL made visible and named as evidence, and the counts of what changed."""
from __future__ import annotations

import unicodedata

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselib.catalog import load_catalog
from baselib.sources.extract import CONVERSION_ERROR
from baselib.sources.text import INVISIBLE, NUL_SHOWN, TRIMMED, TextRules


PERSON = next(r for r in load_catalog() if r.pipeline.target.qualified == "base_population.person")


@pytest.fixture(scope="module")
def person():
    return PERSON


@pytest.fixture(scope="module")
def indicator_value():
    return next(r for r in load_catalog() if r.pipeline.target.qualified == "base_macro_economy.indicator_value")


def _apply(resource, **columns):
    rules = TextRules(resource)
    table = rules.apply(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}))
    return rules, {k: table.column(k).to_pylist() for k in table.column_names}


def test_text_items_are_trimmed_at_the_ends_only(person):
    rules, out = _apply(person, name=[" 张三\u3000", "\u200b李四\ufeff", "王 五", "\xa0\t\n", "", None, "NULL"])
    assert out["name"] == ["张三", "李四", "王 五", "", "", None, "NULL"]
    assert out[CONVERSION_ERROR] == [None] * 7
    assert rules.normalised() == {"name: trimmed": 3}


def test_identifiers_are_nfkc_upper_cased_and_stripped_of_invisible_characters(person):
    ids = ["３６０１０２１９８５０３１５１２０３", "360102198503151238 ", "36010219900101107x",
           "3601021990\u200b0101107X", "360102 199001011071", "360102198503151211"]
    rules, out = _apply(person, id_number=ids)
    assert out["id_number"] == ["360102198503151203", "360102198503151238", "36010219900101107X",
                                "36010219900101107X", "360102 199001011071", "360102198503151211"]
    assert rules.normalised() == {"id_number: NFKC": 1, "id_number: invisible characters removed": 1,
                                  "id_number: trimmed": 1, "id_number: upper-cased": 1}


def test_other_text_is_not_nfkc_normalised(person):
    _, out = _apply(person, name=["ＡＢＣ全角", "ﬁ"], address=["１号楼", "ｘ"])
    assert out["name"] == ["ＡＢＣ全角", "ﬁ"] and out["address"] == ["１号楼", "ｘ"]


def test_nul_is_shown_and_named_and_joins_existing_evidence(person, indicator_value):
    rules, out = _apply(person, name=["营业执照\x00", "ok", None], address=["a\x00b\x00", "x", "y"],
                        **{CONVERSION_ERROR: [None, None, "出生日期(birth_date) 'x' 不是D型"]})
    assert out["name"] == ["营业执照" + NUL_SHOWN, "ok", None]
    assert out["address"] == [f"a{NUL_SHOWN}b{NUL_SHOWN}", "x", "y"]
    first = out[CONVERSION_ERROR][0]
    assert first.startswith("姓名(name) 含 NUL(0x00) 字符，数据库无法存储 / contains a NUL (0x00) character")
    assert "; 户籍地址(address) 含 NUL(0x00)" in first
    assert out[CONVERSION_ERROR][1:] == [None, "出生日期(birth_date) 'x' 不是D型"]
    assert rules.normalised() is None
    _, out = _apply(indicator_value, value=["7203.5\x00", "1"])  # numbers travel as text: the same rule
    assert out["value"] == ["7203.5" + NUL_SHOWN, "1"] and out[CONVERSION_ERROR][0].startswith("数值(value) 含 NUL")


def test_an_empty_table_gets_the_evidence_column(person):
    table = TextRules(person).apply(pa.table({"name": pa.array([], pa.string())}))
    assert table.schema.field(CONVERSION_ERROR).type == pa.string() and table.num_rows == 0


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=["Cs"])), max_size=20))
def test_the_vectorised_rules_equal_their_definition(texts):
    _, out = _apply(PERSON, name=texts, id_number=texts)
    shown = [t.replace("\x00", NUL_SHOWN) for t in texts]
    assert out["name"] == [t.strip(TRIMMED) for t in shown]
    identifiers = []
    for t in shown:
        t = unicodedata.normalize("NFKC", "".join(c for c in t if c not in INVISIBLE)).strip(TRIMMED)
        identifiers.append("".join(c.upper() if c.isascii() else c for c in t))
    assert out["id_number"] == identifiers
    assert [e is not None for e in out[CONVERSION_ERROR]] == ["\x00" in t for t in texts]
