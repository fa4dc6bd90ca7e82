"""The Tracking API's size limits (Segment's) and gzip bodies, over HTTP."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest

from omnicx.ingest.tracking import MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from tests.factories import call
from tests.ingest.tracking_helpers import assert_error, stored, valid_call

# -- size limits -------------------------------------------------------------------------------


def test_single_event_over_32_kb_is_413(client, db, source):
    _, key = source
    body = valid_call("track", properties={"blob": "x" * MAX_EVENT_BYTES})
    assert_error(client.post("/v1/track", json=body, auth=(key, "")), 413, "event_too_large")
    assert stored(db) == []


def test_single_event_just_under_32_kb_is_accepted(client, db, source):
    _, key = source
    body = valid_call("track", properties={"blob": ""})
    body["properties"]["blob"] = "x" * (MAX_EVENT_BYTES - len(orjson.dumps(body)) - 1)
    assert len(orjson.dumps(body)) < MAX_EVENT_BYTES
    assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    assert len(stored(db)) == 1


def test_request_over_500_kb_by_content_length_is_413(client, db, source):
    _, key = source
    calls = [call(userId="u", properties={"blob": "x" * 20_000}) for _ in range(30)]
    content = orjson.dumps({"batch": calls})
    assert len(content) > MAX_REQUEST_BYTES
    response = client.post(
        "/v1/batch", content=content, auth=(key, ""), headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 413, "payload_too_large")
    assert str(len(content)) in error["message"]  # refused on the header, before reading
    assert stored(db) == []


def test_request_over_500_kb_without_content_length_is_413(client, db, source):
    _, key = source
    calls = [call(userId="u", properties={"blob": "x" * 20_000}) for _ in range(30)]
    content = orjson.dumps({"batch": calls})

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = client.post(
        "/v1/batch", content=chunks(), auth=(key, ""), headers={"Content-Type": "application/json"}
    )
    assert response.request.headers.get("content-length") is None
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert stored(db) == []


def test_chunked_request_under_the_limit_is_accepted(client, db, source):
    _, key = source
    content = orjson.dumps({"batch": [call(userId="u"), call(userId="v")]})
    response = client.post(
        "/v1/batch",
        content=iter([content[:10], content[10:]]),
        auth=(key, ""),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert len(stored(db)) == 2


def test_batch_of_2501_calls_is_413_and_2500_is_accepted(client, db, source):
    _, key = source
    small = [
        {"type": "track", "event": "e", "userId": "u", "messageId": f"m{i}"}
        for i in range(MAX_BATCH_EVENTS + 1)
    ]
    assert len(orjson.dumps({"batch": small})) < MAX_REQUEST_BYTES
    assert_error(
        client.post("/v1/batch", json={"batch": small}, auth=(key, "")),
        413,
        "payload_too_large",
        "batch",
    )
    assert stored(db) == []

    response = client.post("/v1/batch", json={"batch": small[:MAX_BATCH_EVENTS]}, auth=(key, ""))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == MAX_BATCH_EVENTS
    assert len(stored(db)) == MAX_BATCH_EVENTS


def test_oversize_event_inside_a_batch_is_rejected_alone(client, db, source):
    _, key = source
    calls = [call(userId="u"), call(userId="u", properties={"blob": "x" * MAX_EVENT_BYTES})]
    response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
    assert response.status_code == 207, response.text
    [rejected] = response.json()["rejected"]
    assert (rejected["index"], rejected["code"]) == (1, "event_too_large")
    assert [r.message_id for r in stored(db)] == [calls[0]["messageId"]]


# -- gzip --------------------------------------------------------------------------------------


def test_gzip_batch_is_accepted(client, db, source):
    _, key = source
    calls = [call(userId=f"u{i}") for i in range(5)]
    response = client.post(
        "/v1/batch",
        content=gzip.compress(orjson.dumps({"batch": calls})),
        auth=(key, ""),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 5
    assert {r.message_id for r in stored(db)} == {c["messageId"] for c in calls}


def test_gzip_that_inflates_over_500_kb_is_413(client, db, source):
    _, key = source
    calls = [call(userId="u", properties={"blob": "x" * 20_000}) for _ in range(30)]
    compressed = gzip.compress(orjson.dumps({"batch": calls}))
    assert len(compressed) < MAX_REQUEST_BYTES
    response = client.post(
        "/v1/batch",
        content=compressed,
        auth=(key, ""),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_error(response, 413, "payload_too_large")
    assert stored(db) == []


def _padded_batch() -> bytes:
    # Trailing whitespace keeps the JSON valid when the gzip stream is cut inside it.
    return orjson.dumps({"batch": [call(userId="u")]}) + b" " * 5000


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x1f\x8b\x08\x00garbage-after-the-magic", id="garbage"),
        pytest.param(b'{"batch": []}', id="plain-json-labelled-gzip"),
        pytest.param(gzip.compress(_padded_batch())[:-8], id="truncated-missing-trailer"),
    ],
)
def test_corrupt_gzip_is_400(client, db, source, content):
    _, key = source
    response = client.post(
        "/v1/batch",
        content=content,
        auth=(key, ""),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_error(response, 400, "malformed_body")
    assert stored(db) == []
