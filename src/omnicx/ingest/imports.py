"""Batch import of files: JSONL of Segment-shaped calls, CSV of customers.

Rows go through the same validation as the tracking API and into the same log, so an
imported event is indistinguishable from a tracked one. Rejected rows are written to a
JSONL report with the line number and the reason; nothing is skipped silently.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.time import utcnow
from omnicx.ingest.tracking import EventInvalid, to_log_event

CHUNK = 1000

# CSV columns that are identifiers rather than traits.
IDENTITY_COLUMNS = {"user_id": "userId", "anonymous_id": "anonymousId"}


@dataclass
class ImportReport:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, code: str, message: str, column: str | None, raw: Any) -> None:
        self.rejected += 1
        self.rejects.append(
            {"line": line, "code": code, "message": message, "field": column, "row": raw}
        )


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["Mobile=phone", "Name=name"]`` → {"Mobile": "phone", "Name": "name"}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ValueError(f"mapping {pair!r} must look like COLUMN=field")
        mapping[column.strip()] = target.strip()
    return mapping


def jsonl_calls(handle: TextIO) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed call or None, parse error) for each non-empty line."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line), None
        except orjson.JSONDecodeError as exc:
            # The call could not be parsed: hand back its text for the rejects file.
            yield number, line.rstrip("\r\n"), f"malformed JSON: {exc}"


def customer_call(
    row: dict[str, str], mapping: dict[str, str], line: int, file_id: str
) -> dict[str, Any]:
    """An identify call for one CSV row: mapped columns become identifiers and traits."""
    traits: dict[str, Any] = {}
    call: dict[str, Any] = {"type": "identify"}
    for column, value in row.items():
        if column is None or value is None or value.strip() == "":
            continue
        target = mapping.get(column, column)
        if target == "-":
            continue
        if target in IDENTITY_COLUMNS:
            call[IDENTITY_COLUMNS[target]] = value.strip()
        elif target.startswith("external:"):
            kind, _, scope = target.removeprefix("external:").partition("@")
            call.setdefault("context", {}).setdefault("externalIds", []).append(
                {"type": kind, "id": value.strip(), "collection": scope or None}
            )
        else:
            traits[target] = value.strip()
    call["traits"] = traits
    if "userId" not in call and "anonymousId" not in call:
        # A row with only an email or phone still identifies someone: key it on the row.
        call["anonymousId"] = f"import-{file_id}-{line}"
    call["messageId"] = f"import-{file_id}-{line}"
    return call


def csv_calls(
    handle: TextIO, mapping: dict[str, str], file_id: str
) -> Iterator[tuple[int, Any, str | None]]:
    reader = csv.DictReader(handle)
    if not reader.fieldnames:
        return
    unknown = [c for c in mapping if c not in reader.fieldnames]
    if unknown:
        raise ValueError(f"mapped columns not in the file: {', '.join(unknown)}")
    for row in reader:
        line = reader.line_num
        if None in row:
            yield line, None, "more values than header columns"
            continue
        yield line, customer_call(row, mapping, line, file_id), None


def file_fingerprint(path: Path) -> str:
    """Stable id of a file's content: importing the same file twice changes nothing."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def import_file(
    path: Path,
    source_id: int,
    append: Callable[[list[LogEvent]], None],
    *,
    kind: str,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and append every row; returns counts and the rejected rows.

    ``progress`` is called with 1 per row read.
    """
    report = ImportReport()
    file_id = file_fingerprint(path)
    pending: list[LogEvent] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = (
            jsonl_calls(handle) if kind == "events" else csv_calls(handle, mapping or {}, file_id)
        )
        for line, call, error in rows:
            report.read += 1
            if progress is not None:
                # Before any ``continue``: malformed rows are rows read too.
                progress(1)
            if error is not None:
                report.reject(line, "malformed_row", error, None, call)
                continue
            # null/"" count as missing: tracking would give them a random id, and a
            # second import of the same file would then store them again.
            if kind == "events" and isinstance(call, dict) and call.get("messageId") in (None, ""):
                call["messageId"] = f"import-{file_id}-{line}"
            try:
                pending.append(
                    to_log_event(
                        source_id,
                        call,
                        event_type=None,
                        prefix="",
                        received_at=utcnow(),
                        sent_at=None,
                    )
                )
            except EventInvalid as exc:
                report.reject(line, exc.code, exc.message, exc.field, call)
            if len(pending) >= CHUNK:
                append(pending)
                report.accepted += len(pending)
                pending = []
        if pending:
            append(pending)
            report.accepted += len(pending)
    return report


def write_rejects(report: ImportReport, path: Path) -> None:
    with path.open("wb") as handle:
        for reject in report.rejects:
            handle.write(orjson.dumps(reject) + b"\n")


def count_rows(path: Path) -> int:
    """Lines in the file (the progress bar's total)."""
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
