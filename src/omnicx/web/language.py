"""The language of each request and what the templates need to speak it.

Who decides, first to last: the signed-in user's own setting (account page, header
switch); a ``?lang=`` on the address, remembered in a cookie (anonymous pages: sign-in,
consent, errors); the browser's ``Accept-Language`` negotiated by Babel; else zh-CN
(``core.i18n.DEFAULT_LANGUAGE``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from babel.numbers import format_currency, format_decimal
from fastapi import Request, Response
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from omnicx.core.i18n import (
    DEFAULT_LANGUAGE,
    Message,
    babel_locale,
    gettext,
    negotiate_language,
    ngettext,
    normalize_language,
)
from omnicx.core.time import as_utc, utcnow
from omnicx.web.session import signed_in_user

COOKIE = "omnicx_lang"
COOKIE_SECONDS = 365 * 24 * 3600


def request_language(request: Request, *, use_account: bool = True) -> str:
    """The language to answer ``request`` in (remembered on the request).

    ``use_account=False`` skips the users table (an unexpected error may mean the database
    is what failed)."""
    chosen = getattr(request.state, "language", None)
    if isinstance(chosen, str):
        return chosen
    language = None
    if use_account and "session" in request.scope:
        user = signed_in_user(request)
        language = user.get("locale") if user else None
    language = (
        language
        or normalize_language(request.query_params.get("lang"))
        or normalize_language(request.cookies.get(COOKIE))
        or negotiate_language(request.headers.get("accept-language"))
        or DEFAULT_LANGUAGE
    )
    if use_account:
        request.state.language = language
    return language


def remember_language(request: Request, response: Response) -> None:
    """A ``?lang=`` choice outlives the page it was made on (a cookie for a year)."""
    asked = normalize_language(request.query_params.get("lang"))
    if asked is not None:
        response.set_cookie(COOKIE, asked, max_age=COOKIE_SECONDS, samesite="lax")


def translate(request: Request, message: str | Message) -> str:
    """A message for the person who sent ``request``, in their language."""
    language = request_language(request)
    if isinstance(message, Message):
        return message.in_language(language)
    return gettext(language, message)


# -- Jinja --------------------------------------------------------------------------------
# Each render carries ``language`` and ``timezone`` in its context: the shared environment
# holds no per-request state, so concurrent requests in other languages cannot mix.


def _language(context: Context) -> str:
    return str(context.get("language") or DEFAULT_LANGUAGE)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return gettext(_language(context), message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return ngettext(_language(context), singular, plural, n)


def _zone(context: Context) -> ZoneInfo:
    return ZoneInfo(str(context.get("timezone") or "UTC"))


@pass_context
def datetime_filter(context: Context, value: datetime | None) -> str:
    """A moment in the site's time zone: medium date, short time (``2026年5月1日 08:00``,
    ``May 1, 2026, 8:00 AM``)."""
    if value is None:
        return "—"
    locale = babel_locale(_language(context))
    moment = as_utc(value).astimezone(_zone(context))
    pattern = get_datetime_format("medium", locale=locale)
    return (
        str(pattern)
        .replace("{1}", format_date(moment, "medium", locale=locale))
        .replace("{0}", format_time(moment, "short", locale=locale))
    )


@pass_context
def date_filter(context: Context, value: datetime | date | None) -> str:
    """A day; a moment counts in the site's time zone."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(_zone(context)).date()
    return format_date(value, "medium", locale=babel_locale(_language(context)))


@pass_context
def time_filter(context: Context, value: datetime | None) -> str:
    if value is None:
        return "—"
    moment = as_utc(value).astimezone(_zone(context))
    return format_time(moment, "short", locale=babel_locale(_language(context)))


@pass_context
def number_filter(context: Context, value: int | float | Decimal | None) -> str:
    if value is None:
        return "—"
    return format_decimal(value, locale=babel_locale(_language(context)))


@pass_context
def currency_filter(
    context: Context, value: int | float | Decimal | None, currency: str | None = None
) -> str:
    """An amount with its currency (CNY when the order did not say)."""
    if value is None:
        return "—"
    return format_currency(value, currency or "CNY", locale=babel_locale(_language(context)))


@pass_context
def ago_filter(context: Context, value: datetime | None) -> str:
    """How long ago a moment was, in words (``5 minutes ago``, ``5分钟前``)."""
    if value is None:
        return "—"
    return format_timedelta(
        as_utc(value) - utcnow(), add_direction=True, locale=babel_locale(_language(context))
    )


def install_i18n(env: Environment) -> None:
    """``{% trans %}``, ``_()`` and the locale-aware filters on the shared environment."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    env.filters |= {
        "datetime": datetime_filter,
        "date": date_filter,
        "time": time_filter,
        "number": number_filter,
        "currency": currency_filter,
        "ago": ago_filter,
    }


def localize_context(language: str, context: dict[str, Any]) -> dict[str, Any]:
    """Messages a handler put in the context, in the reader's language."""
    return {
        key: value.in_language(language) if isinstance(value, Message) else value
        for key, value in context.items()
    }
