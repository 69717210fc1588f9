"""Cross-library checks: does a value of this resource exist in another base library?

They are warning level: a miss is reported (rate in the run record and sync metrics, a
warning expectation in the quality report) and the row still loads. The engine looks up only
the candidate values of this extract in the reference table, then hands GX the matched ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from psycopg2 import sql

from baselib import storage
from baselib.catalog.model import CrossCheck
# The expectation showing a check in the report is derived with the catalog's (validation.suites, which
# catalog loading imports, so without pandas); the pipeline names its parameter through this module.
from baselib.validation.suites import cross_check_parameter as parameter_name  # noqa: F401
from baselib.warehouse import sqlfiles


def _applies(frame: pd.DataFrame, check: CrossCheck) -> pd.Series:
    if check.when is None:
        return frame[check.column].notna()
    return (frame[check.when.column].astype("string") == check.when.equals).fillna(False) & frame[check.column].notna()


def candidates(check: CrossCheck, parts: list[str]) -> list[str]:
    """Distinct values the check applies to, across the whole extract."""
    columns = list(dict.fromkeys([check.column] + ([check.when.column] if check.when else [])))
    values: set[str] = set()
    for uri in parts:
        frame = storage.read_part(uri, columns).to_pandas()
        values.update(frame.loc[_applies(frame, check), check.column].astype(str))
    return sorted(values)


def reference_matches(conn, check: CrossCheck, values: list[str]) -> tuple[list[str], bool]:
    """(values found among the reference's live rows, whether the reference table exists)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (check.reference,))
        if not cur.fetchone()[0]:
            return [], False
        cur.execute(
            sql.SQL("SELECT DISTINCT {col}::text FROM {ref} WHERE _deleted_at IS NULL AND {col}::text = ANY(%s)").format(
                col=sql.Identifier(check.reference_column), ref=sqlfiles.ident(check.reference)),
            (values,),
        )
        return sorted(r[0] for r in cur.fetchall()), True


@dataclass
class Tally:
    checked: int = 0
    matched: int = 0

    def add(self, frame: pd.DataFrame, check: CrossCheck, matched: set[str]) -> None:
        applies = _applies(frame, check)
        self.checked += int(applies.sum())
        self.matched += int(frame.loc[applies, check.column].astype(str).isin(matched).sum())

    def as_record(self, reference_exists: bool) -> dict:
        rate = round(self.matched / self.checked, 6) if self.checked else None
        return {"checked": self.checked, "matched": self.matched, "match_rate": rate,
                "reference_exists": reference_exists}
