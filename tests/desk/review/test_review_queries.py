"""Queries are counted: opening unmatched items for a run of new customers reads the
same few times for 2 customers as for 20 (only the inserts grow), SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import delete, event

from omnicx.core.eventlog.facts import read_facts
from omnicx.desk.messages import Sender
from omnicx.desk.review.models import UnmatchedSender
from omnicx.desk.review.unmatched import follow_created
from tests.desk.factories import Customers
from tests.factories import process


class Rollback(Exception):
    pass


def test_opening_items_reads_the_same_for_2_and_for_20(db) -> None:
    people = Customers(db)
    for n in range(20):
        people.write("你好", thread=f"q-{n}", sender=Sender(anonymous_id=f"q-{n}"), minutes=n)
    process(db)
    with db.read() as session:
        facts, _ = read_facts(session, 0, 10**9, 1000, frozenset({"customer.created"}))
    assert len(facts) == 20

    def statements(run) -> tuple[int, int]:
        count = 0

        def counted(*_):
            nonlocal count
            count += 1

        event.listen(db.engine, "before_cursor_execute", counted)
        try:
            with db.write() as session:
                session.execute(delete(UnmatchedSender))
                session.flush()
                count = 0
                follow_created(session, run)
                session.flush()
                opened = session.query(UnmatchedSender).count()
                raise Rollback
        except Rollback:
            pass
        finally:
            event.remove(db.engine, "before_cursor_execute", counted)
        return count - 1, opened  # less the count itself

    few, opened_few = statements(facts[:2])
    many, opened_many = statements(facts)
    assert (opened_few, opened_many) == (2, 20)
    assert many - few == 18  # one insert per item; the reads stay the same
