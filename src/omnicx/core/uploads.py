"""Files in and out over HTTP: one file read from a ``multipart/form-data`` body within a
limit, a file name made safe to keep and to hand back, and the headers of a download.

A core primitive because every part that takes files (the desk's API, the web chat
widget, channel media) must bound them the same way. The body is read from the request's
stream into memory and refused as soon as it passes the limit: no temporary file ever
holds a customer's file in plaintext, and a client that lies about its size or sends
no size at all is cut off at the limit, not after it has sent a gigabyte.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message as MimeHeaders
from email.utils import collapse_rfc2231_value
from urllib.parse import quote

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from omnicx.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from omnicx.core.i18n import msg

# Part headers, the boundary lines and a few small fields around the file.
FORM_OVERHEAD = 16 * 1024
MAX_FIELD_BYTES = 1024
MAX_PARTS = 8
MAX_NAME_CHARS = 150
MAX_EXTENSION_CHARS = 16
# Characters no file system or download dialog should get: path separators, Windows'
# reserved ones, quotes that would end a header's quoted string.
UNSAFE = re.compile(r'[<>:"/\\|?*\'`]')
WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Upload:
    """The file of a form: its declared name and type (as the client said), its bytes,
    and the form's other (small, text) fields."""

    name: str
    declared_type: str
    data: bytes
    fields: dict[str, str]


def size_text(size: int) -> str:
    """A size as people read it: ``10 MB``, ``2.5 MB``, ``512 KB``."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        msg("the file is larger than the {limit} limit", limit=size_text(limit)), field="file"
    )


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray = field(default_factory=bytearray)


class _Form:
    """python-multipart's callbacks, collecting the parts within the limits."""

    def __init__(self, file_field: str, max_file_bytes: int):
        self.file_field, self.max_file_bytes = file_field, max_file_bytes
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.file: _Part | None = None
        self.fields: dict[str, str] = {}
        self.parts = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.begin,
            "on_header_field": lambda data, start, end: self.header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self.header_value.extend(data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.data,
            "on_part_end": self.end,
        }

    def begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidInput("the form has too many parts", field="file")
        self.part = _Part()

    def header_end(self) -> None:
        name = self.header_field.decode("latin-1").strip().lower()
        # Browsers send a file name's UTF-8 bytes as they are.
        self.part.headers[name] = self.header_value.decode("utf-8", "replace").strip()
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        headers = MimeHeaders()
        headers["content-disposition"] = self.part.headers.get("content-disposition", "")
        name = headers.get_param("name", header="content-disposition")
        self.part.name = collapse_rfc2231_value(name) if name else ""
        self.part.filename = headers.get_filename()
        self.part.content_type = self.part.headers.get("content-type", "")[:255]

    def data(self, data: bytes, start: int, end: int) -> None:
        self.part.data.extend(data[start:end])
        is_file = self.part.name == self.file_field
        if is_file and len(self.part.data) > self.max_file_bytes:
            raise too_large(self.max_file_bytes)
        if not is_file and len(self.part.data) > MAX_FIELD_BYTES:
            raise InvalidInput(
                msg("the form field {name} is too long", name=self.part.name[:50]), field="file"
            )

    def end(self) -> None:
        if self.part.name != self.file_field:
            self.fields[self.part.name] = self.part.data.decode("utf-8", "replace")
        elif self.file is not None:
            raise InvalidInput("send one file at a time", field="file")
        else:
            self.file = self.part


async def read_upload(
    content_type: str | None,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    *,
    max_file_bytes: int,
    file_field: str = "file",
) -> Upload:
    """The one file (form field ``file_field``) of a ``multipart/form-data`` body.

    Raises ``UnsupportedMediaType`` (not multipart), ``PayloadTooLarge`` (over
    ``max_file_bytes``, checked against Content-Length first and again while reading) and
    ``InvalidInput`` (malformed, no file, an empty file, several files)."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("send the file as multipart/form-data", field="file")
    limit = max_file_bytes + FORM_OVERHEAD
    if content_length and content_length.isdigit() and int(content_length) > limit:
        raise too_large(max_file_bytes)
    form = _Form(file_field, max_file_bytes)
    try:
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise too_large(max_file_bytes)
            parser.write(chunk)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        raise InvalidInput("the multipart body is malformed", field="file") from exc
    if form.file is None:
        raise InvalidInput(
            msg("send the file in the form field {name}", name=file_field), field="file"
        )
    if not form.file.data:
        raise InvalidInput("the file is empty", field="file")
    return Upload(
        name=form.file.filename or "",
        declared_type=form.file.content_type,
        data=bytes(form.file.data),
        fields=form.fields,
    )


def safe_file_name(raw: str | None, fallback: str) -> str:
    """A file name safe to store and to offer for download: no directories, no control
    or bidirectional-override characters (``invoice\u202egnp.exe``), no characters a file
    system refuses, not hidden, not a Windows device; ``fallback`` when nothing is left."""
    name = unicodedata.normalize("NFC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = " ".join(UNSAFE.sub("_", name).split()).strip(" .")
    if WINDOWS_DEVICES.match(name):
        name = "_" + name
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= MAX_EXTENSION_CHARS:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or fallback


def download_headers(name: str, content_type: str, size: int) -> dict[str, str]:
    """Headers that make a browser save the file, never render or sniff it: an
    attachment with its name (ASCII fallback and RFC 6266 UTF-8 form), nosniff, and a
    sandbox should it be opened in a tab anyway."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    ascii_stem = safe_file_name(stem.encode("ascii", "ignore").decode(), "attachment")
    ascii_extension = extension.encode("ascii", "ignore").decode()
    ascii_name = f"{ascii_stem}.{ascii_extension}" if ascii_extension else ascii_stem
    return {
        "Content-Type": content_type,
        "Content-Length": str(size),
        "Content-Disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
