"""Batch import of files: JSONL of Segment-shaped calls, CSV of customers.

Rows go through the same validation as the tracking API and into the same log, so an
imported event is indistinguishable from a tracked one. Rejected rows are written to a
JSONL report with the line number and the reason; nothing is skipped silently.

A customer row's email or phone that cannot be parsed does not reject the row when
something else identifies the person (a CRM id, the other of the two): the row is
imported, the value is kept as a trait so an agent can see and fix it, it never becomes
an identifier, and the row is counted and reported as a warning. A row left with no
identifier at all is rejected with the reasons.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.time import utcnow
from omnicx.identity.normalize import InvalidIdentifier, normalize
from omnicx.ingest.tracking import EventInvalid, to_log_event

CHUNK = 1000

# CSV columns that are identifiers rather than traits.
IDENTITY_COLUMNS = {"user_id": "userId", "anonymous_id": "anonymousId"}
# Traits that identity resolution reads as identifiers (identity/extract.py).
IDENTIFIER_TRAITS = {"email": "email", "phone": "phone", "mobile": "phone"}
# Headers that map themselves (compared without case or surrounding spaces) unless
# --map says otherwise: what CRM exports and spreadsheets in Chinese and English call them.
AUTO_COLUMNS = {
    "email": "email",
    "e-mail": "email",
    "邮箱": "email",
    "电子邮箱": "email",
    "phone": "phone",
    "mobile": "phone",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "name": "name",
    "姓名": "name",
}


@dataclass(frozen=True)
class ColumnMap:
    """Where one CSV column goes, and why: ``--map``, ``auto`` or ``as is`` (a trait)."""

    column: str
    target: str
    how: str


@dataclass
class ImportReport:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    warned_rows: int = 0
    columns: list[ColumnMap] = field(default_factory=list)

    def reject(self, line: int, code: str, message: str, column: str | None, raw: Any) -> None:
        self.rejected += 1
        self.rejects.append(
            {"line": line, "code": code, "message": message, "field": column, "row": raw}
        )

    def warn(self, line: int, warnings: list[dict[str, Any]]) -> None:
        self.warned_rows += 1
        self.warnings.extend({"line": line, **w} for w in warnings)


@dataclass
class ParsedRow:
    line: int
    call: Any
    error: str | None = None
    code: str = "malformed_row"
    warnings: list[dict[str, Any]] = field(default_factory=list)


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["Mobile=phone", "Name=name"]`` → {"Mobile": "phone", "Name": "name"}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ValueError(f"mapping {pair!r} must look like COLUMN=field")
        mapping[column.strip()] = target.strip()
    return mapping


def jsonl_calls(handle: TextIO) -> Iterator[ParsedRow]:
    """The parsed call (or the parse error) of each non-empty line."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield ParsedRow(number, orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            # The call could not be parsed: hand back its text for the rejects file.
            yield ParsedRow(number, line.rstrip("\r\n"), f"malformed JSON: {exc}")


def plan_columns(header: list[str], explicit: dict[str, str]) -> list[ColumnMap]:
    """Each column's target: ``--map`` first, then the common names, else the column itself.

    A common name does not map itself onto a target that ``--map`` or an earlier column
    already took (``Phone`` and ``Mobile`` both present: only the first becomes the phone).
    """
    taken = set(explicit.values())
    plan: list[ColumnMap] = []
    for column in header:
        if column in explicit:
            plan.append(ColumnMap(column, explicit[column], "--map"))
            continue
        auto = AUTO_COLUMNS.get(column.strip().casefold())
        if auto is not None and auto not in taken and auto != column:
            taken.add(auto)
            plan.append(ColumnMap(column, auto, "auto"))
        else:
            plan.append(ColumnMap(column, column, "as is"))
    return plan


def customer_call(
    row: dict[str, str], mapping: dict[str, str], line: int, file_id: str, region: str
) -> ParsedRow:
    """An identify call for one CSV row: mapped columns become identifiers and traits."""
    traits: dict[str, Any] = {}
    call: dict[str, Any] = {"type": "identify"}
    warnings: list[dict[str, Any]] = []
    identified = False
    for column, value in row.items():
        if column is None or value is None or value.strip() == "":
            continue
        target = mapping.get(column, column)
        if target == "-":
            continue
        if target in IDENTITY_COLUMNS:
            call[IDENTITY_COLUMNS[target]] = value.strip()
            identified = True
        elif target.startswith("external:"):
            kind, _, scope = target.removeprefix("external:").partition("@")
            call.setdefault("context", {}).setdefault("externalIds", []).append(
                {"type": kind, "id": value.strip(), "collection": scope or None}
            )
            identified = True
        else:
            traits[target] = value.strip()
            if target in IDENTIFIER_TRAITS:
                kind = IDENTIFIER_TRAITS[target]
                try:
                    normalize(kind, value, region)
                    identified = True
                except InvalidIdentifier as exc:
                    warnings.append(
                        {
                            "code": f"invalid_{kind}",
                            "message": f"{column} {value.strip()!r} is {exc}; kept as a "
                            "trait, not used to identify the customer",
                            "field": column,
                        }
                    )
    call["traits"] = traits
    if not identified:
        reasons = "; ".join(w["message"].split(";")[0] for w in warnings)
        return ParsedRow(
            line,
            row,
            (f"{reasons}; " if reasons else "")
            + "the row has no user id, email, phone or external id that identifies someone",
            code="invalid_identifier" if warnings else "missing_identity",
        )
    if "userId" not in call and "anonymousId" not in call:
        # A row with only an email or phone still identifies someone: key it on the row.
        call["anonymousId"] = f"import-{file_id}-{line}"
    call["messageId"] = f"import-{file_id}-{line}"
    return ParsedRow(line, call, warnings=warnings)


def _unknown_columns(header: list[str], explicit: dict[str, str]) -> None:
    unknown = [c for c in explicit if c not in header]
    if unknown:
        raise ValueError(f"mapped columns not in the file: {', '.join(unknown)}")


def check_mapping(path: Path, explicit: dict[str, str], encoding: str = "utf-8-sig") -> None:
    """Raise ``ValueError`` if ``--map`` names a column the CSV header does not have."""
    with path.open(encoding=encoding, newline="") as handle:
        header = next(csv.reader(handle), [])
    _unknown_columns(header, explicit)


def csv_calls(
    handle: TextIO, explicit: dict[str, str], file_id: str, region: str, report: ImportReport
) -> Iterator[ParsedRow]:
    """Rows of a customers CSV as identify calls; the column plan goes into ``report``."""
    reader = csv.DictReader(handle)
    if not reader.fieldnames:
        return
    _unknown_columns(list(reader.fieldnames), explicit)
    report.columns = plan_columns(list(reader.fieldnames), explicit)
    mapping = {c.column: c.target for c in report.columns}
    for row in reader:
        line = reader.line_num
        if None in row:
            yield ParsedRow(line, None, "more values than header columns")
            continue
        yield customer_call(row, mapping, line, file_id, region)


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
    region: str = "CN",
    encoding: str = "utf-8-sig",
) -> ImportReport:
    """Validate and append every row; returns counts, the rejected rows and the warnings.

    ``progress`` is called with 1 per row read; ``region`` is the phone numbers' default
    region (``OMNICX_DEFAULT_PHONE_REGION``).
    """
    report = ImportReport()
    file_id = file_fingerprint(path)
    pending: list[LogEvent] = []
    with path.open(encoding=encoding, newline="") as handle:
        rows = (
            jsonl_calls(handle)
            if kind == "events"
            else csv_calls(handle, mapping or {}, file_id, region, report)
        )
        for parsed in rows:
            line, call = parsed.line, parsed.call
            report.read += 1
            if progress is not None:
                # Before any ``continue``: malformed rows are rows read too.
                progress(1)
            if parsed.error is not None:
                report.reject(line, parsed.code, parsed.error, None, call)
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
            else:
                if parsed.warnings:
                    report.warn(line, parsed.warnings)
            if len(pending) >= CHUNK:
                append(pending)
                report.accepted += len(pending)
                pending = []
        if pending:
            append(pending)
            report.accepted += len(pending)
    return report


def write_rejects(report: ImportReport, path: Path) -> None:
    write_jsonl(report.rejects, path)


def write_jsonl(entries: list[dict[str, Any]], path: Path) -> None:
    """One JSON object per line (the rejects and warnings reports)."""
    with path.open("wb") as handle:
        for entry in entries:
            handle.write(orjson.dumps(entry) + b"\n")


def check_encoding(path: Path, encoding: str) -> None:
    """Raise ``ValueError`` naming the first line that ``encoding`` cannot decode (before
    anything is imported: a file must not be half imported)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError as exc:
        raise ValueError(f"unknown encoding {encoding!r}") from exc
    number = 0
    with path.open("rb") as handle:
        try:
            for raw in handle:
                number += 1
                decoder.decode(raw)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"line {number} is not {encoding} text ({exc.reason}); give the file's "
                "encoding with --encoding (e.g. gb18030 for a CSV saved by Excel in Chinese)"
            ) from exc


def count_rows(path: Path) -> int:
    """Lines in the file (the progress bar's total)."""
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
