"""Each person's journey across web, app, commerce and service channels, as calls."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from omnicx.core.time import as_utc, utcnow
from omnicx.ingest.demo.people import (
    _iso,
    _People,
    _Person,
)
from omnicx.ingest.demo.vocabulary import (
    APP,
    EMAIL_SUBJECTS,
    INQUIRY_TOPICS,
    JUNK_ANONYMOUS_IDS,
    PRODUCTS,
    SPAN,
    USER_AGENTS,
    WECHAT_APP,
    WECHAT_OPEN_PLATFORM,
    WECHAT_TEXTS,
)


class _Journey:
    """One person's calls; a cursor moves forward in time, nothing after the anchor."""

    def __init__(self, rng: random.Random, person: _Person, anchor: datetime):
        self.rng, self.p, self.anchor = rng, person, anchor
        self.t = anchor - SPAN + timedelta(minutes=rng.randrange(170 * 24 * 60))
        self.calls: list[dict[str, Any]] = []
        self.locale = (
            "zh-CN" if person.chinese else ("en-US" if person.country == "US" else "en-GB")
        )

    def later(self, lo: float, hi: float) -> None:
        """Move the cursor on by lo..hi minutes."""
        self.t += timedelta(seconds=self.rng.uniform(lo * 60, hi * 60))

    def new_session(self, lo_days: float, hi_days: float) -> None:
        self.later(lo_days * 1440, hi_days * 1440)

    def emit(self, kind: str, ids: dict[str, Any], **fields: Any) -> None:
        self.later(0.2, 4)
        if self.t < self.anchor:
            fields = {k: v for k, v in fields.items() if k != "context" or v}
            self.calls.append({"type": kind, "timestamp": _iso(self.t), **ids, **fields})

    # -- spellings ----------------------------------------------------------------
    def phone(self) -> str:
        e164, rng = self.p.phone, self.rng
        if self.p.country == "CN":
            n = e164[3:]
            return rng.choice(
                (
                    n,
                    n,
                    f"{n[:3]} {n[3:7]} {n[7:]}",
                    f"+86 {n[:3]}-{n[3:7]}-{n[7:]}",
                    e164,
                    f"{n[:3]}-{n[3:7]}-{n[7:]}",
                )
            )
        if self.p.country == "US":
            n = e164[2:]
            return rng.choice(
                (e164, f"+1 {n[:3]}-{n[3:6]}-{n[6:]}", f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}")
            )
        n = e164[3:]
        return rng.choice((e164, f"+44 {n[:4]} {n[4:]}", f"+44 (0){n[:4]} {n[4:]}"))

    def email(self) -> str:
        roll = self.rng.random()
        if roll < 0.1:
            return self.p.email + " "
        if roll < 0.2:
            local, domain = self.p.email.split("@")
            return f"{local.title()}@{domain.upper() if roll < 0.13 else domain}"
        return self.p.email

    def traits(self) -> dict[str, Any]:
        p, rng = self.p, self.rng
        traits: dict[str, Any] = {
            "name": p.name,
            "email": self.email(),
            "phone": self.phone(),
            "city": p.city,
            "tier": p.tier,
        }
        if rng.random() < 0.7:
            traits["gender"] = p.gender
        if rng.random() < 0.6:
            traits["birthday"] = p.birthday
        if rng.random() < 0.15:
            del traits["phone"]
        return traits

    # -- channels -----------------------------------------------------------------
    def web_context(self, path: str, title: str) -> dict[str, Any]:
        host = "www.omnishop.cn" if self.p.chinese else "www.omnishop.com"
        return {
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "locale": self.locale,
            "userAgent": self.rng.choice(USER_AGENTS),
            "page": {"path": path, "url": f"https://{host}{path}", "title": title},
        }

    def page(self, ids: dict[str, Any], path: str, title: str) -> None:
        context = self.web_context(path, title)
        self.emit("page", ids, name=title, properties=dict(context["page"]), context=context)

    def product_name(self, product: tuple[Any, ...]) -> str:
        return str(product[1] if self.p.chinese else product[2])

    def browse(self, ids: dict[str, Any], product: tuple[Any, ...]) -> None:
        self.page(ids, "/", "OmniShop 首页" if self.p.chinese else "OmniShop – Home")
        for _ in range(self.rng.randrange(0, 3)):
            if self.p.chinese:
                self.page(ids, "/promo/double-11", "双十一特惠")
            else:
                self.page(ids, "/deals", "Deals")
        path, name = f"/products/{product[0].lower()}", self.product_name(product)
        self.page(ids, path, name)
        self.emit(
            "track",
            ids,
            event="Product Viewed",
            properties=self.line(product, 1),
            context=self.web_context(path, name),
        )

    def line(self, product: tuple[Any, ...], quantity: int) -> dict[str, Any]:
        return {
            "sku": product[0],
            "name": self.product_name(product),
            "price": product[3] if self.p.chinese else product[4],
            "quantity": quantity,
        }

    def app_context(self) -> dict[str, Any]:
        assert self.p.app is not None
        return {
            "app": dict(APP),
            "device": dict(self.p.app["device"]),
            "os": dict(self.p.app["os"]),
            "locale": self.locale,
            "library": {"name": "analytics-" + self.p.app["device"]["type"], "version": "4.1.5"},
        }

    def server_ids(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Identity of a backend call: the CRM id, or a guest's browser id and email."""
        if self.p.user_id:
            return {"userId": self.p.user_id}, {}
        return {"anonymousId": self.p.web_ids[0]}, {"traits": {"email": self.email()}}

    def channel(self, kind: str, event: str, properties: dict[str, Any]) -> None:
        p = self.p
        bound = p.user_id is not None and self.rng.random() < 0.5
        ids = {"userId": p.user_id} if bound else {"anonymousId": p.contact_ids[kind]}
        context: dict[str, Any] = {"channel": kind}
        if kind == "wechat" and p.openid:
            context["externalIds"] = [
                {
                    "type": "wechat_openid",
                    "id": p.openid,
                    "collection": WECHAT_APP,
                    "encoding": "none",
                }
            ]
            if p.unionid:
                context["externalIds"].append(
                    {
                        "type": "wechat_unionid",
                        "id": p.unionid,
                        "collection": WECHAT_OPEN_PLATFORM,
                        "encoding": "none",
                    }
                )
        elif kind == "phone":
            context["traits"] = {"phone": self.phone()}
        else:
            context["traits"] = {"email": self.email()}
        self.emit("track", ids, event=event, properties=properties, context=context)

    def contact(self, topic: str | None = None) -> None:
        """One customer contact on a channel the person uses."""
        p, rng = self.p, self.rng
        kinds = ["phone", "email"] + (["wechat", "wechat", "wechat"] if p.openid else [])
        kind = rng.choice(kinds)
        if kind == "wechat":
            for _ in range(rng.randrange(1, 4)):
                self.channel(
                    "wechat",
                    "WeChat Message Received",
                    {"text": rng.choice(WECHAT_TEXTS), "msg_type": "text"},
                )
        elif kind == "phone":
            self.channel(
                "phone",
                "Call Completed",
                {
                    "direction": rng.choice(("inbound", "inbound", "outbound")),
                    "duration_seconds": rng.randrange(40, 900),
                    "queue": topic or "general",
                },
            )
        else:
            lang = "zh" if p.chinese else "en"
            self.channel(
                "email",
                "Email Received",
                {"subject": rng.choice(EMAIL_SUBJECTS[lang]), "mailbox": "support"},
            )

    # -- the story ----------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        p, rng = self.p, self.rng
        first = {"anonymousId": p.web_ids[0]}
        self.browse(first, rng.choice(PRODUCTS))
        if p.user_id:
            self.emit("identify", {"userId": p.user_id, **first}, traits=self.traits())
        elif rng.random() < 0.75:
            self.emit("identify", first, traits=self.traits())
        if p.app:
            self.new_session(0.5, 10)
            self.app_session()
        orders = rng.choices((0, 1, 2, 3), weights=(30, 42, 20, 8))[0]
        unhappy = orders > 0 and rng.random() < 0.06
        for number in range(orders):
            self.new_session(1, 25)
            self.order(number, unhappy and number == 0)
        for _ in range(rng.choices((0, 1, 2), weights=(55, 35, 10))[0]):
            self.new_session(2, 30)
            self.contact()
        return self.calls

    def app_session(self) -> None:
        p, rng = self.p, self.rng
        assert p.app is not None
        anonymous = {"anonymousId": p.app["anonymousId"]}
        logged_in = p.user_id is not None and rng.random() < 0.5
        ids = {"userId": p.user_id, **anonymous} if logged_in else anonymous
        for screen in ("Home", "Category", "Product Detail")[: rng.randrange(1, 4)]:
            self.emit(
                "screen", ids, name=screen, properties={"name": screen}, context=self.app_context()
            )
        if p.user_id and not logged_in:
            self.emit(
                "alias",
                {"userId": p.user_id},
                previousId=p.app["anonymousId"],
                context=self.app_context(),
            )
        elif not p.user_id and rng.random() < 0.4:
            self.emit(
                "identify", anonymous, traits={"email": self.email()}, context=self.app_context()
            )

    def order(self, number: int, unhappy: bool) -> None:
        p, rng = self.p, self.rng
        product = rng.choice(PRODUCTS)
        quantity = rng.choice((1, 1, 1, 2))
        on_app = p.app is not None and rng.random() < 0.4
        if on_app:
            assert p.app is not None
            ids: dict[str, Any] = {"anonymousId": p.app["anonymousId"]}
            context = self.app_context()
            self.emit(
                "screen",
                ids,
                name="Product Detail",
                context=context,
                properties={"name": "Product Detail", "sku": product[0]},
            )
        else:
            ids = {"anonymousId": rng.choice(p.web_ids)}
            context = self.web_context("/cart", "购物车" if p.chinese else "Cart")
            self.browse(ids, product)
        if p.user_id:
            ids["userId"] = p.user_id
        line = self.line(product, quantity)
        order_id = f"{'CN' if p.chinese else 'US'}{p.index + 1:06d}-{number + 1}"
        self.emit("track", ids, event="Product Added", properties=line, context=context)
        total = line["price"] * quantity
        guest = {} if p.user_id else {"traits": {"email": self.email()}}
        self.emit(
            "track",
            ids,
            event="Order Completed",
            context={**context, **guest},
            properties={
                "order_id": order_id,
                "total": total,
                "currency": "CNY" if p.chinese else "USD",
                "products": [line],
            },
        )
        ordered = self.t
        server, server_context = self.server_ids()
        self.new_session(0.5, 2.5)
        carrier = rng.choice(
            ("顺丰速运", "京东物流", "中通快递")
            if p.chinese
            else ("UPS", "FedEx", "Royal Mail", "USPS")
        )
        self.emit(
            "track",
            server,
            event="Order Shipped",
            context=server_context,
            properties={
                "order_id": order_id,
                "carrier": carrier,
                "tracking_number": f"{rng.randrange(10**12):012d}",
            },
        )
        if rng.random() < (0.35 if p.chinese else 0.1):
            self.later(60, 4000)
            self.emit(
                "track",
                server,
                event="Invoice Requested",
                context=server_context,
                properties={
                    "order_id": order_id,
                    "amount": total,
                    "invoice_type": "电子普通发票" if p.chinese else "receipt",
                },
            )
        if product[5] and rng.random() < 0.4:
            self.new_session(1, 7)
            day = ordered.date()
            ends = date(day.year + product[5], day.month, 1) + timedelta(days=day.day - 1)
            self.emit(
                "track",
                server,
                event="Warranty Registered",
                context=server_context,
                properties={
                    "product": self.product_name(product),
                    "sku": product[0],
                    "serial_number": f"SN{rng.getrandbits(40):010X}",
                    "warranty_ends": ends.isoformat(),
                },
            )
        inquiries = rng.randrange(3, 6) if unhappy else int(rng.random() < 0.15)
        for _ in range(inquiries):
            self.new_session(0.5, 5 if unhappy else 20)
            topic = rng.choice(INQUIRY_TOPICS)
            self.contact(topic)
            self.emit(
                "track",
                server,
                event="After-sales Inquiry",
                context=server_context,
                properties={"order_id": order_id, "topic": topic, "sku": product[0]},
            )


def demo_calls(
    customers: int = 2000, seed: int = 7, anchor: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Segment-shaped calls for `customers` people, in time order (see the module docstring),
    in the 180 days before ``anchor`` (default: now, to the minute).

    The same (customers, seed, anchor) always gives the same calls, message ids and
    timestamps. Calls that are retries share their messageId with the call they repeat.
    """
    anchor = as_utc(anchor) if anchor else utcnow().replace(second=0, microsecond=0)
    rng = random.Random(seed)
    people = _People(rng)
    pending: list[tuple[str, int, int, dict[str, Any]]] = []
    retries: dict[int, dict[str, Any]] = {}  # id(copy) -> the call it repeats
    for index in range(customers):
        person = people.draw(index)
        calls = _Journey(rng, person, anchor).run()
        if person.user_id and rng.random() < 0.015:
            server = [c for c in calls if c.get("userId") and "anonymousId" not in c]
            if server:
                rng.choice(server)["anonymousId"] = rng.choice(JUNK_ANONYMOUS_IDS)
        if calls and rng.random() < 0.01:
            original = rng.choice(calls)
            retry = copy.deepcopy(original)
            retries[id(retry)] = original
            calls.append(retry)  # same timestamp, later seq: sorted right after the original
        pending.extend((call["timestamp"], index, seq, call) for seq, call in enumerate(calls))
    pending.sort(key=lambda item: item[:3])
    message_ids: dict[int, str] = {}
    for _, _, _, call in pending:
        repeated = retries.get(id(call))
        if repeated is not None:
            message_id = message_ids[id(repeated)]
        else:
            message_id = message_ids[id(call)] = f"demo-{len(message_ids)}"
        yield {
            "type": call["type"],
            "messageId": message_id,
            **{k: v for k, v in call.items() if k != "type"},
        }
