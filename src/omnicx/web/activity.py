"""A timeline event as a sentence a person reads ("下单 ¥1,299.00", "发来微信消息",
"客服回复") instead of its stored name ("Order Completed").

Used by the customer 360 page and the conversation page's customer panel
(``{{ event|event_sentence }}``). The properties it quotes are the ones the access layer
already shaped for the reader's role; an order beyond the role's limit comes without
them, so its sentence names no amount. An event the catalogue below does not know is
shown by its name: custom events are named by the business that sends them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from babel.numbers import format_currency
from jinja2 import pass_context
from jinja2.runtime import Context

from omnicx.core.i18n import DEFAULT_LANGUAGE, Message, babel_locale, msg
from omnicx.customers.schemas import TimelineItem
from omnicx.desk.service import RECEIVED, SENT
from omnicx.web.labels import label_in

# Long free text (a product name, a subject) is cut to this many characters.
QUOTED = 80

Describe = Callable[[dict[str, Any], str], Message | None]


def _quoted(properties: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = properties.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
            if text:
                return text if len(text) <= QUOTED else text[: QUOTED - 1] + "…"
    return None


def _amount(properties: dict[str, Any], language: str, *keys: str) -> str | None:
    for key in keys:
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            currency = properties.get("currency")
            code = currency if isinstance(currency, str) and len(currency) == 3 else "CNY"
            return format_currency(value, code.upper(), locale=babel_locale(language))
    return None


def _product(properties: dict[str, Any]) -> str | None:
    return _quoted(properties, "name", "product", "sku")


def _message_received(properties: dict[str, Any], language: str) -> Message:
    channel = _quoted(properties, "channel")
    if channel == "phone" and properties.get("call_event"):
        return call_message(properties)
    if channel is None:
        return msg("Sent a message")
    return msg("Sent a {channel} message", channel=label_in(language, "channel", channel))


def _email_received(properties: dict[str, Any], language: str) -> Message:
    subject = _quoted(properties, "subject")
    return msg("Sent an email: {subject}", subject=subject) if subject else msg("Sent an email")


def _call(properties: dict[str, Any], language: str) -> Message:
    seconds = properties.get("duration_seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        return msg("Phone call")
    minutes = max(1, math.ceil(seconds / 60))
    if properties.get("direction") == "outbound":
        return msg("We called them ({minutes} min)", minutes=minutes)
    return msg("Called us ({minutes} min)", minutes=minutes)


def _duration(seconds: object) -> str | None:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        return None
    return f"{seconds // 60}:{seconds % 60:02d}"


def call_message(details: dict[str, Any]) -> Message:
    """A phone message's sentence ("来电 3:12", "未接来电", "通话录音"), from the call
    details the phone channel puts in its properties or its ``call`` attachment."""
    event = details.get("call_event") or details.get("type")
    if event == "recording":
        return msg("Call recording")
    if event == "transcript":
        return msg("Call transcript")
    outcome, inbound = details.get("outcome"), details.get("direction") != "outbound"
    if outcome == "missed":
        return msg("Missed call")
    if outcome == "unanswered":
        return msg("We called, no answer")
    duration = _duration(details.get("duration_seconds"))
    if duration is None:
        return msg("Incoming call") if inbound else msg("Outgoing call")
    if inbound:
        return msg("Incoming call, {duration}", duration=duration)
    return msg("Outgoing call, {duration}", duration=duration)


@pass_context
def call_sentence(context: Context, attachment: dict[str, Any]) -> str:
    """The Jinja filter for a message's ``call``/``recording``/``transcript`` attachment."""
    language = str(context.get("language") or DEFAULT_LANGUAGE)
    return call_message(attachment).in_language(language)


def _ordered(properties: dict[str, Any], language: str) -> Message:
    amount = _amount(properties, language, "total", "revenue")
    return msg("Ordered {amount}", amount=amount) if amount else msg("Placed an order")


def _shipped(properties: dict[str, Any], language: str) -> Message:
    carrier = _quoted(properties, "carrier")
    return msg("Order shipped by {carrier}", carrier=carrier) if carrier else msg("Order shipped")


def _refunded(properties: dict[str, Any], language: str) -> Message:
    amount = _amount(properties, language, "total", "amount", "revenue")
    return msg("Order refunded: {amount}", amount=amount) if amount else msg("Order refunded")


def _invoice(properties: dict[str, Any], language: str) -> Message:
    amount = _amount(properties, language, "amount", "total")
    return (
        msg("Asked for an invoice of {amount}", amount=amount)
        if amount
        else msg("Asked for an invoice")
    )


def _inquiry(properties: dict[str, Any], language: str) -> Message:
    topic = _quoted(properties, "topic")
    return msg("After-sales inquiry: {topic}", topic=topic) if topic else msg("After-sales inquiry")


def _about_product(named: Callable[[str], Message], unnamed: Message) -> Describe:
    def describe(properties: dict[str, Any], language: str) -> Message:
        product = _product(properties)
        return named(product) if product else unnamed

    return describe


def _fixed(sentence: Message) -> Describe:
    return lambda properties, language: sentence


TRACKED: dict[str, Describe] = {
    RECEIVED: _message_received,
    "WeChat Message Received": lambda p, lang: _message_received({"channel": "wechat"}, lang),
    SENT: _fixed(msg("Agent replied")),
    "Email Received": _email_received,
    "Call Completed": _call,
    "Call Ringing": _fixed(msg("The phone rang")),
    "Call Answered": _fixed(msg("Call answered")),
    "Order Completed": _ordered,
    "Order Shipped": _shipped,
    "Order Cancelled": _fixed(msg("Cancelled an order")),
    "Order Refunded": _refunded,
    "Order Updated": _fixed(msg("Order updated")),
    "Checkout Started": _fixed(msg("Started checkout")),
    "Product Viewed": _about_product(
        lambda product: msg("Viewed {product}", product=product), msg("Viewed a product")
    ),
    "Product Added": _about_product(
        lambda product: msg("Added {product} to the cart", product=product),
        msg("Added a product to the cart"),
    ),
    "Invoice Requested": _invoice,
    "Warranty Registered": _about_product(
        lambda product: msg("Registered the warranty of {product}", product=product),
        msg("Registered a warranty"),
    ),
    "After-sales Inquiry": _inquiry,
    "Signed Up": _fixed(msg("Signed up")),
    # A supervisor linked an unmatched sender to this customer (desk/review/unmatched.py).
    "Customers Linked": _fixed(msg("Linked to this customer by a supervisor")),
}


def sentence(item: TimelineItem, language: str) -> str:
    """What ``item`` says, in ``language``."""
    found = _describe(item, language)
    if found is None:
        return item.name or item.type
    return found.in_language(language)


def _describe(item: TimelineItem, language: str) -> Message | None:
    properties = item.properties
    if item.type == "identify":
        return msg("Updated their profile")
    if item.type == "alias":
        return msg("Linked another ID")
    if item.type == "group":
        return msg("Joined a group")
    if item.type in ("page", "screen"):
        name = item.name or _quoted(properties, "title", "name", "path")
        if item.type == "screen":
            return msg("Opened the app screen {name}", name=name) if name else None
        return msg("Viewed the page {name}", name=name) if name else msg("Viewed a page")
    describe = TRACKED.get(item.name or "")
    if describe is None:
        return None
    if item.name == RECEIVED and "channel" not in properties and item.channel:
        properties = {**properties, "channel": item.channel}
    return describe(properties, language)


@pass_context
def event_sentence(context: Context, item: TimelineItem) -> str:
    """The Jinja filter: ``{{ event|event_sentence }}`` in the page's language."""
    return sentence(item, str(context.get("language") or DEFAULT_LANGUAGE))
