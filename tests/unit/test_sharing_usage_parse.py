"""Which shared views a consumer's statement names (baselib.sharing.usage): the statements come
from pg_stat_statements, normalised ($1 placeholders), and resolve unqualified names through the
consumer's search_path (share_<code>, catalog)."""
from __future__ import annotations

import pytest

from baselib.catalog import load_catalog
from baselib.sharing.usage import OpaqueStatement, UnparsableStatement, named_relations, shared_resources, view_name

SCHEMA = "share_tax_collection"
VIEWS = {"base_population__person": "101001/000001", "base_legal_entity__legal_entity": "102001/000001"}


def resources(statement: str, share_schema: str = SCHEMA) -> set[str]:
    return set(shared_resources(named_relations(statement), share_schema=share_schema, views=VIEWS))


def test_unqualified_name_resolves_through_the_consumers_schema():
    assert resources("SELECT * FROM base_population__person WHERE id_number = $1 LIMIT $2") == {"101001/000001"}


def test_qualified_name_in_the_consumers_own_schema():
    assert resources("SELECT name FROM share_tax_collection.base_population__person") == {"101001/000001"}


def test_another_schema_is_not_the_consumers_shared_view():
    assert resources("SELECT * FROM share_housing_fund.base_population__person") == set()
    assert resources("SELECT * FROM base_population.person_current") == set()


def test_quoted_identifiers_keep_their_case_and_unquoted_ones_fold():
    assert resources('SELECT * FROM "share_tax_collection"."base_population__person"') == {"101001/000001"}
    assert resources("SELECT * FROM Share_Tax_Collection.Base_Population__Person") == {"101001/000001"}
    # quoted upper case is another name, which is no shared view
    assert resources('SELECT * FROM "Base_Population__Person"') == set()


def test_a_join_of_two_views_counts_for_both():
    statement = ("SELECT p._row_key, e.name FROM base_population__person AS p "
                 "JOIN share_tax_collection.base_legal_entity__legal_entity AS e ON e.legal_representative = p.name "
                 "WHERE p.division_code = $1")
    assert resources(statement) == {"101001/000001", "102001/000001"}


def test_subqueries_are_seen():
    statement = ("SELECT count(*) FROM base_population__person WHERE name IN "
                 "(SELECT legal_representative FROM base_legal_entity__legal_entity)")
    assert resources(statement) == {"101001/000001", "102001/000001"}


def test_a_cte_is_not_a_relation_but_what_it_reads_is():
    statement = "WITH base_legal_entity__legal_entity AS (SELECT * FROM base_population__person) " \
                "SELECT * FROM base_legal_entity__legal_entity"
    assert resources(statement) == {"101001/000001"}  # the CTE shadows the view of the same name


def test_copy_of_a_query_to_stdout():
    assert resources("COPY (SELECT * FROM base_population__person WHERE sex = '1') TO STDOUT WITH CSV") \
        == {"101001/000001"}
    assert resources("COPY share_tax_collection.base_population__person TO STDOUT") == {"101001/000001"}


def test_a_declared_cursor_names_its_query_and_fetch_names_nothing():
    assert resources('DECLARE "c1" CURSOR WITHOUT HOLD FOR SELECT * FROM base_population__person') \
        == {"101001/000001"}
    assert resources("FETCH FORWARD 2000 FROM c1") == set()
    assert resources("MOVE 5 IN c1") == set()
    assert resources("CLOSE c1") == set()


@pytest.mark.parametrize("statement", [
    "PREPARE s AS SELECT * FROM base_population__person LIMIT $1",
    "prepare s2 (integer) as select name from share_tax_collection.base_population__person where sex = $1",
    'PREPARE "Read It" (text, numeric(10, 2)) AS\n  SELECT * FROM base_population__person WHERE name = $1',
])
def test_a_prepared_statement_names_what_its_query_names(statement):
    # pg_stat_statements keeps the EXECUTEs' calls and rows under the PREPARE text
    assert resources(statement) == {"101001/000001"}
    assert resources("EXECUTE s(4)") == set()
    assert resources("DEALLOCATE s") == set()


@pytest.mark.parametrize("statement", [
    "DO $$ BEGIN PERFORM * FROM base_population__person; END $$",
    "CALL read_everything($1)",
    "EXPLAIN ANALYZE SELECT * FROM base_population__person",
])
def test_an_opaque_command_is_reported_not_ignored(statement):
    with pytest.raises(OpaqueStatement, match="opaque"):
        named_relations(statement)


def test_statements_naming_no_view():
    assert resources("SELECT * FROM catalog.resource") == set()
    assert resources("SELECT * FROM resource_item WHERE resource_code = $1") == set()
    assert resources("SELECT $1") == set()
    assert resources("SELECT * FROM generate_series($1, $2)") == set()
    assert resources("BEGIN") == set()
    assert resources("SET search_path = share_tax_collection") == set()


def test_several_statements_in_one_text():
    assert resources("SELECT 1; SELECT * FROM base_legal_entity__legal_entity") == {"102001/000001"}


@pytest.mark.parametrize("text", ["SELEC * FROM base_population__person", "SELECT * FROM (((", "SELECT 'unterminated"])
def test_unparsable_text_raises(text):
    with pytest.raises(UnparsableStatement):
        named_relations(text)


def test_view_names_of_the_catalog_are_unique_and_follow_the_targets():
    names = [view_name(r) for r in load_catalog()]
    assert len(names) == len(set(names))
    assert "base_population__person" in names
    assert "theme_credit__enterprise_credit_profile" in names
