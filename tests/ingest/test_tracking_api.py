"""The Segment-compatible Tracking API over HTTP: auth, validation, durability, idempotency.

Every test goes through the ASGI app and then reads the ``events`` table, because the
promise of ``/v1`` is "acknowledged means stored": a 200 without a row is a lost event.
Size limits and gzip are in ``test_tracking_limits.py``; route authorization for every
actor in ``tests/governance/test_route_matrix.py``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from omnicx.core.eventlog.models import DeadLetter
from omnicx.core.time import as_utc, parse_timestamp
from tests.factories import call, make_source, make_token, process
from tests.ingest.tracking_helpers import SINGLE_TYPES, assert_error, stored, valid_call

# -- every call type is accepted and durable -------------------------------------------------


@pytest.mark.parametrize("kind", SINGLE_TYPES)
def test_each_call_type_is_stored_before_the_response(client, db, source, kind):
    source_id, key = source
    body = valid_call(kind)
    response = client.post(f"/v1/{kind}", json=body, auth=(key, ""))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "rejected": []}

    rows = stored(db)
    assert len(rows) == 1
    row = rows[0]
    assert (row.source_id, row.message_id, row.type) == (source_id, body["messageId"], kind)
    payload = orjson.loads(row.payload)
    assert payload["userId"] == "user-1"
    assert payload["type"] == kind
    assert "writeKey" not in payload


def test_track_stores_event_name_and_properties(client, db, source):
    _, key = source
    body = valid_call("track", event="Order Completed", properties={"total": 99.5})
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    [row] = stored(db)
    assert row.name == "Order Completed"
    assert orjson.loads(row.payload)["properties"] == {"total": 99.5}
    assert as_utc(row.occurred_at) == parse_timestamp(body["timestamp"])


# -- write key ---------------------------------------------------------------------------------


def test_write_key_in_body_is_accepted_and_not_stored(client, db, source):
    source_id, key = source
    response = client.post("/v1/track", json=valid_call("track", writeKey=key))
    assert response.status_code == 200, response.text
    [row] = stored(db)
    assert row.source_id == source_id
    assert "writeKey" not in orjson.loads(row.payload)


def test_batch_write_key_in_body(client, db, source):
    source_id, key = source
    response = client.post("/v1/batch", json={"writeKey": key, "batch": [call(userId="u")]})
    assert response.status_code == 200, response.text
    assert [r.source_id for r in stored(db)] == [source_id]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"wk_nope:").decode()}, id="wrong-key"
        ),
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="malformed-basic"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:").decode()},
            id="basic-not-utf8",
        ),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b":").decode()}, id="empty-user"
        ),
        pytest.param({"Authorization": "Bearer something"}, id="bearer-scheme"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_bad_or_missing_write_key_is_401_and_nothing_is_stored(client, db, source, path, headers):
    body = {"batch": [call(userId="u")]} if path == "/v1/batch" else valid_call("track")
    response = client.post(path, json=body, headers=headers)
    assert_error(response, 401, "unauthenticated")
    assert stored(db) == []


def test_wrong_write_key_in_body_is_401(client, db, source):
    response = client.post("/v1/track", json=valid_call("track", writeKey="wk_wrong"))
    assert_error(response, 401, "unauthenticated", "writeKey")
    assert stored(db) == []


def test_basic_auth_key_wins_over_a_write_key_in_the_body(client, db):
    """The Basic user wins over a body writeKey: the event belongs to the header's source."""
    header_source, header_key = make_source(db)
    _, body_key = make_source(db)
    response = client.post(
        "/v1/track", json=valid_call("track", writeKey=body_key), auth=(header_key, "")
    )
    assert response.status_code == 200
    assert [r.source_id for r in stored(db)] == [header_source]


# -- malformed bodies and wrong types -----------------------------------------------------------


def test_malformed_json_is_400(client, db, source):
    _, key = source
    response = client.post(
        "/v1/track",
        content=b'{"userId": "u", "event": ',
        auth=(key, ""),
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")
    assert stored(db) == []


def test_invalid_utf8_is_400(client, db, source):
    _, key = source
    response = client.post(
        "/v1/track",
        content=b'{"userId": "\xff\xfe", "event": "x"}',
        auth=(key, ""),
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("body", [b"", b"   \n"], ids=["empty", "whitespace"])
@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_empty_body_is_400(client, db, source, path, body):
    _, key = source
    response = client.post(
        path, content=body, auth=(key, ""), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)
    assert stored(db) == []


def test_array_body_for_single_call_is_400(client, db, source):
    _, key = source
    response = client.post("/v1/track", json=[valid_call("track")], auth=(key, ""))
    assert_error(response, 400, "wrong_type")
    assert stored(db) == []


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({"batch": {"a": 1}}, None, "batch", id="batch-not-a-list"),
        pytest.param({"calls": []}, None, "batch", id="batch-missing"),
        pytest.param([call(userId="u")], None, None, id="top-level-array"),
    ],
)
def test_batch_shape_errors_are_400(client, db, source, body, code, field):
    _, key = source
    error = assert_error(client.post("/v1/batch", json=body, auth=(key, "")), 400, code)
    if field is not None:
        assert error["field"] == field
    assert stored(db) == []


@pytest.mark.parametrize(
    ("kind", "fields", "code", "field"),
    [
        pytest.param("identify", {"traits": "vip"}, "wrong_type", "traits", id="traits-string"),
        pytest.param(
            "track", {"properties": [1, 2]}, "wrong_type", "properties", id="properties-array"
        ),
        pytest.param("track", {"context": "web"}, "wrong_type", "context", id="context-string"),
        pytest.param("track", {"userId": {"id": 1}}, "wrong_type", "userId", id="userId-object"),
        pytest.param("track", {"userId": True}, "wrong_type", "userId", id="userId-bool"),
        pytest.param("track", {"userId": "u" * 201}, "too_long", "userId", id="userId-too-long"),
        pytest.param(
            "track",
            {"anonymousId": ["a"], "userId": None},
            "wrong_type",
            "anonymousId",
            id="anonymousId-list",
        ),
        pytest.param(
            "track",
            {"timestamp": "yesterday"},
            "invalid_timestamp",
            "timestamp",
            id="timestamp-yesterday",
        ),
        pytest.param(
            "track", {"timestamp": 1700000000}, "wrong_type", "timestamp", id="timestamp-number"
        ),
        pytest.param(
            "track",
            {"originalTimestamp": "2026-13-45"},
            "invalid_timestamp",
            "originalTimestamp",
            id="originalTimestamp-bad",
        ),
        pytest.param("track", {"event": {"name": "x"}}, "wrong_type", "event", id="event-object"),
        pytest.param("track", {"messageId": ["m"]}, "wrong_type", "messageId", id="messageId-list"),
        pytest.param(
            "track",
            {"context": {"externalIds": {"type": "crm"}}},
            "wrong_type",
            "context.externalIds",
            id="externalIds-object",
        ),
        pytest.param("track", {"userId": None}, "missing_identity", "userId", id="no-identity"),
        pytest.param(
            "track",
            {"userId": "", "anonymousId": ""},
            "missing_identity",
            "userId",
            id="empty-identity",
        ),
        pytest.param("track", {"event": None}, "missing_field", "event", id="track-no-event"),
        pytest.param("track", {"event": ""}, "missing_field", "event", id="track-empty-event"),
        pytest.param(
            "alias", {"previousId": None}, "missing_field", "previousId", id="alias-no-previousId"
        ),
        pytest.param(
            "alias",
            {"userId": None, "anonymousId": "a"},
            "missing_field",
            "userId",
            id="alias-no-userId",
        ),
        pytest.param("group", {"groupId": None}, "missing_field", "groupId", id="group-no-groupId"),
    ],
)
def test_invalid_single_call_is_400_naming_the_field(client, db, source, kind, fields, code, field):
    _, key = source
    body = {k: v for k, v in valid_call(kind, **fields).items() if v is not None}
    response = client.post(f"/v1/{kind}", json=body, auth=(key, ""))
    assert_error(response, 400, code, field)
    assert stored(db) == []


@pytest.mark.parametrize(
    "timestamp",
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"],
    ids=["after-year-9999-in-utc", "before-year-1-in-utc"],
)
def test_timestamp_outside_the_representable_range_is_400(client, db, source, timestamp):
    _, key = source
    response = client.post(
        "/v1/track", json=valid_call("track", timestamp=timestamp), auth=(key, "")
    )
    assert_error(response, 400, field="timestamp")
    assert stored(db) == []


def test_clock_skew_correction_that_overflows_is_400(client, db, source):
    _, key = source
    body = valid_call(
        "track", originalTimestamp="0001-01-02T00:00:00Z", sentAt="9999-12-30T00:00:00Z"
    )
    body.pop("timestamp")
    assert_error(client.post("/v1/track", json=body, auth=(key, "")), 400)
    assert stored(db) == []


@pytest.mark.parametrize("field", ["messageId", "userId", "event"])
def test_nul_character_in_stored_column_is_400(client, db, source, field):
    """PostgreSQL text cannot hold NUL; such a value must be refused, not crash the insert."""
    _, key = source
    response = client.post(
        "/v1/track", json=valid_call("track", **{field: "a\x00b"}), auth=(key, "")
    )
    assert_error(response, 400, field=field)
    assert stored(db) == []


def test_nul_inside_properties_is_stored_escaped(client, db, source):
    _, key = source
    body = valid_call("track", properties={"note": "a\x00b"})
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    [row] = stored(db)
    assert orjson.loads(row.payload)["properties"]["note"] == "a\x00b"


def test_unsupported_content_type_is_415(client, db, source):
    _, key = source
    response = client.post(
        "/v1/track",
        content=b"<track/>",
        auth=(key, ""),
        headers={"Content-Type": "application/xml"},
    )
    assert_error(response, 415, "unsupported_media_type")
    assert stored(db) == []


def test_text_plain_is_accepted_for_sdks_that_send_it(client, db, source):
    _, key = source
    response = client.post(
        "/v1/track",
        content=orjson.dumps(valid_call("track")),
        auth=(key, ""),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    assert len(stored(db)) == 1


def test_unknown_route_and_wrong_method_have_the_error_shape(client, source):
    _, key = source
    assert_error(client.get("/v1/track", auth=(key, "")), 405, "method_not_allowed")
    assert_error(client.post("/v1/purchase", json={}, auth=(key, "")), 404, "not_found")


@pytest.mark.parametrize(
    "context",
    [
        pytest.param({"device": {"id": "dev\x00ice"}}, id="device-id"),
        pytest.param(
            {"externalIds": [{"type": "loyalty_card", "id": "c\x00rd", "collection": "users"}]},
            id="external-id",
        ),
        pytest.param({"traits": {"email": "li\x00@example.com"}}, id="context-email"),
    ],
)
def test_accepted_event_with_nul_in_an_identifier_is_processed(
    client, db, source, backend, request, context
):
    """Identifier values outside the top-level ids are not checked at ingest; the identity
    layer must skip a value it cannot store rather than dead-letter the whole event."""
    _, key = source
    body = valid_call("track", userId="nul-user", context=context)
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    process(db)
    with db.read() as session:
        assert session.scalars(select(DeadLetter.reason)).all() == []
    token = make_token(db)
    lookup = client.get(
        "/api/v1/customers/lookup",
        params={"type": "user_id", "value": "nul-user"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert lookup.status_code == 200, lookup.text
    assert lookup.json()["event_count"] == 1


# -- partial batches ---------------------------------------------------------------------------


def test_partial_batch_is_207_and_stores_exactly_the_valid_calls(client, db, source):
    _, key = source
    calls = [
        call("track", userId="u0"),
        call("track", userId="u1", event=None),  # invalid: track without event
        call("identify", userId="u2", traits={"plan": "pro"}),
        call("identify", traits={"plan": "free"}),  # invalid: no userId/anonymousId
        call("page", anonymousId="a4", name="Home"),
    ]
    del calls[1]["event"]
    response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
    assert response.status_code == 207, response.text
    result = response.json()
    assert result["success"] is False
    assert result["accepted"] == 3
    assert result["rejected"] == [
        {
            "index": 1,
            "code": "missing_field",
            "message": "event is required",
            "field": "batch[1].event",
        },
        {
            "index": 3,
            "code": "missing_identity",
            "message": "either userId or anonymousId is required",
            "field": "batch[3].userId",
        },
    ]
    assert [r.message_id for r in stored(db)] == [calls[i]["messageId"] for i in (0, 2, 4)]


def test_batch_rejects_calls_with_unknown_type_and_non_objects(client, db, source):
    _, key = source
    calls = [call(userId="u"), {"type": "purchase", "userId": "u"}, "track", None]
    response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
    assert response.status_code == 207, response.text
    rejected = {r["index"]: r for r in response.json()["rejected"]}
    assert rejected[1]["field"] == "batch[1].type"
    assert rejected[2]["field"] == "batch[2]"
    assert rejected[3]["field"] == "batch[3]"
    assert len(stored(db)) == 1


def test_all_invalid_batch_is_400_and_stores_nothing(client, db, source):
    _, key = source
    calls = [call("track", userId="u", event=""), call("alias", userId="u")]
    response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
    assert_error(response, 400, "missing_field", "batch[0].event")
    assert [r["index"] for r in response.json()["rejected"]] == [0, 1]
    assert response.json()["accepted"] == 0
    assert stored(db) == []


# -- idempotency -------------------------------------------------------------------------------


def test_retried_batch_is_stored_and_counted_once(client, db, source):
    source_id, key = source
    calls = [
        call("identify", userId="crm-7", traits={"name": "Li Lei"}),
        call("track", userId="crm-7", event="Viewed"),
        call("track", userId="crm-7", event="Bought"),
    ]
    for _ in range(2):
        response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 3
    rows = stored(db)
    assert sorted((r.source_id, r.message_id) for r in rows) == sorted(
        (source_id, c["messageId"]) for c in calls
    )

    process(db)
    # The same batch arriving again after processing is still a no-op.
    assert client.post("/v1/batch", json={"batch": calls}, auth=(key, "")).status_code == 200
    process(db)
    token = make_token(db)
    lookup = client.get(
        "/api/v1/customers/lookup",
        params={"type": "user_id", "value": "crm-7"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert lookup.status_code == 200, lookup.text
    assert lookup.json()["event_count"] == 3
    assert len(stored(db)) == 3


def test_duplicate_message_id_inside_one_batch_is_stored_once(client, db, source):
    _, key = source
    first = call(userId="u")
    response = client.post("/v1/batch", json={"batch": [first, dict(first)]}, auth=(key, ""))
    assert response.status_code == 200, response.text
    assert [r.message_id for r in stored(db)] == [first["messageId"]]


def test_retried_single_call_is_a_no_op(client, db, source):
    _, key = source
    body = valid_call("track")
    for _ in range(3):
        assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    assert len(stored(db)) == 1


def test_same_message_id_from_two_sources_is_two_events(client, db):
    first_id, first_key = make_source(db)
    second_id, second_key = make_source(db)
    body = valid_call("track", messageId="shared-id")
    assert client.post("/v1/track", json=body, auth=(first_key, "")).status_code == 200
    assert client.post("/v1/track", json=body, auth=(second_key, "")).status_code == 200
    assert sorted((r.source_id, r.message_id) for r in stored(db)) == [
        (first_id, "shared-id"),
        (second_id, "shared-id"),
    ]


def test_missing_message_id_gets_a_generated_one(client, db, source):
    _, key = source
    for _ in range(2):
        body = valid_call("track")
        del body["messageId"]
        assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    rows = stored(db)
    assert len(rows) == 2
    ids = [r.message_id for r in rows]
    assert all(ids) and ids[0] != ids[1]
    assert [orjson.loads(r.payload)["messageId"] for r in rows] == ids


# -- time and context --------------------------------------------------------------------------


def test_device_clock_an_hour_ahead_is_corrected(client, db, source):
    _, key = source
    device_now = datetime.now(UTC) + timedelta(hours=1)
    body = valid_call(
        "track",
        originalTimestamp=(device_now - timedelta(seconds=30)).isoformat(),
        sentAt=device_now.isoformat(),
    )
    del body["timestamp"]
    before = datetime.now(UTC)
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    after = datetime.now(UTC)

    [row] = stored(db)
    payload = orjson.loads(row.payload)
    received = parse_timestamp(payload["receivedAt"])
    occurred = parse_timestamp(payload["timestamp"])
    assert before <= received <= after
    assert occurred == received - timedelta(seconds=30)
    assert abs(as_utc(row.occurred_at) - occurred) < timedelta(milliseconds=1)
    # The original device time is kept for reference.
    assert payload["originalTimestamp"] == body["originalTimestamp"]


def test_batch_sent_at_corrects_skew_of_every_call(client, db, source):
    _, key = source
    device_now = datetime.now(UTC) - timedelta(hours=3)
    calls = [call(userId="u"), call(userId="u")]
    for offset, c in zip((10, 20), calls, strict=True):
        del c["timestamp"]
        c["originalTimestamp"] = (device_now - timedelta(seconds=offset)).isoformat()
    response = client.post(
        "/v1/batch", json={"batch": calls, "sentAt": device_now.isoformat()}, auth=(key, "")
    )
    assert response.status_code == 200, response.text
    gaps = []
    for row in stored(db):
        payload = orjson.loads(row.payload)
        gaps.append(parse_timestamp(payload["receivedAt"]) - parse_timestamp(payload["timestamp"]))
    assert gaps == [timedelta(seconds=10), timedelta(seconds=20)]


def test_explicit_timestamp_is_kept_as_sent(client, db, source):
    _, key = source
    body = valid_call("track", timestamp="2025-06-01T08:00:00+08:00")
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    [row] = stored(db)
    assert as_utc(row.occurred_at) == datetime(2025, 6, 1, 0, 0, tzinfo=UTC)


def test_batch_context_merges_into_each_call(client, db, source):
    _, key = source
    shared = {"library": {"name": "analytics-python", "version": "2.3"}, "ip": "10.0.0.1"}
    calls = [call(userId="u"), call(userId="u", context={"ip": "10.0.0.2", "locale": "zh-CN"})]
    response = client.post("/v1/batch", json={"batch": calls, "context": shared}, auth=(key, ""))
    assert response.status_code == 200, response.text
    contexts = [orjson.loads(r.payload)["context"] for r in stored(db)]
    assert contexts == [
        shared,
        {"library": shared["library"], "ip": "10.0.0.2", "locale": "zh-CN"},
    ]
