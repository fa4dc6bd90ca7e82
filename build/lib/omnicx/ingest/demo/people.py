"""The people of the demo data set: who they are and which identifiers they carry."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from omnicx.ingest.demo.vocabulary import (
    CN_CITIES,
    CN_EMAIL_DOMAINS,
    CN_MOBILE_PREFIXES,
    EN_EMAIL_DOMAINS,
    EN_FIRST,
    EN_LAST,
    FEMALE_GIVEN,
    GIVEN_CHARS,
    MALE_GIVEN,
    PINYIN,
    SURNAMES,
    TIERS,
    UK_CITIES,
    US_CITIES,
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
        return name[:i] + GIVEN_CHARS[name[i]][1] + name[i + 1 :]
    first, last = name.split(" ", 1)
    word = first if rng.random() < 0.5 else last
    i = rng.randrange(1, len(word) - 1)
    typo = (
        word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if rng.random() < 0.5
        else word[:i] + word[i + 1 :]
    )
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
            surname, given = (
                SURNAMES[person_name[0]],
                "".join(PINYIN.get(ch, "") for ch in person_name[1:]),
            )
            domain = rng.choice(CN_EMAIL_DOMAINS)
            local = (
                str(rng.randrange(10**5, 10**10))
                if domain == "qq.com"
                else rng.choice(
                    (
                        surname + given,
                        given + "." + surname,
                        surname + given + birthday[:4],
                        surname + "_" + given,
                    )
                )
            )
        else:
            first, last = person_name.lower().split(" ", 1)
            domain = rng.choice(EN_EMAIL_DOMAINS)
            local = rng.choice(
                (
                    f"{first}.{last}",
                    f"{first[0]}{last}",
                    f"{first}{last}",
                    f"{first}.{last}{birthday[2:4]}",
                )
            )
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{rng.randrange(1, 1000)}@{domain}"
        self.emails.add(email)
        return email

    def draw(self, index: int) -> _Person:
        rng = self.rng
        twin = (
            self.originals[rng.randrange(len(self.originals))]
            if (self.originals and rng.random() < 0.02)
            else None
        )
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
            maker, model = (
                ("Apple", "iPhone15,2")
                if ios
                else rng.choice(
                    (("Xiaomi", "23127PN0CC"), ("HUAWEI", "ALN-AL00"), ("samsung", "SM-S918B"))
                )
            )
            device_id = _uuid(rng).upper() if ios else f"{rng.getrandbits(64):016x}"
            app = {
                "anonymousId": _uuid(rng),
                "device": {
                    "id": device_id,
                    "type": "ios" if ios else "android",
                    "manufacturer": maker,
                    "model": model,
                },
                "os": {"name": "iOS", "version": "17.5.1"}
                if ios
                else {"name": "Android", "version": rng.choice(("13", "14"))},
            }
        openid = "o6_bmj" + _token(rng, 22) if chinese and rng.random() < 0.5 else None
        person = _Person(
            index=index,
            chinese=chinese,
            country=country,
            name=name,
            gender=gender,
            city=city,
            birthday=birthday,
            tier=rng.choices(TIERS, weights=(50, 30, 15, 5))[0],
            email=self._email(name, chinese, birthday),
            phone=self._phone(country, city),
            user_id=f"crm-{index + 1:06d}" if rng.random() < 0.7 else None,
            web_ids=[_uuid(rng) for _ in range(rng.choice((1, 1, 2, 2, 3)))],
            app=app,
            openid=openid,
            unionid="oLVPp" + _token(rng, 23) if openid and rng.random() < 0.6 else None,
            contact_ids={channel: _uuid(rng) for channel in ("wechat", "phone", "email")},
        )
        if not twin:
            self.originals.append(person)
        return person
