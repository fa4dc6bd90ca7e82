"""Finding customers by name, although names are encrypted at rest.

Each name is cut into terms and only a keyed hash of each term is stored
(``customer_name_terms``; the terms and the key are ``governance.blind_index``'s, shared
with the desk's message search): a term can be looked up, not read back. A Chinese name
gives its pairs of adjacent characters (欧阳娜娜 → 欧阳, 阳娜, 娜娜), a Latin one its
words; a single character is not indexed.

A query is cut the same way and matches the customers that have every one of its terms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.errors import InvalidInput
from omnicx.core.serialization import loads
from omnicx.customers.models import CustomerNameTerm, CustomerProfile
from omnicx.governance.blind_index import term_hashes as blind_term_hashes

# The traits a name is read from (Segment's reserved traits, both spellings).
NAME_TRAITS = ("name", "firstName", "lastName", "first_name", "last_name")
TERM_KIND = "customer_name_term"
MAX_TERMS = 64  # a name longer than this is indexed by its first terms

INSERT_TERM = (
    "INSERT INTO customer_name_terms (term_hash, customer_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
)


def name_of(traits: Mapping[str, Any]) -> str:
    """The text a customer's name terms come from ('' when the traits hold no name)."""
    return " ".join(str(traits[k]) for k in NAME_TRAITS if isinstance(traits.get(k), str))


def term_hashes(text: str) -> list[bytes]:
    return blind_term_hashes(TERM_KIND, text, MAX_TERMS)


def replace_name_terms(
    session: Session, names: Mapping[int, str], unindexed: Iterable[int] = ()
) -> None:
    """Index these customers under their names now (an empty name: no terms). Those in
    ``unindexed`` are known to have no terms yet (no name until now): no delete for them."""
    if not names:
        return
    fresh = set(unindexed)
    forget_name_terms(session, [c for c in names if c not in fresh])
    RawStatements(session).many(
        INSERT_TERM,
        [(h, customer_id) for customer_id, name in names.items() for h in term_hashes(name)],
    )


def forget_name_terms(session: Session, customer_ids: Iterable[int] | None = None) -> None:
    """Drop the terms of these customers (all of them for None: a replay rebuilds them)."""
    if customer_ids is None:
        session.execute(delete(CustomerNameTerm))
        return
    ids = sorted(set(customer_ids))
    if not ids:
        return
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        session.execute(delete(CustomerNameTerm).where(CustomerNameTerm.customer_id.in_(part)))


def name_matches(query: str) -> Select[Any]:
    """The customers whose name has every term of ``query``, as a statement over
    ``customer_name_terms`` that callers order, limit and filter (a join on the profile).

    Raises InvalidInput when the query has no term that can be looked up (a single
    Chinese character, punctuation only).
    """
    hashes = term_hashes(query)
    if not hashes:
        raise InvalidInput(
            "type at least two characters of a name (or a whole word of a Latin name)",
            field="q",
        )
    return (
        select(CustomerNameTerm.customer_id)
        .where(CustomerNameTerm.term_hash.in_(hashes))
        .group_by(CustomerNameTerm.customer_id)
        # every distinct term of the query, not just one of them
        .having(func.count(func.distinct(CustomerNameTerm.term_hash)) == len(set(hashes)))
    )


def customers_named(session: Session, query: str, limit: int) -> list[int]:
    """Customers whose name has every term of ``query``, newest id first. Raises
    InvalidInput as ``name_matches`` does."""
    rows = session.execute(
        name_matches(query).order_by(CustomerNameTerm.customer_id.desc()).limit(limit)
    )
    return [int(r[0]) for r in rows]


def reindex_names(session: Session, after: int, chunk: int = 1000) -> int | None:
    """Index the names of the next ``chunk`` profiles after customer id ``after`` afresh
    (after the blind-index key changed, or for names stored before this index existed).
    Returns the last customer id done, None when there were no more."""
    rows = session.execute(
        select(CustomerProfile.customer_id, CustomerProfile.traits)
        .where(CustomerProfile.customer_id > after)
        .order_by(CustomerProfile.customer_id)
        .limit(chunk)
    ).all()
    if not rows:
        return None
    # ORM reads of the encrypted column see the JSON text (models.CustomerProfile).
    replace_name_terms(session, {r[0]: name_of(_traits(r[1])) for r in rows})
    return int(rows[-1][0])


def _traits(stored: str | None) -> dict[str, Any]:
    value = loads(stored) if stored else {}
    return value if isinstance(value, dict) else {}
