"""Recognising mail no person wrote: auto-replies (out of office, "we got your mail")
and bounces. They never open a conversation and are never answered, so two systems'
auto-replies cannot start a loop (RFC 3834)."""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message

AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
DAEMONS = {"mailer-daemon", "postmaster"}


def automatic_reason(
    header: Callable[[str], str], message: Message, sender: str | None, envelope_from: str | None
) -> str | None:
    """Why a mail is automatic (``auto_submitted``, ``precedence``, ``autoreply``,
    ``delivery_report``, ``daemon_sender``, ``null_sender``), or None if a person wrote
    it. ``header`` reads a decoded header; ``envelope_from`` is the SMTP ``MAIL FROM``
    (``""`` for the null sender of bounces), None when unknown (IMAP)."""
    auto = header("Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return "auto_submitted"
    if header("Precedence").strip().lower() in AUTOMATIC_PRECEDENCE:
        return "precedence"
    if header("X-Autoreply") or header("X-Autorespond") or header("X-Autoresponder"):
        return "autoreply"
    if message.get_content_type() == "multipart/report" and (
        str(message.get_param("report-type") or "").lower()
        in ("delivery-status", "disposition-notification")
    ):
        return "delivery_report"
    if sender and sender.split("@", 1)[0] in DAEMONS:
        return "daemon_sender"
    if envelope_from is not None and envelope_from.strip("<> ") == "":
        return "null_sender"
    return None
