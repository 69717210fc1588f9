"""COPY Arrow tables into PostgreSQL (CSV over STDIN): the only way rows enter the warehouse."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql


def copy_table(cur, table: pa.Table, target: sql.Composable, columns: list[str]) -> int:
    """COPY ``columns`` of ``table`` into ``target``; returns the rows copied. Strings are quoted,
    NULLs are bare, so PostgreSQL keeps empty strings and NULLs apart, and any text it can store
    (``NULL``, ``\\N``, backslashes, CR, quotes …) arrives exactly; a NUL fails the COPY."""
    if table.num_rows == 0:
        return 0
    buf = io.BytesIO()
    pacsv.write_csv(table.select(columns), buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    buf.seek(0)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    cur.copy_expert(statement.as_string(cur), buf)
    return table.num_rows
