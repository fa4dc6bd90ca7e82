"""A realistic, reproducible demo data set: Segment-shaped calls for an online shop.

OmniShop sells small home appliances and gadgets in mainland China (about 60% of the
people, CNY, WeChat) and in the US and UK (about 40%, USD). Every person leaves
identifiers on several channels and the calls stitch them together the way real ones do:

* web: anonymous ``page`` views and ``Product Viewed`` with a browser ``anonymousId``
  (1-3 browsers per person), then an ``identify`` that ties the browser to a CRM
  ``userId`` (``crm-000123``, ~70% of people) or, for guests, to an email and phone;
* app (OmniShop 3.2.1 on iOS or Android): ``screen``/``track`` calls with
  ``context.device.id``, either logged in or anonymous followed by an ``alias``;
* commerce: ``Product Added``, ``Order Completed`` (order id, total, CNY/USD, products),
  ``Order Shipped``, ``Invoice Requested``, ``Warranty Registered`` (``warranty_ends``)
  and ``After-sales Inquiry`` (a few unhappy customers send 3+ within 30 days);
* service channels: ``WeChat Message Received`` (``context.channel`` "wechat", openid and
  sometimes unionid in ``context.externalIds``, Chinese text), ``Call Completed``
  (``context.traits.phone``) and ``Email Received`` (``context.traits.email``).

Phones and emails come in several spellings (``138 0013 8000``, ``+86 138-0013-8000``,
``Wang.Wei@163.com `` …) so that normalisation is exercised. Deliberate data problems:
~2% of people are a second, unlinked profile of an earlier person that shares only a
typo'd name (plus city, gender, birthday: no identifier) for probabilistic matching; a few
calls carry a junk ``anonymousId`` ("null", "undefined" …) next to a valid ``userId``; a
few calls are sent twice with the same ``messageId`` (retries).

Everything is derived from ``random.Random(seed)`` and the fixed anchor 2026-11-01T00:00Z:
timestamps fall in the 180 days before it, and message ids are ``demo-<n>`` in time order.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
START = ANCHOR - timedelta(days=180)
APP = {"name": "OmniShop", "version": "3.2.1", "build": "3210"}
WECHAT_APP = "wx8a1b2c3d4e5f6a7b"
WECHAT_OPEN_PLATFORM = "open-omnishop"
JUNK_ANONYMOUS_IDS = ("null", "undefined", "00000000-0000-0000-0000-000000000000", "anonymous")


def _table(text: str) -> list[list[str]]:
    """``"a:b c:d"`` → ``[["a", "b"], ["c", "d"]]``: keeps the name tables short."""
    return [item.split(":") for item in text.split()]


SURNAMES = dict(_table(
    "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu "
    "孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 林:lin 高:gao 罗:luo 郑:zheng 梁:liang 谢:xie "
    "宋:song 唐:tang 韩:han"))
# Given-name character: its pinyin, and a same-sounding character (the commonest typo).
GIVEN_CHARS = {ch: (pinyin, typo) for ch, pinyin, typo in _table(
    "伟:wei:玮 芳:fang:方 娜:na:那 敏:min:珉 静:jing:婧 丽:li:莉 强:qiang:蔷 磊:lei:垒 "
    "洋:yang:阳 艳:yan:燕 勇:yong:永 军:jun:君 杰:jie:洁 娟:juan:鹃 涛:tao:滔 明:ming:铭 "
    "超:chao:潮 秀:xiu:琇 英:ying:瑛 桂:gui:贵 华:hua:桦 平:ping:萍 刚:gang:钢 玲:ling:琳 "
    "辉:hui:晖 鹏:peng:朋 婷:ting:亭 雪:xue:薛 宇:yu:禹 浩:hao:皓 欣:xin:昕 怡:yi:宜 "
    "晨:chen:辰 博:bo:搏 佳:jia:家 文:wen:雯 俊:jun:骏 建:jian:健 志:zhi:智 海:hai:亥 "
    "燕:yan:艳 红:hong:虹 梅:mei:玫 兰:lan:岚 思:si:斯 远:yuan:源 雨:yu:宇 子:zi:梓 "
    "涵:han:晗 然:ran:冉 一:yi:依 鸣:ming:明 国:guo:帼")}
PINYIN = {**{typo: py for py, typo in GIVEN_CHARS.values()},
          **{ch: py for ch, (py, _) in GIVEN_CHARS.items()}}
MALE_GIVEN = ("伟", "强", "磊", "洋", "勇", "军", "杰", "涛", "明", "超", "刚", "辉", "鹏",
              "宇浩", "浩然", "一鸣", "思远", "文博", "俊杰", "建华", "建国", "志强", "子涵")
FEMALE_GIVEN = ("芳", "娜", "敏", "静", "丽", "艳", "娟", "玲", "婷", "雪", "秀英", "桂英",
                "欣怡", "佳怡", "雨欣", "晨雪", "丽娟", "海燕", "红梅", "秀兰", "桂兰", "思雨")
CN_MOBILE_PREFIXES = ("138", "139", "135", "136", "137", "150", "151", "152", "157", "158",
                      "159", "182", "183", "187", "188", "130", "131", "132", "155", "156",
                      "185", "186", "133", "153", "180", "181", "189", "177", "199")
CN_CITIES = ("北京", "上海", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "重庆",
             "苏州", "天津")
CN_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "example.cn", "outlook.com")
EN_FIRST = {
    "male": ("James", "John", "Robert", "Michael", "David", "William", "Daniel", "Matthew",
             "Christopher", "Andrew", "Thomas", "Oliver", "Harry", "George", "Jonathan"),
    "female": ("Mary", "Jennifer", "Linda", "Elizabeth", "Sarah", "Jessica", "Emily", "Emma",
               "Olivia", "Sophie", "Charlotte", "Amelia", "Hannah", "Rebecca", "Katherine"),
}
EN_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
           "Taylor", "Anderson", "Thomas", "Moore", "Martin", "Thompson", "White", "Harris",
           "Clarke", "Walker", "Robinson", "Wright", "Hughes", "Edwards", "Bennett", "Mitchell")
EN_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk")
US_CITIES = {"New York": ("212", "646", "917"), "San Francisco": ("415", "628"),
             "Chicago": ("312", "773"), "Seattle": ("206",), "Austin": ("512", "737"),
             "Boston": ("617", "857")}
UK_CITIES = ("London", "Manchester", "Birmingham", "Edinburgh", "Bristol")
TIERS = ("bronze", "silver", "gold", "platinum")
# sku, Chinese name, English name, CNY price, USD price, warranty years
PRODUCTS = (
    ("OS-KTL-01", "智能电热水壶", "Smart Kettle", 299, 49, 1),
    ("OS-VAC-20", "无线吸尘器", "Cordless Vacuum", 1999, 299, 2),
    ("OS-AIR-30", "空气净化器", "Air Purifier", 2499, 349, 2),
    ("OS-HPH-11", "降噪耳机", "Noise-cancelling Headphones", 1299, 199, 1),
    ("OS-WAT-05", "智能手表", "Smartwatch", 1599, 249, 1),
    ("OS-RCK-08", "电饭煲", "Rice Cooker", 599, 99, 1),
    ("OS-COF-15", "咖啡机", "Espresso Machine", 3299, 499, 2),
    ("OS-ROB-40", "扫地机器人", "Robot Vacuum", 2999, 399, 2),
    ("OS-CAB-01", "USB-C 数据线", "USB-C Cable", 49, 12, 0),
)
WECHAT_TEXTS = ("我的发票开好了吗?", "订单什么时候发货?", "保修期还有多久?", "快递到哪里了?",
                "扫地机器人充不进电怎么办?", "可以开增值税专用发票吗?", "我想退货,怎么操作?",
                "收到的咖啡机有划痕", "双十一有优惠吗?", "请问可以换个颜色吗?", "你好,在吗?")
EMAIL_SUBJECTS = {"zh": ("发票抬头修改", "退货申请", "保修咨询", "订单未收到"),
                  "en": ("Where is my order?", "Return request", "Warranty question",
                         "Invoice needed for expenses", "Damaged on arrival")}
INQUIRY_TOPICS = ("delivery", "return", "repair", "invoice", "missing_part")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49",
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _token(rng: random.Random, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Person:
    index: int
    chinese: bool
    country: str
    name: str
    gender: str
    city: str
    birthday: str
    tier: str
    email: str
    phone: str  # E.164 digits; spelled differently at each use
    user_id: str | None
    web_ids: list[str]
    app: dict[str, Any] | None
    openid: str | None
    unionid: str | None
    contact_ids: dict[str, str] = field(default_factory=dict)


def _typo(rng: random.Random, name: str, chinese: bool) -> str:
    if chinese:
        i = rng.randrange(1, len(name))
        return name[:i] + GIVEN_CHARS[name[i]][1] + name[i + 1:]
    first, last = name.split(" ", 1)
    word = first if rng.random() < 0.5 else last
    i = rng.randrange(1, len(word) - 1)
    typo = (word[:i] + word[i + 1] + word[i] + word[i + 2:] if rng.random() < 0.5
            else word[:i] + word[i + 1:])
    return name.replace(word, typo, 1)


class _People:
    """Draws people with globally unique emails and phones."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.originals: list[_Person] = []  # people who are not a typo'd second profile

    def _phone(self, country: str, city: str) -> str:
        rng = self.rng
        while True:
            if country == "CN":
                number = "+86" + rng.choice(CN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            elif country == "US":
                exchange = rng.randrange(200, 1000)
                while exchange % 100 == 11 or exchange == 555:
                    exchange = rng.randrange(200, 1000)
                number = f"+1{rng.choice(US_CITIES[city])}{exchange}{rng.randrange(10**4):04d}"
            else:
                number = f"+447{rng.choice('458')}{rng.randrange(10**8):08d}"  # 077/079 have gaps
            if number not in self.phones:
                self.phones.add(number)
                return number

    def _email(self, person_name: str, chinese: bool, birthday: str) -> str:
        rng = self.rng
        if chinese:
            surname, given = SURNAMES[person_name[0]], "".join(
                PINYIN.get(ch, "") for ch in person_name[1:])
            domain = rng.choice(CN_EMAIL_DOMAINS)
            local = (str(rng.randrange(10**5, 10**10)) if domain == "qq.com"
                     else rng.choice((surname + given, given + "." + surname,
                                      surname + given + birthday[:4], surname + "_" + given)))
        else:
            first, last = person_name.lower().split(" ", 1)
            domain = rng.choice(EN_EMAIL_DOMAINS)
            local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}",
                                f"{first}.{last}{birthday[2:4]}"))
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{rng.randrange(1, 1000)}@{domain}"
        self.emails.add(email)
        return email

    def draw(self, index: int) -> _Person:
        rng = self.rng
        twin = self.originals[rng.randrange(len(self.originals))] if (
            self.originals and rng.random() < 0.02) else None
        chinese = twin.chinese if twin else rng.random() < 0.6
        gender = twin.gender if twin else rng.choice(("male", "female"))
        if twin:
            country, city, birthday = twin.country, twin.city, twin.birthday
            name = _typo(rng, twin.name, chinese)
        elif chinese:
            country, city = "CN", rng.choice(CN_CITIES)
            given = rng.choice(MALE_GIVEN if gender == "male" else FEMALE_GIVEN)
            name = rng.choice(tuple(SURNAMES)) + given
        else:
            country = "US" if rng.random() < 0.65 else "GB"
            city = rng.choice(tuple(US_CITIES) if country == "US" else UK_CITIES)
            name = f"{rng.choice(EN_FIRST[gender])} {rng.choice(EN_LAST)}"
        if not twin:
            born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 45))
            birthday = born.isoformat()
        app = None
        if rng.random() < 0.65:
            ios = rng.random() < (0.35 if chinese else 0.55)
            maker, model = (("Apple", "iPhone15,2") if ios else rng.choice(
                (("Xiaomi", "23127PN0CC"), ("HUAWEI", "ALN-AL00"), ("samsung", "SM-S918B"))))
            device_id = _uuid(rng).upper() if ios else f"{rng.getrandbits(64):016x}"
            app = {"anonymousId": _uuid(rng),
                   "device": {"id": device_id, "type": "ios" if ios else "android",
                              "manufacturer": maker, "model": model},
                   "os": {"name": "iOS", "version": "17.5.1"} if ios
                   else {"name": "Android", "version": rng.choice(("13", "14"))}}
        openid = "o6_bmj" + _token(rng, 22) if chinese and rng.random() < 0.5 else None
        person = _Person(
            index=index, chinese=chinese, country=country, name=name, gender=gender, city=city,
            birthday=birthday, tier=rng.choices(TIERS, weights=(50, 30, 15, 5))[0],
            email=self._email(name, chinese, birthday), phone=self._phone(country, city),
            user_id=f"crm-{index + 1:06d}" if rng.random() < 0.7 else None,
            web_ids=[_uuid(rng) for _ in range(rng.choice((1, 1, 2, 2, 3)))], app=app,
            openid=openid,
            unionid="oLVPp" + _token(rng, 23) if openid and rng.random() < 0.6 else None,
            contact_ids={channel: _uuid(rng) for channel in ("wechat", "phone", "email")},
        )
        if not twin:
            self.originals.append(person)
        return person


class _Journey:
    """One person's calls; a cursor moves forward in time, nothing after the anchor."""

    def __init__(self, rng: random.Random, person: _Person):
        self.rng, self.p = rng, person
        self.t = START + timedelta(minutes=rng.randrange(170 * 24 * 60))
        self.calls: list[dict[str, Any]] = []
        self.locale = "zh-CN" if person.chinese else ("en-US" if person.country == "US"
                                                      else "en-GB")

    def later(self, lo: float, hi: float) -> None:
        """Move the cursor on by lo..hi minutes."""
        self.t += timedelta(seconds=self.rng.uniform(lo * 60, hi * 60))

    def new_session(self, lo_days: float, hi_days: float) -> None:
        self.later(lo_days * 1440, hi_days * 1440)

    def emit(self, kind: str, ids: dict[str, Any], **fields: Any) -> None:
        self.later(0.2, 4)
        if self.t < ANCHOR:
            fields = {k: v for k, v in fields.items() if k != "context" or v}
            self.calls.append({"type": kind, "timestamp": _iso(self.t), **ids, **fields})

    # -- spellings ----------------------------------------------------------------
    def phone(self) -> str:
        e164, rng = self.p.phone, self.rng
        if self.p.country == "CN":
            n = e164[3:]
            return rng.choice((n, n, f"{n[:3]} {n[3:7]} {n[7:]}", f"+86 {n[:3]}-{n[3:7]}-{n[7:]}",
                               e164, f"{n[:3]}-{n[3:7]}-{n[7:]}"))
        if self.p.country == "US":
            n = e164[2:]
            return rng.choice((e164, f"+1 {n[:3]}-{n[3:6]}-{n[6:]}",
                               f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}"))
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
        traits: dict[str, Any] = {"name": p.name, "email": self.email(), "phone": self.phone(),
                                  "city": p.city, "tier": p.tier}
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
        return {"library": {"name": "analytics.js", "version": "next-1.70.0"},
                "locale": self.locale, "userAgent": self.rng.choice(USER_AGENTS),
                "page": {"path": path, "url": f"https://{host}{path}", "title": title}}

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
        self.emit("track", ids, event="Product Viewed", properties=self.line(product, 1),
                  context=self.web_context(path, name))

    def line(self, product: tuple[Any, ...], quantity: int) -> dict[str, Any]:
        return {"sku": product[0], "name": self.product_name(product),
                "price": product[3] if self.p.chinese else product[4], "quantity": quantity}

    def app_context(self) -> dict[str, Any]:
        assert self.p.app is not None
        return {"app": dict(APP), "device": dict(self.p.app["device"]),
                "os": dict(self.p.app["os"]), "locale": self.locale,
                "library": {"name": "analytics-" + self.p.app["device"]["type"],
                            "version": "4.1.5"}}

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
            context["externalIds"] = [{"type": "wechat_openid", "id": p.openid,
                                       "collection": WECHAT_APP, "encoding": "none"}]
            if p.unionid:
                context["externalIds"].append({"type": "wechat_unionid", "id": p.unionid,
                                               "collection": WECHAT_OPEN_PLATFORM,
                                               "encoding": "none"})
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
                self.channel("wechat", "WeChat Message Received",
                             {"text": rng.choice(WECHAT_TEXTS), "msg_type": "text"})
        elif kind == "phone":
            self.channel("phone", "Call Completed", {
                "direction": rng.choice(("inbound", "inbound", "outbound")),
                "duration_seconds": rng.randrange(40, 900), "queue": topic or "general"})
        else:
            lang = "zh" if p.chinese else "en"
            self.channel("email", "Email Received",
                         {"subject": rng.choice(EMAIL_SUBJECTS[lang]), "mailbox": "support"})

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
            self.emit("screen", ids, name=screen, properties={"name": screen},
                      context=self.app_context())
        if p.user_id and not logged_in:
            self.emit("alias", {"userId": p.user_id}, previousId=p.app["anonymousId"],
                      context=self.app_context())
        elif not p.user_id and rng.random() < 0.4:
            self.emit("identify", anonymous, traits={"email": self.email()},
                      context=self.app_context())

    def order(self, number: int, unhappy: bool) -> None:
        p, rng = self.p, self.rng
        product = rng.choice(PRODUCTS)
        quantity = rng.choice((1, 1, 1, 2))
        on_app = p.app is not None and rng.random() < 0.4
        if on_app:
            assert p.app is not None
            ids: dict[str, Any] = {"anonymousId": p.app["anonymousId"]}
            context = self.app_context()
            self.emit("screen", ids, name="Product Detail", context=context,
                      properties={"name": "Product Detail", "sku": product[0]})
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
        self.emit("track", ids, event="Order Completed", context={**context, **guest},
                  properties={"order_id": order_id, "total": total,
                              "currency": "CNY" if p.chinese else "USD", "products": [line]})
        ordered = self.t
        server, server_context = self.server_ids()
        self.new_session(0.5, 2.5)
        carrier = rng.choice(("顺丰速运", "京东物流", "中通快递") if p.chinese
                             else ("UPS", "FedEx", "Royal Mail", "USPS"))
        self.emit("track", server, event="Order Shipped", context=server_context,
                  properties={"order_id": order_id, "carrier": carrier,
                              "tracking_number": f"{rng.randrange(10**12):012d}"})
        if rng.random() < (0.35 if p.chinese else 0.1):
            self.later(60, 4000)
            self.emit("track", server, event="Invoice Requested", context=server_context,
                      properties={"order_id": order_id, "amount": total,
                                  "invoice_type": "电子普通发票" if p.chinese else "receipt"})
        if product[5] and rng.random() < 0.4:
            self.new_session(1, 7)
            day = ordered.date()
            ends = date(day.year + product[5], day.month, 1) + timedelta(days=day.day - 1)
            self.emit("track", server, event="Warranty Registered", context=server_context,
                      properties={"product": self.product_name(product), "sku": product[0],
                                  "serial_number": f"SN{rng.getrandbits(40):010X}",
                                  "warranty_ends": ends.isoformat()})
        inquiries = rng.randrange(3, 6) if unhappy else int(rng.random() < 0.15)
        for _ in range(inquiries):
            self.new_session(0.5, 5 if unhappy else 20)
            topic = rng.choice(INQUIRY_TOPICS)
            self.contact(topic)
            self.emit("track", server, event="After-sales Inquiry", context=server_context,
                      properties={"order_id": order_id, "topic": topic,
                                  "sku": product[0]})


def demo_calls(customers: int = 2000, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Segment-shaped calls for `customers` people, in time order (see the module docstring).

    The same (customers, seed) always gives the same calls, message ids and timestamps.
    Calls that are retries share their messageId with the call they repeat.
    """
    rng = random.Random(seed)
    people = _People(rng)
    pending: list[tuple[str, int, int, dict[str, Any]]] = []
    retries: dict[int, dict[str, Any]] = {}  # id(copy) -> the call it repeats
    for index in range(customers):
        person = people.draw(index)
        calls = _Journey(rng, person).run()
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
        yield {"type": call["type"], "messageId": message_id,
               **{k: v for k, v in call.items() if k != "type"}}
