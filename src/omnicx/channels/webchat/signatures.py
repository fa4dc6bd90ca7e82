"""Who is chatting: the site's signature on its logged-in user, and ours on a visitor id.

A site vouches for its user as Intercom and Chatwoot do: its server computes
``user_hash = HMAC-SHA256(channel identity secret, user_id)`` in hex and puts both in
the page. Without the secret nobody can claim to be another user.

Visitor ids are issued by the server and signed with the instance's secret key, so a
page cannot pick someone else's anonymous id (and read that visitor's thread).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_USER_ID = 200


def thread_for(visitor_id: str, user_id: str | None) -> str:
    """A visitor's thread: the site's user if it vouched for one, else the visitor id."""
    return f"u:{user_id}" if user_id else f"v:{visitor_id}"


def user_hash(secret: str, user_id: str) -> str:
    """What the site's server computes for ``user_id`` (hex HMAC-SHA256)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_vouched(secret: str | None, user_id: str, claimed_hash: str) -> bool:
    """Whether the site signed this user id (constant-time; False without a secret)."""
    if not secret or not user_id or len(user_id) > MAX_USER_ID or "\x00" in user_id:
        return False
    return hmac.compare_digest(user_hash(secret, user_id), claimed_hash.strip().lower())


def _visitor_signature(key: str, channel_id: int, visitor_id: str) -> str:
    message = f"webchat-visitor:{channel_id}:{visitor_id}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


def issue_visitor(key: str, channel_id: int) -> tuple[str, str]:
    """A new visitor id and the token the widget keeps (``id.signature``)."""
    visitor_id = "wv_" + secrets.token_urlsafe(18)
    return visitor_id, f"{visitor_id}.{_visitor_signature(key, channel_id, visitor_id)}"


def visitor_of(key: str, channel_id: int, token: str | None) -> str | None:
    """The visitor id in a token this server issued for this channel, else None."""
    if not token or len(token) > 120:
        return None
    visitor_id, _, signature = token.partition(".")
    if not VISITOR_ID.match(visitor_id):
        return None
    expected = _visitor_signature(key, channel_id, visitor_id)
    return visitor_id if hmac.compare_digest(expected, signature) else None
