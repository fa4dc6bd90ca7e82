"""Generated requests to every documented operation: never a 5xx, always the error shape.

Cases come from the app's own OpenAPI document, valid and deliberately invalid (NUL
characters, odd Unicode, wrong types, missing fields), so a route is fuzzed as soon as
it is documented. Requests carry a valid write key (``/v1``) or bearer token
(``/api/v1``) to get past authentication into validation and the database, where the
interesting failures are; unauthenticated access is tested in ``tests/ingest``.

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) does not run
under pytest 9 (it sets ``Function._nodeid``, which pytest 9 no longer has), so the
operations are listed at collection time and each test drives Hypothesis itself with the
operation's strategy. That keeps the ``settings`` fixture: every operation runs on SQLite
and on PostgreSQL. Afterwards the pipeline processes whatever was accepted, and nothing
may be dead-lettered: an accepted event the processors cannot handle is a bug too.

25 examples per operation keep the file short; ``OMNICX_FUZZ_EXAMPLES=500`` digs deeper.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.core.eventlog.models import DeadLetter
from omnicx.core.settings import Settings
from omnicx.web.app import create_app
from tests.factories import append_calls, call, make_source, make_token, process

MAX_EXAMPLES = int(os.environ.get("OMNICX_FUZZ_EXAMPLES", "25"))


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the OpenAPI document (no database needed)."""
    document = create_app(Settings(), background=False).openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


OPERATIONS = documented_operations()


def test_the_fuzzed_operations_cover_tracking_and_the_api():
    paths = {path for _, path in OPERATIONS}
    assert {"/v1/track", "/v1/batch", "/api/v1/customers/lookup"} <= paths


@pytest.fixture
def credentials(db: Database) -> dict[str, str]:
    """A write key, a token, and a customer (so that some generated reads find data)."""
    source_id, key = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, userId="crm-1", traits={"email": "li@example.com", "name": "Li"}),
            call("track", 1, userId="crm-1", event="Order Completed"),
        ],
    )
    process(db)
    return {"write_key": key, "token": make_token(db)}


@pytest.fixture
def api_schema(settings: Settings, credentials: dict[str, str]) -> Iterator[Any]:
    app = create_app(settings, background=False)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # The ASGI transport keeps the app's lifespan running between calls; end it with
    # the test, before the database it uses is reset.
    shutdown_lifespans()


def auth_headers(path: str, credentials: dict[str, str]) -> dict[str, str]:
    if path.startswith("/v1/"):
        basic = base64.b64encode(f"{credentials['write_key']}:".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {"Authorization": f"Bearer {credentials['token']}"}


# Required fields of every call type. Most generated calls lack an identity and stop at
# the first check; completing half of them lets the fuzzer reach timestamps, context,
# size limits and the database.
REQUIRED = {
    "userId": "fuzz-user",
    "event": "Fuzzed",
    "previousId": "fuzz-anon",
    "groupId": "fuzz-group",
}


def complete_calls(case: Any, complete: bool) -> Any:
    if not complete or not isinstance(case.body, dict):
        return case
    if case.path == "/v1/batch":
        if isinstance(case.body.get("batch"), list):
            case.body["batch"] = [
                {
                    **item,
                    **REQUIRED,
                    "type": item.get("type")
                    if item.get("type") in ("identify", "track", "page", "screen", "group", "alias")
                    else "track",
                }
                if isinstance(item, dict)
                else item
                for item in case.body["batch"]
            ]
    elif case.path.startswith("/v1/"):
        case.body = {**case.body, **REQUIRED}
    return case


def check_response(case: Any, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    where = (
        f"{case.method} {case.path} → {response.status_code}\n"
        f"{case.as_curl_command(headers=headers)}\n"
        f"{response.content[:2000].decode(errors='replace')}"
    )
    assert response.status_code < 500, where
    if response.status_code >= 400:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pytest.fail("error body is not JSON: " + where)
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), where
        error = body["error"]
        assert {"code", "message", "field"} <= set(error), where
        assert isinstance(error["code"], str) and error["code"], where
        assert isinstance(error["message"], str) and error["message"], where
        assert error["field"] is None or isinstance(error["field"], str), where


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_never_fail_with_5xx_and_errors_have_one_shape(
    api_schema, credentials, db, method, path
):
    operation = api_schema[path][method]
    headers = auth_headers(path, credentials)
    # Valid inputs reach the service code; invalid ones exercise validation. An operation
    # without inputs has no invalid variant, and one_of then draws only valid cases.
    cases = st.builds(
        complete_calls,
        st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        ),
        st.booleans(),
    )

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,  # no example files written into the working tree
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=cases)
    def run(case: Any) -> None:
        check_response(case, headers)

    run()

    # What the API accepted, the pipeline must be able to process: nothing dead-lettered.
    process(db)
    with db.read() as session:
        letters = session.execute(select(DeadLetter.processor, DeadLetter.reason)).all()
    assert letters == [], letters
