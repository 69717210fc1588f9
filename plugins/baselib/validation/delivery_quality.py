"""File drops: the quarantine threshold applies to each delivery, not to the whole run.

A delivery whose share of quarantined rows is above ``quarantine_threshold`` is sent back as a
whole: its remaining rows are quarantined too, with a reason that says so (so every row stays
accounted for), its manifest entry becomes ``rejected``, and the file moves to the rejected
area. The other deliveries of the run load. A run over a table source keeps the run-wide
threshold, which blocks the load (``pipeline.table_checks``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from baselib import storage
from baselib.catalog.model import Resource
from baselib.sources.extract import DELIVERY_ID, ROW_ID
from baselib.sources.file_drop import landing, manifest
from baselib.validation.rejected import rejected_records

CHECK = "delivery_quality_threshold"


@dataclass
class HeldBack:
    valid_parts: list[str]
    rows: dict[int, int] = field(default_factory=dict)      # delivery id -> rows held back (now quarantined)
    reasons: dict[int, str] = field(default_factory=dict)   # delivery id -> why the file is sent back


def hold_back(resource: Resource, prefix: str, valid_parts: list[str], rows: dict[int, int],
              quarantined: dict[int, int], rejected_writer: storage.PartWriter) -> HeldBack:
    """Move the rows of deliveries above the threshold from the valid parts to the rejected ones.
    ``rows`` and ``quarantined``: rows per delivery in this extract, and those quarantined."""
    threshold = resource.pipeline.quarantine_threshold
    failing = {d: q for d, q in quarantined.items() if rows.get(d) and q / rows[d] > threshold}
    if not failing:
        return HeldBack(valid_parts)
    held = HeldBack([], reasons={
        d: (f"交付文件中 {q}/{rows[d]} 行（{q / rows[d]:.0%}）未通过关键检查，超过阈值 {threshold:.0%}，整个文件退回 / "
            f"{q} of {rows[d]} rows of this file ({q / rows[d]:.0%}) failed critical checks, above the "
            f"{threshold:.0%} threshold: the whole file is sent back")
        for d, q in failing.items()})
    writer = storage.PartWriter(f"{prefix}/valid-kept")
    ids = pa.array(list(failing), pa.int64())
    for uri in valid_parts:
        table = storage.read_part(uri)
        mask = pc.fill_null(pc.is_in(table.column(DELIVERY_ID), value_set=ids), False)
        writer.write(table.filter(pc.invert(mask)))
        back = table.filter(mask).to_pandas()
        if back.empty:
            continue
        failures = {int(r): [{"expectation": CHECK, "check": CHECK, "severity": "critical",
                              "reason": held.reasons[int(d)]}] for r, d in zip(back[ROW_ID], back[DELIVERY_ID])}
        rejected_writer.write(pa.Table.from_pandas(
            rejected_records(back, failures, resource.pipeline.key_columns), preserve_index=False))
        for d, n in back[DELIVERY_ID].value_counts().items():
            held.rows[int(d)] = held.rows.get(int(d), 0) + int(n)
    held.valid_parts = writer.parts
    return held


def record_rejections(conn, resource: Resource, load_id: int, held: HeldBack,
                      quarantined: dict[int, int]) -> dict[str, str]:
    """Mark the sent-back deliveries ``rejected`` (caller commits); {path: reason}."""
    folder = f"{landing.folder_uri(resource.pipeline.source)}/{landing.REJECTED_DIR}/load-{load_id}"
    return {manifest.mark_rejected(conn, delivery_id, reason, quarantined.get(delivery_id, 0), folder): reason
            for delivery_id, reason in held.reasons.items()}


def move_files(resource: Resource, load_id: int, wanted: dict[str, str]) -> None:
    """Move the sent-back files to the rejected area (after the rejection is committed). A file
    that cannot be moved now is moved by the next run, which finds it known as rejected."""
    for landed in landing.list_files(resource.pipeline.source):
        if landed.uri in wanted:
            landing.reject(landed, load_id, wanted[landed.uri])
