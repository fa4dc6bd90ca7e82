"""Extract the strings people read and keep the catalogs in step (``make messages``).

Extraction follows ``babel.cfg`` at the repository root: Python files (``_()``, ``msg()``
and the first argument of every error class, so ``raise NotFound("no such page")`` is
translated without touching the raise) and the Jinja templates (``{% trans %}``, ``_()``).
The same function feeds the test that fails on a string without a Chinese translation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from configparser import RawConfigParser
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from omnicx import __version__
from omnicx.core.i18n import BABEL_LOCALES, LANGUAGES, LOCALE_DIR

PACKAGE_DIR = LOCALE_DIR.parent
ROOT = PACKAGE_DIR.parent.parent  # the repository (src/omnicx/..)
# Error classes whose first argument is the message a person reads (core.errors, the two
# subclasses defined elsewhere, and the SLA calendar's, which its API passes on). A
# non-literal argument (a ``msg()`` call) is skipped here and extracted through ``msg``.
ERROR_CLASSES = (
    "OmniError",
    "InvalidInput",
    "Unprocessable",
    "Unauthenticated",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "ServiceUnavailable",
    "AuditUnavailable",
    "WorkersRunning",
    "CalendarError",
)
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "msg": None,
    **dict.fromkeys(ERROR_CLASSES),
}
# The CLI speaks English (docs/i18n.md); its strings are not extracted.
SKIPPED = ("cli/", "migrations/", "core/message_catalog.py")


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    config = RawConfigParser()
    config.read(ROOT / "babel.cfg", encoding="utf-8")
    methods: list[tuple[str, str]] = []
    options: dict[str, dict[str, str]] = {}
    for section in config.sections():
        method, _, pattern = section.partition(":")
        # babel.cfg names paths from the repository root; extraction runs in the package.
        pattern = pattern.strip().removeprefix("src/omnicx/")
        methods.append((pattern, method.strip()))
        options[pattern] = dict(config.items(section))
    return methods, options


def extract() -> Iterator[tuple[str, int, str | tuple[str, ...], list[str]]]:
    """Every translatable string in the package: (file, line, msgid(s), comments)."""
    methods, options = _method_map()
    found = extract_from_dir(
        str(PACKAGE_DIR),
        methods,
        options,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, _context in found:
        if not filename.startswith(SKIPPED):
            yield filename, lineno, message, comments


def template_catalog() -> Catalog:
    """The extracted strings as a catalog (what a ``.pot`` holds)."""
    catalog = Catalog(project="OmniCX", msgid_bugs_address="", charset="utf-8")
    for filename, lineno, message, comments in extract():
        catalog.add(message, None, [(f"src/omnicx/{filename}", lineno)], auto_comments=comments)
    return catalog


def po_path(language: str) -> Path:
    return LOCALE_DIR / LANGUAGES[language] / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as po:
        return read_po(po, locale=BABEL_LOCALES[language])


def update() -> None:
    """Bring every language's ``messages.po`` in step with the code (new strings empty,
    removed ones dropped, changed ones marked fuzzy), keeping the translations."""
    template = template_catalog()
    for language in LANGUAGES:
        path = po_path(language)
        if path.exists():
            catalog = read_catalog(language)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=BABEL_LOCALES[language], project="OmniCX", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=False)
        catalog.obsolete.clear()
        catalog.version = __version__
        catalog.fuzzy = False  # the header; entries keep their own flags
        with path.open("wb") as po:
            write_po(po, catalog, width=100, sort_output=True, include_previous=True)


def untranslated(language: str) -> list[Message]:
    """Entries of ``language`` a reader would see in English: empty or fuzzy."""
    catalog = read_catalog(language)
    return [
        m
        for m in catalog
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]


if __name__ == "__main__":  # python -m omnicx.core.message_catalog
    update()
    missing = untranslated("zh-CN")
    for message in missing:
        print(f"untranslated: {message.id!r}", file=sys.stderr)
    print(f"catalogs updated; {len(missing)} zh-CN string(s) to translate")
