"""Reading one file from a multipart body within a limit, whatever the client claims;
file names made safe; download headers that never let a browser render a file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from omnicx.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from omnicx.core.uploads import download_headers, read_upload, safe_file_name, size_text


def _form(files: dict[str, tuple[str, bytes, str]], data: dict[str, str] | None = None):
    """A multipart body as httpx (the client library) builds it: (content type, bytes)."""
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.headers["content-type"], request.read()


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _read(content_type: str, body: bytes, limit: int, length: str | None = None):
    return asyncio.run(read_upload(content_type, length, _chunks(body), max_file_bytes=limit))


def test_the_file_its_name_type_and_the_small_fields():
    content_type, body = _form(
        {"file": ("报修单 (1).pdf", b"%PDF-1.4 ...", "application/pdf")}, {"client_id": "abc12345"}
    )
    upload = _read(content_type, body, 1000, str(len(body)))
    assert upload.name == "报修单 (1).pdf" and upload.declared_type == "application/pdf"
    assert upload.data == b"%PDF-1.4 ..." and upload.fields == {"client_id": "abc12345"}


def test_over_the_limit_is_refused_by_its_length_and_while_reading():
    content_type, body = _form({"file": ("a.bin", b"x" * 50_000, "application/octet-stream")})
    with pytest.raises(PayloadTooLarge):  # Content-Length says so: nothing is read
        _read(content_type, body, 100, str(len(body) + 100_000))
    with pytest.raises(PayloadTooLarge) as raised:  # no length (chunked): cut off at the limit
        _read(content_type, body, 10_000)
    assert raised.value.message == "the file is larger than the 10 KB limit"


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("application/json", b"{}", UnsupportedMediaType),
        ("multipart/form-data", b"", UnsupportedMediaType),  # no boundary
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a part", InvalidInput),
    ],
)
def test_what_is_not_one_file_in_a_form_is_refused(content_type, body, error):
    with pytest.raises(error):
        _read(content_type, body, 1000)


def test_no_file_an_empty_file_and_two_files_are_refused():
    for files in (
        {"other": ("a.txt", b"a", "text/plain")},
        {"file": ("a.txt", b"", "text/plain")},
    ):
        content_type, body = _form(files)
        with pytest.raises(InvalidInput):
            _read(content_type, body, 1000)
    request = httpx.Request(
        "POST", "http://x/", files=[("file", ("a.txt", b"1")), ("file", ("b.txt", b"2"))]
    )
    with pytest.raises(InvalidInput):
        _read(request.headers["content-type"], request.read(), 1000)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\张伟\\发票.pdf", "发票.pdf"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # a right-to-left override hides .exe
        ("a\x00b\r\nc.txt", "abc.txt"),
        ('"quoted"; name=x.pdf', "_quoted_; name=x.pdf"),
        ("...hidden", "hidden"),
        ("CON.txt", "_CON.txt"),
        ("", "attachment"),
        ("   ", "attachment"),
    ],
)
def test_file_names_are_made_safe(raw, safe):
    assert safe_file_name(raw, "attachment") == safe


def test_a_long_name_keeps_its_ending():
    name = safe_file_name("报" * 300 + ".docx", "attachment")
    assert len(name) == 150 and name.endswith("报.docx")


def test_download_headers_save_the_file_and_never_render_it():
    headers = download_headers("空调 发票.pdf", "application/pdf", 42)
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"attachment.pdf\"; filename*=UTF-8''%E7%A9%BA%E8%B0%83%20"
        "%E5%8F%91%E7%A5%A8.pdf"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert headers["Content-Length"] == "42"
    assert size_text(10 * 1024 * 1024) == "10 MB" and size_text(2_621_440) == "2.5 MB"
