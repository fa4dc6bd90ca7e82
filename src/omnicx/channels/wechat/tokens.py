"""The account's access token, shared by every process through the database.

WeChat gives a token for about two hours and invalidates the previous one a few minutes
after a new one is fetched, so processes must not each fetch their own: the token is
kept in ``wechat_access_tokens`` (encrypted). A process that finds it missing, expiring
or refused (``stale``) takes a short lease on the row, fetches a new one outside any
transaction (the write lock is never held across a network call) and stores it; the
others wait for that result instead of fetching too, reading the row without taking
the write lock. A fetch that fails (WeChat unreachable, an outage) keeps its lease for a
few seconds: every job and reply that needs a token meanwhile waits or fails into its
own retry, instead of each asking WeChat again at once and writing the row each time —
which, with a follower's user-info fetch scheduled per new follower, once slowed the
whole pipeline tenfold while WeChat was out of reach.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicx.channels.service import ChannelView
from omnicx.channels.wechat.models import WechatAccessToken
from omnicx.core.database import Database
from omnicx.core.time import as_utc, utcnow

# Refreshed this long before WeChat's expiry, so a token never expires in flight.
EXPIRY_MARGIN = timedelta(minutes=5)
LEASE = timedelta(seconds=15)
AFTER_FAILURE = timedelta(seconds=5)  # the next fetch after a failed one
WAIT_SECONDS = 10.0
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class WechatApiError(Exception):
    """WeChat answered with an error code (``errcode``), or not at all (``errcode`` -1)."""

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


def api_base(channel: ChannelView) -> str:
    return str(channel.settings.get("api_base") or "https://api.weixin.qq.com")


def answer_of(response: httpx.Response) -> dict[str, object]:
    """A JSON answer of WeChat's API; ``WechatApiError`` for an error code or a non-JSON
    answer."""
    try:
        body = response.json()
    except ValueError as exc:
        raise WechatApiError(-1, f"HTTP {response.status_code}, not JSON") from exc
    if not isinstance(body, dict):
        raise WechatApiError(-1, "not a JSON object")
    code = body.get("errcode")
    if isinstance(code, int) and code != 0:
        raise WechatApiError(code, str(body.get("errmsg") or ""))
    return body


class AccessTokens:
    """Access tokens of every WeChat channel, for one process."""

    def __init__(self, database: Database, http: httpx.Client | None = None):
        self.database = database
        self.http = http or httpx.Client(timeout=TIMEOUT)

    def current(self, channel: ChannelView, stale: str | None = None) -> str:
        """A valid token: the stored one unless it is ``stale`` (WeChat just refused it)
        or expiring, else a new one (fetched by this process or by another)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with self.database.read() as session:
                usable = _usable(session, channel.id, stale)
                busy = usable is None and _leased(session, channel.id)
            if usable is not None:
                return usable
            if busy:  # someone is fetching (or one failed a moment ago): wait, reading
                if time.monotonic() > deadline:
                    raise WechatApiError(-1, "another process is fetching the access token")
                time.sleep(0.1)
                continue
            try:
                with self.database.write() as session:
                    usable, leased = _take_lease(session, channel.id, stale)
            except IntegrityError:  # another process made the row first: read it again
                continue
            if usable is not None:
                return usable
            if leased:
                return self._fetch(channel)
            if time.monotonic() > deadline:
                raise WechatApiError(-1, "another process is fetching the access token")
            time.sleep(0.1)

    def _fetch(self, channel: ChannelView) -> str:
        try:
            response = self.http.get(
                f"{api_base(channel)}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": str(channel.settings.get("app_id") or ""),
                    "secret": channel.secrets.get("app_secret", ""),
                },
            )
            body = answer_of(response)
            token, expires_in = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                raise WechatApiError(-1, "no access_token in the answer")
        except (httpx.HTTPError, WechatApiError):
            with self.database.write() as session:
                row = session.get(WechatAccessToken, channel.id)
                if row is not None:
                    row.refreshing_until = utcnow() + AFTER_FAILURE
            raise
        now = utcnow()
        with self.database.write() as session:
            row = session.get(WechatAccessToken, channel.id)
            if row is None:
                row = WechatAccessToken(channel_id=channel.id, updated_at=now)
                session.add(row)
            row.token, row.refreshing_until, row.updated_at = token, None, now
            row.expires_at = now + timedelta(seconds=expires_in) - EXPIRY_MARGIN
        return token


def _usable(session: Session, channel_id: int, stale: str | None) -> str | None:
    row = session.get(WechatAccessToken, channel_id)
    if row is None or not row.token or row.token == stale or row.expires_at is None:
        return None
    return row.token if as_utc(row.expires_at) > utcnow() else None


def _leased(session: Session, channel_id: int) -> bool:
    row = session.get(WechatAccessToken, channel_id)
    return (
        row is not None
        and row.refreshing_until is not None
        and as_utc(row.refreshing_until) > utcnow()
    )


def _take_lease(session: Session, channel_id: int, stale: str | None) -> tuple[str | None, bool]:
    """Under the row's lock: a token someone stored meanwhile, or this process's lease
    to fetch one (False when another process holds it)."""
    now = utcnow()
    stmt = select(WechatAccessToken).where(WechatAccessToken.channel_id == channel_id)
    row = session.scalar(stmt.with_for_update())
    if row is None:
        row = WechatAccessToken(channel_id=channel_id, updated_at=now)
        session.add(row)
    else:
        usable = _usable(session, channel_id, stale)
        if usable is not None:
            return usable, False
        if row.refreshing_until is not None and as_utc(row.refreshing_until) > now:
            return None, False
    row.refreshing_until, row.updated_at = now + LEASE, now
    return None, True
