"""Every string a person reads has a reviewed Chinese translation, and the machinery
negotiates, translates and defers as documented (docs/i18n.md)."""

from __future__ import annotations

import re

import pytest

from omnicx.core import i18n
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.i18n import msg, negotiate_language
from omnicx.core.message_catalog import extract, read_catalog, untranslated

PLACEHOLDER = re.compile(r"%\(\w+\)s|\{[^{}]*\}")


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    """msgid → where it is used, straight from the code (not from the .po file)."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _ in extract():
        for msgid in message if isinstance(message, tuple) else (message,):
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def test_extraction_finds_the_templates_and_the_errors(extracted):
    assert "Find a customer" in extracted  # a template
    assert "no customer {customer_id}" in extracted  # a msg() in a raise
    assert "batch must be an array of calls" in extracted  # a literal in a raise
    assert len(extracted) > 250


def test_every_string_has_a_chinese_translation(extracted):
    catalog = read_catalog("zh-CN")
    missing = []
    for msgid, where in sorted(extracted.items()):
        entry = catalog.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(f"{msgid!r} ({where[0]})")
    assert not missing, "run `make messages` and translate:\n" + "\n".join(missing)
    assert not [m.id for m in untranslated("zh-CN")], "empty or fuzzy entries in the zh-CN .po"


def test_translations_keep_their_placeholders():
    wrong = [
        m.id
        for m in read_catalog("zh-CN")
        if m.id and sorted(PLACEHOLDER.findall(m.id)) != sorted(PLACEHOLDER.findall(m.string))
    ]
    assert not wrong


def test_no_message_is_an_f_string(capfd):
    """An f-string cannot be looked up in a catalog: Babel skips it (and says so)."""
    list(extract())
    skipped = [line for line in capfd.readouterr().err.splitlines() if "f-string" in line]
    assert not skipped, "use msg('… {name} …', name=…) instead:\n" + "\n".join(skipped)


def test_accept_language_negotiation():
    assert negotiate_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate_language("en-US,en;q=0.9") == "en"
    assert negotiate_language("fr-FR, en;q=0.5, zh;q=0.4") == "en"
    assert negotiate_language("zh-Hans-CN") == "zh-CN"
    assert negotiate_language("de, fr") is None
    assert negotiate_language("en;q=0, zh;q=0.1") == "zh-CN"
    assert negotiate_language("") is None


def test_an_error_keeps_english_for_logs_and_translates_when_rendered():
    error = NotFound(msg("no customer {customer_id}", customer_id=42), field="id")
    assert error.message == "no customer 42" and str(error) == "no customer 42"
    assert error.to_body("zh-CN") == {
        "error": {"code": "not_found", "message": "没有客户 42", "field": "id"}
    }
    assert error.to_body("en")["error"]["message"] == "no customer 42"
    literal = InvalidInput("batch must be an array of calls", field="batch")
    assert literal.in_language("zh-CN") == "batch 必须是调用组成的数组"
    # A message nobody wrote a catalog entry for still reaches the reader, in English.
    assert InvalidInput("something new").in_language("zh-CN") == "something new"


def test_catalogs_compile_from_the_installed_package_files():
    assert (i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").is_file()
    assert i18n.gettext("zh-CN", "Sign in") == "登录"
    assert i18n.gettext("en", "Sign in") == "Sign in"
