"""Finding conversations by what was written in them, although message text is
encrypted at rest.

Each message's text is cut into terms as names are (``governance.blind_index``: words,
pairs of Chinese characters) and only the keyed hash of each term is stored in
``desk_message_terms``, under a kind of its own, so a message term and a name term never
share a hash. A message gives at most ``MAX_TERMS`` distinct terms (a very long message is
found by its beginning). Customers' messages, replies and private notes are indexed when
they are stored; a message matches a query when it holds every term of the query.

The terms follow their messages: into the older conversation when a merge folds two
(``move_terms``), and away when a person's messages are erased (``forget_terms``). The
desk group's reset deletes no message, so it deletes no term either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements, chunks
from omnicx.core.errors import InvalidInput
from omnicx.customers.directory import customers_with_identifier
from omnicx.customers.search import customers_named
from omnicx.desk.models import Conversation, Message, MessageTerm
from omnicx.governance.blind_index import term_hashes

TERM_KIND = "desk_message_term"
MAX_TERMS = 256
# A name shared by more customers than this is too vague to list their conversations.
MAX_NAMED_CUSTOMERS = 500

INSERT_TERM = (
    "INSERT INTO desk_message_terms (term_hash, conversation_id, message_id) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def index_messages(session: Session, messages: Iterable[Message]) -> None:
    """Store the term hashes of these (flushed) messages' text. Idempotent."""
    RawStatements(session).many(
        INSERT_TERM,
        [
            (term, message.conversation_id, message.id)
            for message in messages
            for term in term_hashes(TERM_KIND, message.text or "", MAX_TERMS)
        ],
    )


def move_terms(session: Session, from_conversation: int, to_conversation: int) -> None:
    """The terms of messages moved to another conversation (a fold after a merge)."""
    session.execute(
        update(MessageTerm)
        .where(MessageTerm.conversation_id == from_conversation)
        .values(conversation_id=to_conversation)
    )


def forget_terms(session: Session, conversation_ids: Sequence[int]) -> int:
    """Drop every term of these conversations' messages (their text was erased)."""
    gone = 0
    for part in chunks(sorted(set(conversation_ids))):
        result = session.execute(delete(MessageTerm).where(MessageTerm.conversation_id.in_(part)))
        gone += int(getattr(result, "rowcount", 0) or 0)
    return gone


def reindex_messages(session: Session, after: int, chunk: int = 1000) -> int | None:
    """Index the next ``chunk`` messages after message id ``after`` afresh (messages
    stored before the index existed, or after the blind-index key changed). Returns the
    last message id done, None when there were no more."""
    messages = list(
        session.scalars(select(Message).where(Message.id > after).order_by(Message.id).limit(chunk))
    )
    if not messages:
        return None
    ids = [m.id for m in messages]
    session.execute(
        delete(MessageTerm).where(
            MessageTerm.conversation_id.in_({m.conversation_id for m in messages}),
            MessageTerm.message_id.in_(ids),
        )
    )
    index_messages(session, messages)
    return ids[-1]


def saying(hashes: Sequence[bytes]) -> ColumnElement[bool]:
    """Whether a conversation has a message that holds every one of ``hashes``."""
    distinct = set(hashes)
    if len(distinct) == 1:
        # One term (most searches): any message holding it will do. Asked per
        # conversation (a seek in the terms' primary key), so the inbox walks its
        # conversations newest first and stops at a page: for a word in one message of
        # six at 100,000 conversations the list query takes 2 ms instead of 52
        # (docs/benchmarks.md), where an IN list had to collect every match first.
        return (
            select(MessageTerm.conversation_id)
            .where(
                MessageTerm.term_hash == next(iter(distinct)),
                MessageTerm.conversation_id == Conversation.id,
            )
            .exists()
        )
    per_message = (
        select(MessageTerm.conversation_id)
        .where(MessageTerm.term_hash.in_(hashes))
        .group_by(MessageTerm.conversation_id, MessageTerm.message_id)
        .having(func.count(func.distinct(MessageTerm.term_hash)) == len(distinct))
    )
    return Conversation.id.in_(select(per_message.subquery().c.conversation_id).distinct())


def matching(session: Session, query: str) -> ColumnElement[bool]:
    """The conversations ``query`` finds: their customer holds it as an identifier (a
    phone in any notation, an e-mail, a user id …) or has every term of it in their name,
    or one of their messages has every term of it. Raises InvalidInput when the query is
    neither an identifier anyone holds nor has a term that can be looked up."""
    customer_ids = customers_with_identifier(session, query)
    hashes = term_hashes(TERM_KIND, query, MAX_TERMS)
    if not hashes and not customer_ids:
        raise InvalidInput(
            "type at least two characters (or a whole word) of a name or a message, "
            "or a whole phone number or e-mail",
            field="q",
        )
    if hashes:
        named = customers_named(session, query, MAX_NAMED_CUSTOMERS)
        customer_ids += [c for c in named if c not in customer_ids]
    parts: list[ColumnElement[bool]] = []
    if customer_ids:
        parts.append(Conversation.customer_id.in_(customer_ids))
    if hashes:
        parts.append(saying(hashes))
    return or_(*parts) if parts else false()
