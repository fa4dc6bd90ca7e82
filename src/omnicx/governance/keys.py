"""Key rotation: re-encrypt every encrypted column under the active key, in batches.

The columns are found, not listed: every column whose type is ``EncryptedText`` in the
loaded metadata is one (so a new encrypted column joins rotation by being declared).
Rotation is safe to interrupt and re-run: a row is rewritten in its own short
transaction only while its value does not already carry the active key's id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    Text,
    func,
    select,
    tuple_,
    type_coerce,
    update,
)

from omnicx.core.crypto import VERSION, EncryptedText, keyring
from omnicx.core.database import Base, Database


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: Column[str]
    purpose: str

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def encrypted_columns() -> list[EncryptedColumn]:
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                found.append(EncryptedColumn(table, column, column.type.purpose))
    return sorted(found, key=lambda c: c.label)


def _stored(column: EncryptedColumn) -> Column[str]:
    # The stored text itself, not the decrypting type (to filter by key id).
    return type_coerce(column.column, Text)  # type: ignore[return-value]


def _key_id(stored: Column[str], sqlite: bool) -> ColumnElement[str]:
    """SQL for the key id of a stored value ``v1.<key id>.<body>``."""
    if not sqlite:
        return func.split_part(stored, ".", 2)
    rest = func.substr(stored, len(VERSION) + 2)
    return func.substr(rest, 1, func.instr(rest, ".") - 1)


def key_usage(database: Database) -> dict[str, dict[str, int]]:
    """Rows per key id, per encrypted column: what ``omnicx keys status`` shows."""
    usage: dict[str, dict[str, int]] = {}
    with database.read() as session:
        for column in encrypted_columns():
            stored = _stored(column)
            key = _key_id(stored, database.sqlite)
            rows = session.execute(
                select(key, func.count()).where(stored.is_not(None)).group_by(key)
            )
            usage[column.label] = {str(k): n for k, n in rows}
    return usage


def pending(database: Database, column: EncryptedColumn) -> int:
    """Rows of the column not yet under the active key."""
    with database.read() as session:
        stored = _stored(column)
        return (
            session.scalar(
                select(func.count())
                .select_from(column.table)
                .where(stored.is_not(None), stored.not_like(f"{keyring().active_prefix}%"))
            )
            or 0
        )


def _primary_key(column: EncryptedColumn) -> list[Column[Any]]:
    """The table's key columns: one id, or several (a channel and its thread)."""
    return list(column.table.primary_key.columns)


def _batches(database: Database, column: EncryptedColumn, size: int) -> Iterator[int]:
    keys, stored = _primary_key(column), _stored(column)
    key = tuple_(*keys) if len(keys) > 1 else keys[0]
    active = f"{keyring().active_prefix}%"
    last: Any = None
    while True:
        with database.write() as session:
            stmt = select(*keys, column.column).where(stored.is_not(None), stored.not_like(active))
            if last is not None:
                stmt = stmt.where(key > (tuple_(*last) if len(keys) > 1 else last[0]))
            rows = session.execute(stmt.order_by(*keys).limit(size)).all()
            for *pk, plaintext in rows:
                # Read decrypts with whichever key sealed it; the write seals with the active one.
                session.execute(
                    update(column.table)
                    .where(*(k == v for k, v in zip(keys, pk, strict=True)))
                    .values({column.column: plaintext})
                )
        if not rows:
            return
        last = tuple(rows[-1][: len(keys)])
        yield len(rows)


def rotate(
    database: Database,
    batch_size: int = 1000,
    on_column: Callable[[EncryptedColumn, int], Callable[[int], None]] | None = None,
) -> dict[str, int]:
    """Re-encrypt what is not under the active key. ``on_column(column, pending)`` returns
    an ``advance(n)`` callback (the CLI's progress bar). Returns rows rewritten per column."""
    done: dict[str, int] = {}
    for column in encrypted_columns():
        advance = on_column(column, pending(database, column)) if on_column else None
        done[column.label] = 0
        for count in _batches(database, column, batch_size):
            done[column.label] += count
            if advance:
                advance(count)
    return done
