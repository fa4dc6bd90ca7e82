"""Masking on every surface that exists, for every role, from the app's own route table.

Every GET route is called — API routes with a token of each role, pages signed in as a
person of each role — with the seeded customer's id in the path. A new route joins by
itself; one with a required query parameter this file does not know fails until its
author adds values to ``QUERY``. For each response:

* the national id (sensitive, hidden from every role by default) never appears;
* the raw phone, e-mail, name, birthday and address never appear for a role whose
  policy masks personal data;
* on the surfaces whose content is the customer (``SHOWS_CUSTOMER``) a masking role
  sees the masked forms, and a role that sees personal data sees the real values (so
  this test would notice a surface that stopped carrying the data it checks).
"""

from __future__ import annotations

import re

import pytest

from omnicx.governance.models import ROLES
from omnicx.governance.policies import DEFAULT_ROLES, Display
from tests.governance.masking_people import (
    MASKED,
    RAW_PERSONAL,
    RAW_SENSITIVE,
    body_text,
    seed_person,
    sign_in_as,
    token_for,
)
from tests.governance.test_route_matrix import routes

# Query parameters per route: required ones must be here; optional ones may be.
QUERY: dict[str, dict[str, str]] = {
    "/api/v1/customers/lookup": {"type": "phone", "value": "138 1234 8000"},
    "/api/v1/analytics/overview": {"until": "2026-02-01T00:00:00Z"},
    # A visitor's file link: without its real signature it is refused, and shows nothing.
    "/widget/attachments/{attachment_id}": {"expires": "1", "signature": "forged"},
}
# Path parameters that are not a customer id.
PATH_VALUES = {"role": "agent"}
# Calling these changes who is signed in.
SKIP = {"/logout"}
# An event stream that never ends by itself, carrying conversation ids only
# (tests/web/test_desk_live.py reads it over real HTTP).
SKIP |= {"/desk/live"}
# Routes whose content is the customer: the masked (or plain) forms must be there.
SHOWS_CUSTOMER = {
    "/api/v1/customers/{customer_id}",
    "/api/v1/customers/lookup",
    "/api/v1/customers/{customer_id}/timeline",
    "/api/v1/customers/export.csv",
    "/customers/{customer_id}",
}


def masks_personal(role: str) -> bool:
    return DEFAULT_ROLES[role].personal.display is not Display.PLAIN


def get_routes(app, api: bool):
    for method, path, route in routes(app):
        if method != "GET" or path in SKIP or path.startswith("/v1/"):
            continue
        if path.startswith("/api/") == api:
            yield path, route


def url_and_params(path: str, route, customer_id: int) -> tuple[str, dict[str, str]]:
    dependant = getattr(route, "dependant", None)
    required = [
        q.name for q in (dependant.query_params if dependant else []) if q.field_info.is_required()
    ]
    params = QUERY.get(path, {})
    missing = [name for name in required if name not in params]
    assert not missing, f"GET {path} needs {missing}: add values to QUERY in {__file__}"
    url = re.sub(
        r"\{([^}:]+)(:[^}]+)?\}", lambda m: str(PATH_VALUES.get(m.group(1), customer_id)), path
    )
    return url, params


def problems_in(role: str, path: str, response) -> list[str]:
    where = f"{role} GET {path} ({response.status_code})"
    if response.status_code >= 500:
        return [f"{where}: server error"]
    text = body_text(response)
    found = []
    if RAW_SENSITIVE.search(text):
        found.append(f"{where}: shows the national id")
    if masks_personal(role):
        found += [f"{where}: shows the raw {k}" for k, p in RAW_PERSONAL.items() if p.search(text)]
    if path in SHOWS_CUSTOMER and response.status_code == 200:
        if masks_personal(role):
            found += [
                f"{where}: lacks masked {k} {m!r}" for k, m in MASKED.items() if m not in text
            ]
        else:
            found += [
                f"{where}: lacks the {k}" for k, p in RAW_PERSONAL.items() if not p.search(text)
            ]
    return found


@pytest.fixture
def customer_id(client, db):
    return seed_person(client, db)


def test_every_api_route_masks_for_every_role(client, db, customer_id):
    tokens = {role: token_for(db, role) for role in ROLES}
    problems, called = [], 0
    for path, route in get_routes(client.app, api=True):
        url, params = url_and_params(path, route, customer_id)
        for role in ROLES:
            response = client.get(url, params=params, headers=tokens[role])
            problems += problems_in(role, path, response)
            called += 1
    assert problems == []
    assert called >= len(ROLES) * len(SHOWS_CUSTOMER)


def test_every_page_masks_for_every_role(client, db, customer_id):
    problems, shown = [], set()
    for role in ROLES:
        sign_in_as(client, db, role)
        for path, route in get_routes(client.app, api=False):
            url, params = url_and_params(path, route, customer_id)
            response = client.get(url, params=params)
            problems += problems_in(role, path, response)
            if path in SHOWS_CUSTOMER and response.status_code == 200:
                shown.add(role)
    assert problems == []
    # The customer page is shown to every role with customers:read, and only to them.
    assert shown == {"admin", "supervisor", "senior_agent", "agent"}
