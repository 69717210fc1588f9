"""The text rules every source kind (postgres, http_api, file_drop) applies to its typed rows
before a part is written, so a value reaches the base table the same way whatever its source.

Text items (catalog types C and M):

- Leading and trailing white space (``str.strip()``'s set: ASCII white space, NBSP, U+3000 and
  the other Unicode spaces) and invisible format characters at the ends (U+200B–U+200D, U+2060,
  U+FEFF) are trimmed. Nothing inside the value changes.
- A value blank after trimming becomes ``''``, never NULL: only a real NULL at the source is
  NULL (the texts ``NULL``, ``NA``, ``N/A``, ``null`` … load as those texts). A required item's
  ``''`` is quarantined by the catalog's min-length check as "value is missing". File drops have
  no NULL: their readers deliver a blank cell as NULL.

Identifier items (``Item.identifier`` set), in addition and first:

- invisible format characters are removed anywhere in the value;
- Unicode NFKC (full-width digits and letters become ASCII: ``３６０１…`` → ``3601…``);
- ASCII letters are upper-cased (a check character ``x`` becomes ``X``).

Internal spaces and other stray characters are kept, so the identifier checks reject them.

Every text-carrying item (C, M, N, Y, G): PostgreSQL cannot store NUL (U+0000). A value holding
one keeps its row but is shown with U+2400 (``␀``) in its place (jsonb, where quarantined rows
are kept, cannot hold NUL either), and the row's ``_conversion_error`` names the item and the
cause, so the row is quarantined and the rest load.

How many values each rule changed is counted per item (``{"name: trimmed": 3}``) and reported in
``ExtractResult.normalised``.
"""
from __future__ import annotations

import logging
import sys
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from baselib.catalog.model import DataType, Resource
from baselib.sources.extract import CONVERSION_ERROR

log = logging.getLogger(__name__)

NUL = "\x00"
NUL_SHOWN = "\u2400"  # ␀ SYMBOL FOR NULL: the visible stand-in for a NUL kept as evidence
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space / non-joiner / joiner, word joiner, BOM
TRIMMED = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) + INVISIBLE
TEXT_TYPES = (DataType.C, DataType.M)
STRING_TYPES = (DataType.C, DataType.M, DataType.N, DataType.Y, DataType.G)  # travel as Arrow strings


def nul_reason(item) -> str:
    return (f"{item.label}({item.name}) 含 NUL(0x00) 字符，数据库无法存储 / contains a NUL (0x00) character, "
            f"which PostgreSQL cannot store")


def _join_evidence(existing: pa.ChunkedArray | pa.Array, added: pa.Array) -> pa.Array:
    """Two nullable evidence columns as one: ``"a; b"``, either alone, or NULL when both are NULL."""
    return pc.coalesce(pc.binary_join_element_wise(existing, added, "; "), existing, added)


class TextRules:
    """Applies the module's rules to one extract's tables and counts what they changed."""

    def __init__(self, resource: Resource):
        self.resource = resource
        self.counts: Counter[str] = Counter()

    def apply(self, table: pa.Table) -> pa.Table:
        """``table`` (catalog items, maybe ``_conversion_error`` and lineage columns) with its text
        normalised and a ``_conversion_error`` string column (NULL when the row is fine) naming
        any NUL found."""
        evidence = (table.column(CONVERSION_ERROR) if CONVERSION_ERROR in table.column_names
                    else pa.nulls(table.num_rows, pa.string()))
        for index, name in enumerate(table.column_names):
            item = self.resource.item(name)
            if item is None or item.type not in STRING_TYPES or table.num_rows == 0:
                continue
            column = table.column(index)
            has_nul = pc.match_substring(column, NUL)
            if pc.any(has_nul).as_py():
                column = pc.replace_substring(column, NUL, NUL_SHOWN)
                evidence = _join_evidence(evidence, pc.if_else(has_nul, nul_reason(item), pa.scalar(None, pa.string())))
            if item.type in TEXT_TYPES:
                column = self._normalise(item, column)
            table = table.set_column(index, name, column)
        if evidence.null_count < len(evidence):  # evidence texts quote values: never a raw NUL in them
            evidence = pc.replace_substring(evidence, NUL, NUL_SHOWN)
        if CONVERSION_ERROR in table.column_names:
            return table.set_column(table.column_names.index(CONVERSION_ERROR), CONVERSION_ERROR, evidence)
        return table.append_column(CONVERSION_ERROR, evidence)

    def _normalise(self, item, column: pa.ChunkedArray) -> pa.ChunkedArray:
        steps = [("trimmed", lambda c: pc.utf8_trim(c, TRIMMED))]
        if item.identifier is not None:
            steps = [("invisible characters removed", lambda c: pc.replace_substring_regex(c, f"[{INVISIBLE}]", "")),
                     ("NFKC", lambda c: pc.utf8_normalize(c, "NFKC")),
                     *steps,
                     ("upper-cased", pc.ascii_upper)]
            if pc.all(pc.string_is_ascii(column)).as_py() is not False:  # ASCII: the first two change nothing
                steps = steps[2:]
        for rule, step in steps:
            changed = step(column)
            count = pc.sum(pc.not_equal(changed, column)).as_py()
            if count:
                self.counts[f"{item.name}: {rule}"] += count
                column = changed
        return column

    def normalised(self) -> dict[str, int] | None:
        """``{"<item>: <rule>": values changed}`` over every table applied so far (logged at INFO);
        None when no rule changed anything."""
        if not self.counts:
            return None
        log.info("%s: text rules changed values: %s", self.resource.code,
                 ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))
        return dict(sorted(self.counts.items()))
