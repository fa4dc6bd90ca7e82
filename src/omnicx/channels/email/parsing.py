"""Reading a mail as it arrives (RFC 5322 bytes): who wrote it, what it answers, the new
text apart from the quoted history, safe HTML, its files, and whether a person wrote it.

Pure functions of the bytes (and the SMTP envelope when known): nothing here touches
the database, so every case is tested with real messages.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.policy import Compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from omnicx.channels.email.automatic import automatic_reason
from omnicx.channels.email.charsets import decode_header_value, decode_text
from omnicx.channels.email.quotes import fold_quotes
from omnicx.channels.email.rendering import html_to_text, sanitize_html

MESSAGE_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]+)>")
MAX_ID_CHARS = 180
MAX_REFERENCES = 40


class _RawHeaders(Compat32):
    """Compat32, but headers come back as written (8-bit bytes surrogate-escaped), so
    ``charsets`` can decode them rather than the stdlib replacing what it cannot read."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


@dataclass(frozen=True, slots=True)
class MailFile:
    """A part that is a file: an attachment, or an image shown inside the HTML."""

    name: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str  # the Message-ID without its angle brackets (made up if missing)
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: str | None  # the From address, trimmed and lower-cased
    sender_name: str
    recipients: tuple[str, ...]  # To and Cc addresses, lower-cased
    subject: str
    text: str  # the new text, quoted history folded away
    quoted: str  # the folded history
    html: str | None  # sanitised
    files: tuple[MailFile, ...]
    automatic: str | None  # why no person wrote it, or None
    sent_at: datetime | None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The mails this one answers, the nearest first."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))


def message_ids(value: str) -> tuple[str, ...]:
    """The ids in a Message-ID, In-Reply-To or References header."""
    return tuple(m for m in MESSAGE_ID.findall(value) if len(m) <= 998)


def log_message_id(message_id: str) -> str:
    """The message id on the log for a Message-ID: itself, or its SHA-256 if too long."""
    return short_id(message_id)


def short_id(value: str, limit: int = MAX_ID_CHARS) -> str:
    """``value``, or its SHA-256 if longer than ``limit`` (the log's ids are 200 at most)."""
    if len(value) <= limit:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def address_of(value: str) -> str | None:
    """An address, trimmed and lower-cased (identity's email normalisation), or None."""
    address = value.strip().strip("<>").strip().lower()
    if "@" not in address or len(address) > 254 or any(c.isspace() for c in address):
        return None
    return address


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_text(data, part.get_content_charset())


def _file_of(part: Message, index: int) -> MailFile:
    raw_name = part.get_filename() or part.get_param("name") or ""
    name = decode_header_value(str(raw_name)) if raw_name else ""
    payload = part.get_payload(decode=True)
    content_id = decode_header_value(part.get("Content-ID")).strip("<> ") or None
    inline = part.get_content_disposition() != "attachment" and content_id is not None
    subtype = part.get_content_subtype() or "bin"
    return MailFile(
        name=(name or f"part-{index}.{subtype}")[:255],
        content_type=part.get_content_type(),
        data=payload if isinstance(payload, bytes) else b"",
        inline=inline,
        content_id=content_id,
    )


def _walk(message: Message) -> tuple[str | None, str | None, list[MailFile]]:
    """The first plain-text body, the first HTML body and the files. A text part that is
    an attachment (or a whole attached mail) is a file, not the body."""
    plain: str | None = None
    html: str | None = None
    files: list[MailFile] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        attached = part.get_content_disposition() == "attachment" or bool(part.get_filename())
        if kind == "text/plain" and not attached and plain is None:
            plain = _part_text(part)
        elif kind == "text/html" and not attached and html is None:
            html = _part_text(part)
        elif kind.startswith("multipart/") or (kind.startswith("text/") and not attached):
            continue  # another body alternative (text/enriched, a second text part…)
        elif part.get_content_maintype() == "message" and not attached:
            continue
        else:
            files.append(_file_of(part, index))
    return plain, html, files


def _sent_at(value: str) -> datetime | None:
    try:
        sent = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return sent.replace(tzinfo=UTC) if sent is not None and sent.tzinfo is None else sent


def parse_mail(data: bytes, envelope_from: str | None = None) -> ParsedMail:
    """Everything the channel needs of one mail. Never raises on a malformed mail: what
    cannot be read is left empty (a missing Message-ID is made from the bytes, so the
    same mail delivered twice gets the same one)."""
    message = message_from_bytes(data, policy=_RawHeaders())

    def header(name: str) -> str:
        return decode_header_value(message.get(name))

    ids = message_ids(header("Message-ID"))
    message_id = ids[0] if ids else f"{hashlib.sha256(data).hexdigest()}@omnicx.missing"
    name, address = parseaddr(str(message.get("From") or "").replace("\n", " "))
    sender = address_of(decode_header_value(address)) if address else None
    recipients = [a for _, a in getaddresses([header("To"), header("Cc")])]
    plain, html, files = _walk(message)
    safe_html = sanitize_html(html) if html else None
    body = plain if plain is not None and plain.strip() else (html_to_text(html) if html else "")
    text, quoted = fold_quotes(body)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=message_ids(header("In-Reply-To"))[:MAX_REFERENCES],
        references=message_ids(header("References"))[-MAX_REFERENCES:],
        sender=sender,
        sender_name=decode_header_value(name).strip().strip('"')[:200],
        recipients=tuple(dict.fromkeys(a for a in map(address_of, recipients) if a)),
        subject=header("Subject")[:998],
        text=text,
        quoted=quoted,
        html=safe_html,
        files=tuple(files),
        automatic=automatic_reason(header, message, sender, envelope_from),
        sent_at=_sent_at(header("Date")),
    )
