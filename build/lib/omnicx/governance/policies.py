"""Access policies: which customer fields are personal or sensitive, and how each role
sees them.

This module says what a policy document is (classes, displays, mask styles, validation)
and holds the defaults, which are the seed scenario (an agent sees ``138****8000``, the
last 3 orders and no sensitive field; a senior agent may reveal; supervisors and admins
see personal data). Reading the effective document and changing it is ``policy_store``.

Classification entries *override* the defaults: a key you do not mention keeps its
default class, so a partial document can never declassify ``phone`` by omission. To
declassify a default key, name it with class ``public``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omnicx.governance.models import ROLES


class FieldClass(StrEnum):
    PUBLIC = "public"
    PERSONAL = "personal"
    SENSITIVE = "sensitive"  # special categories, national ids, bank cards

    @property
    def rank(self) -> int:
        return _CLASS_RANK[self]


_CLASS_RANK = {FieldClass.PUBLIC: 0, FieldClass.PERSONAL: 1, FieldClass.SENSITIVE: 2}


class Display(StrEnum):
    PLAIN = "plain"
    MASKED = "masked"  # e.g. 138****8000
    HIDDEN = "hidden"  # left out of the response


_DISPLAY_RANK = {Display.PLAIN: 0, Display.MASKED: 1, Display.HIDDEN: 2}


class MaskStyle(StrEnum):
    AUTO = "auto"  # by the value's shape: email, phone, date, else partial
    PHONE = "phone"  # +86 138****8000
    EMAIL = "email"  # z***@example.com
    NAME = "name"  # 张* / J*** Smith
    DATE = "date"  # 1990-**-**
    ADDRESS = "address"  # 上海市**** / ****, London
    PARTIAL = "partial"  # oA****yz
    FULL = "full"  # ****


# Keys as classified: lower snake case, optionally prefixed by where they occur
# ("traits.", "properties.", "identifiers.") and by their parents ("company.name").
KEY_PATTERN = re.compile(r"^[^\s.][^\s]{0,99}$")


class FieldRule(BaseModel):
    """The class of a key or identifier type, and how to mask it. ``"personal"`` is
    accepted as a shorthand for ``{"class": "personal"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    field_class: FieldClass = Field(alias="class")
    mask: MaskStyle = MaskStyle.AUTO

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"class": value} if isinstance(value, str) else value


class ClassRule(BaseModel):
    """How a role sees one class of fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    display: Display
    revealable: bool = Field(
        False, description="may be revealed with a reason (needs customers:reveal)"
    )

    @model_validator(mode="after")
    def _plain_needs_no_reveal(self) -> ClassRule:
        if self.display is Display.PLAIN and self.revealable:
            return ClassRule(display=Display.PLAIN, revealable=False)
        return self


class RolePolicy(BaseModel):
    """One role's view of customer data. Public fields are always shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    personal: ClassRule
    sensitive: ClassRule
    orders_limit: int | None = Field(
        None, ge=0, le=10_000, description="newest orders shown; null: all"
    )
    timeline_limit: int | None = Field(
        None, ge=0, le=1_000_000, description="newest timeline items reachable; null: all"
    )

    @model_validator(mode="after")
    def _sensitive_not_more_open(self) -> RolePolicy:
        if _DISPLAY_RANK[self.sensitive.display] < _DISPLAY_RANK[self.personal.display]:
            raise ValueError("sensitive fields cannot be shown more openly than personal ones")
        return self

    def rule(self, field_class: FieldClass) -> ClassRule:
        if field_class is FieldClass.SENSITIVE:
            return self.sensitive
        if field_class is FieldClass.PERSONAL:
            return self.personal
        return PUBLIC_RULE


PUBLIC_RULE = ClassRule(display=Display.PLAIN)

FieldMap = Annotated[dict[str, FieldRule], Field(max_length=2000)]


def normalize_key(key: str) -> str:
    """``firstName`` / ``First-Name`` / ``first name`` → ``first_name`` (dots kept)."""
    return _normalize_key(key)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=8192)
def _normalize_key(key: str) -> str:
    return _CAMEL.sub("_", key.strip()).lower().replace("-", "_").replace(" ", "_")


class Classification(BaseModel):
    """The global classification: overrides of the default classes of keys and
    identifier types, and the class of keys nobody classified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: FieldMap = Field(default_factory=dict)
    unknown_keys: FieldClass = FieldClass.PUBLIC
    unknown_identifier_types: FieldClass = FieldClass.PERSONAL

    @field_validator("fields")
    @classmethod
    def _keys(cls, fields: dict[str, FieldRule]) -> dict[str, FieldRule]:
        out: dict[str, FieldRule] = {}
        for key, rule in fields.items():
            if not KEY_PATTERN.match(key):
                raise ValueError(f"{key!r} is not a field key (no spaces, at most 100 characters)")
            out[normalize_key(key)] = rule
        return out


class PolicyDocument(Classification):
    """Everything an admin configures: classification and one policy per role."""

    roles: dict[str, RolePolicy] = Field(default_factory=dict)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, RolePolicy]) -> dict[str, RolePolicy]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; one of {', '.join(ROLES)}")
        return roles

    @property
    def classification(self) -> Classification:
        return Classification(
            fields=self.fields,
            unknown_keys=self.unknown_keys,
            unknown_identifier_types=self.unknown_identifier_types,
        )


# -- defaults (the seed scenario) ---------------------------------------------------------


def _rules(field_class: FieldClass, mask: MaskStyle, *keys: str) -> dict[str, FieldRule]:
    return {key: FieldRule(field_class=field_class, mask=mask) for key in keys}


_P, _S, _PUB = FieldClass.PERSONAL, FieldClass.SENSITIVE, FieldClass.PUBLIC

DEFAULT_FIELDS: dict[str, FieldRule] = {
    **_rules(
        _P, MaskStyle.NAME,
        "name", "full_name", "first_name", "last_name", "given_name", "family_name",
        "middle_name", "nickname", "nick_name", "display_name", "contact_name", "real_name",
        "姓名", "名字", "姓", "名", "昵称", "联系人", "真实姓名",
    ),
    **_rules(
        _P, MaskStyle.PHONE,
        "phone", "phone_number", "mobile", "mobile_phone", "mobile_number", "cellphone",
        "cell_phone", "tel", "telephone", "home_phone", "work_phone", "fax", "whatsapp",
        "手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "联系方式",
    ),
    **_rules(
        _P, MaskStyle.EMAIL,
        "email", "email_address", "e_mail", "mail", "邮箱", "电子邮件", "电子邮箱",
    ),
    **_rules(
        _P, MaskStyle.ADDRESS,
        "address", "street", "street_address", "address_line1", "address_line2",
        "address1", "address2", "shipping_address", "billing_address", "home_address",
        "地址", "收货地址", "详细地址", "住址", "家庭住址",
    ),
    **_rules(_P, MaskStyle.PARTIAL, "postal_code", "postcode", "zip", "zip_code", "邮编"),
    **_rules(
        _P, MaskStyle.DATE,
        "birthday", "date_of_birth", "dob", "birth_date", "birthdate", "生日", "出生日期",
    ),
    **_rules(_P, MaskStyle.FULL, "gender", "sex", "age", "性别", "年龄", "avatar"),
    **_rules(
        _P, MaskStyle.PARTIAL,
        "wechat_openid", "wechat_unionid", "openid", "unionid", "wechat_id", "wechat",
        "微信", "微信号", "qq", "line_id", "ip", "ip_address", "username",
    ),
    **_rules(
        _S, MaskStyle.FULL,
        "id_card", "id_card_number", "id_number", "national_id", "identity_card",
        "resident_id", "身份证", "身份证号", "身份证号码", "passport", "passport_number",
        "护照", "护照号", "ssn", "social_security_number", "tax_id", "bank_account",
        "bank_card", "bank_card_number", "card_number", "credit_card", "iban", "银行卡",
        "银行卡号", "health", "medical_record", "diagnosis", "religion", "ethnicity", "race",
        "民族", "sexual_orientation", "political_opinion", "salary", "income", "收入",
        "password",
    ),
    # Pseudonymous ids an agent needs to work with another system, and coarse places.
    **_rules(
        _PUB, MaskStyle.AUTO,
        "user_id", "anonymous_id", "device_id", "city", "country", "province", "state",
        "region", "company", "tier", "plan", "locale", "timezone", "language",
        # In events, "name" is the product, page or screen (Segment's spec), and a
        # company's name is not a person's.
        "properties.name", "traits.company.name", "company.name",
    ),
}  # fmt: skip

DEFAULT_ROLES: dict[str, RolePolicy] = {
    "admin": RolePolicy(
        personal=ClassRule(display=Display.PLAIN),
        sensitive=ClassRule(display=Display.HIDDEN, revealable=True),
    ),
    "supervisor": RolePolicy(
        personal=ClassRule(display=Display.PLAIN),
        sensitive=ClassRule(display=Display.HIDDEN, revealable=True),
    ),
    "senior_agent": RolePolicy(
        personal=ClassRule(display=Display.MASKED, revealable=True),
        sensitive=ClassRule(display=Display.HIDDEN, revealable=True),
    ),
    "agent": RolePolicy(
        personal=ClassRule(display=Display.MASKED),
        sensitive=ClassRule(display=Display.HIDDEN),
        orders_limit=3,
        timeline_limit=20,
    ),
    # Analysts have no customers:read; should someone grant it, they still see no one.
    "analyst": RolePolicy(
        personal=ClassRule(display=Display.HIDDEN),
        sensitive=ClassRule(display=Display.HIDDEN),
        orders_limit=0,
        timeline_limit=0,
    ),
}

FIELDS_ROW = "_fields"  # the access_policies row that holds the classification
