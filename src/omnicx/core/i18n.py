"""Languages a person reads OmniCX in: zh-CN and en, through Babel's message catalogs.

The source strings (msgids) are English. Catalogs live in ``omnicx/locale/<dir>/LC_MESSAGES/
messages.po`` and are compiled in memory the first time a language is used, so an installed
package never serves a stale ``.mo``. Code that cannot know the reader's language yet (an
error raised deep in a service) keeps a ``Message``: the English text for logs, translated
when the answer is rendered.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from gettext import NullTranslations
from pathlib import Path

from babel import Locale
from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
# Language tag (what <html lang>, cookies and the users table hold) → catalog directory.
LANGUAGES: dict[str, str] = {"zh-CN": "zh_CN", "en": "en"}
# Our users are mostly companies in mainland China: with nothing to go on, Chinese.
DEFAULT_LANGUAGE = "zh-CN"
# The names the language switch shows, each in its own language.
LANGUAGE_NAMES: dict[str, str] = {"zh-CN": "中文", "en": "English"}
# Babel locales for dates, numbers and currency (zh-CN is Simplified Chinese, China).
BABEL_LOCALES: dict[str, str] = {"zh-CN": "zh_Hans_CN", "en": "en"}


def babel_locale(language: str) -> Locale:
    return Locale.parse(BABEL_LOCALES.get(language, BABEL_LOCALES[DEFAULT_LANGUAGE]))


def normalize_language(tag: str | None) -> str | None:
    """One of ``LANGUAGES`` for a tag such as ``zh``, ``zh_CN``, ``zh-Hans-CN`` or
    ``en-US``; None when OmniCX has no catalog for it."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "zh":
        # Traditional-script readers still read Simplified better than English.
        return "zh-CN"
    if parts[0] == "en":
        return "en"
    return None


def negotiate_language(accept_language: str | None) -> str | None:
    """The best of ``LANGUAGES`` for an ``Accept-Language`` header (q-values honoured),
    negotiated with Babel; None when the header names none of them."""
    if not accept_language:
        return None
    preferred: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _, rest = item.strip().partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            preferred.append((-quality, position, tag.replace("-", "_")))
    ordered = [tag for _, _, tag in sorted(preferred)]
    # "zh" alone is an available catalog so that zh-TW, zh-Hans-CN… fall back to it.
    chosen = negotiate_locale(ordered, ["zh_CN", "zh", "en"], sep="_")
    return normalize_language(chosen)


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language``; fuzzy entries are left out (not reviewed)."""
    directory = LANGUAGES.get(language)
    po_path = LOCALE_DIR / directory / "LC_MESSAGES" / "messages.po" if directory else None
    if po_path is None or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po:
        catalog = read_po(po, locale=BABEL_LOCALES[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled)


def gettext(language: str, msgid: str) -> str:
    return translations(language).gettext(msgid)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


@dataclass(frozen=True)
class Message:
    """A sentence for a person, translated when the reader's language is known.

    ``msgid`` is the English text with ``{name}`` placeholders filled from ``params``
    (``str.format`` syntax, so ``{value!r}`` works); ``str()`` is the English text, which
    is what logs and the CLI get.
    """

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.msgid.format(**self.params) if self.params else self.msgid

    def in_language(self, language: str) -> str:
        text = gettext(language, self.msgid)
        return text.format(**self.params) if self.params else text


def msg(msgid: str, **params: object) -> Message:
    """Mark a sentence for translation (``babel.cfg``'s keyword) and keep its parameters."""
    return Message(msgid, params)


def lazy(message: str | Message) -> Message:
    """A plain string is its own msgid: messages written as literals translate too."""
    return message if isinstance(message, Message) else Message(message)
