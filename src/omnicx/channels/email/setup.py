"""Creating an email channel: the mailbox's address, and optionally the SMTP server
replies leave through and the IMAP server polled for mail. Passwords are kept encrypted
with the channel and never shown again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.email.parsing import address_of
from omnicx.channels.models import Channel
from omnicx.channels.service import create_channel, settings_of
from omnicx.core.errors import Conflict, InvalidInput
from omnicx.core.i18n import msg
from omnicx.governance.service import SYSTEM, Principal


@dataclass(frozen=True, slots=True)
class MailServer:
    """An SMTP or IMAP server: host, port, login, and TLS (``starttls`` for SMTP on
    587, ``ssl`` for implicit TLS: SMTP 465, IMAP 993)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False


def _server_settings(server: MailServer | None, prefix: str) -> dict[str, object]:
    if server is None:
        return {}
    host = server.host.strip()
    if not host or len(host) > 255 or any(c.isspace() or c in "/@" for c in host):
        raise InvalidInput(
            msg("the {prefix} host is a host name", prefix=prefix), field=prefix + "_host"
        )
    if not 1 <= server.port <= 65535:
        raise InvalidInput(
            msg("the {prefix} port is 1-65535", prefix=prefix), field=prefix + "_port"
        )
    if server.password is not None and not (server.password.isascii() and server.password):
        # smtplib and imaplib send logins as ASCII; providers' app passwords are.
        raise InvalidInput(
            msg("the {prefix} password is letters, digits and ASCII symbols", prefix=prefix),
            field=prefix + "_password",
        )
    if server.starttls and server.ssl:
        raise InvalidInput("choose STARTTLS or implicit TLS, not both", field=prefix + "_ssl")
    return {
        f"{prefix}_host": host,
        f"{prefix}_port": server.port,
        f"{prefix}_user": (server.user or "").strip() or None,
        f"{prefix}_starttls": server.starttls,
        f"{prefix}_ssl": server.ssl,
    }


def email_channel_for(session: Session, address: str) -> Channel | None:
    """The enabled email channel of a mailbox address."""
    for channel in session.scalars(select(Channel).where(Channel.kind == "email")):
        if channel.enabled and settings_of(channel).get("address") == address:
            return channel
    return None


def create_email_channel(
    session: Session,
    name: str,
    *,
    address: str,
    smtp: MailServer | None = None,
    imap: MailServer | None = None,
    actor: Principal = SYSTEM,
) -> Channel:
    """Check the mailbox's settings and create the channel (audited, without secrets)."""
    mailbox = address_of(address)
    if mailbox is None or mailbox.count("@") != 1:
        raise InvalidInput("the address is the mailbox's, e.g. support@shop.cn", field="address")
    taken = session.scalars(select(Channel).where(Channel.kind == "email"))
    if any(settings_of(c).get("address") == mailbox for c in taken):
        raise Conflict(msg("a channel has the address {address}", address=mailbox), field="address")
    settings = {
        "address": mailbox,
        **_server_settings(smtp, "smtp"),
        **_server_settings(imap, "imap"),
    }
    secrets = {
        f"{prefix}_password": server.password
        for prefix, server in (("smtp", smtp), ("imap", imap))
        if server is not None and server.password
    }
    channel, _ = create_channel(
        session, "email", name, settings=settings, secrets=secrets, actor=actor
    )
    return channel
