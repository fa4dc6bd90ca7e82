"""The review queues in production mode: PostgreSQL and the NATS JetStream event log, a
live server with its worker. A member number the call centre sends and the CRM lacks
opens a backfill item whose signed webhook the worker's dispatcher delivers to a real
local receiver; the CRM source (of kind crm) sending it resolves the item; a message
from an unknown sender is queued, and a supervisor's link (its event appended to the
events table beside JetStream, as replies are) is merged by identity."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.desk.review.review_helpers import WEBHOOK_SECRET, webhook_receiver
from tests.live_server import eventually, live_server_on

pytestmark = pytest.mark.slow


def test_backfill_and_link_through_jetstream(tmp_path, nats_url, stream) -> None:
    with webhook_receiver() as (hook_url, received):
        settings = {
            "OMNICX_EVENT_LOG": nats_url,
            "OMNICX_NATS_STREAM": stream,
            "OMNICX_CRM_IDENTIFIER_TYPES": '["member_id"]',
            "OMNICX_REVIEW_WEBHOOK_URL": hook_url,
            "OMNICX_REVIEW_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        with live_server_on("postgres", tmp_path, settings) as server:
            cti, crm = (
                out.strip().splitlines()[-1]
                for out in server.cli_each(
                    ["sources", "create", "cti-centre"],
                    ["sources", "create", "member-crm", "--kind", "crm"],
                )
            )
            api = server.api()
            call = {
                "type": "track",
                "event": "Call Completed",
                "messageId": "cti-prod-1",
                "anonymousId": "caller-prod-1",
                "context": {"externalIds": [{"type": "member_id", "id": "M-PROD-01"}]},
            }
            sent = httpx.post(f"{server.url}/v1/track", json=call, auth=(cti, ""), timeout=10)
            assert sent.status_code == 200
            [item] = eventually(lambda: api.get("/api/v1/review/backfill").json())
            assert item["source"] == "cti-centre" and item["events"] == 1
            eventually(lambda: received.deliveries)
            body, valid, _ = received.deliveries[0]
            assert valid and body["type"] == "review.backfill.opened"

            member = {
                "type": "identify",
                "messageId": "crm-prod-1",
                "userId": "member-prod-1",
                "traits": {"name": "孙丽", "phone": "13700137000"},
                "context": {"externalIds": [{"type": "member_id", "id": "M-PROD-01"}]},
            }
            sent = httpx.post(f"{server.url}/v1/identify", json=member, auth=(crm, ""), timeout=10)
            assert sent.status_code == 200
            eventually(lambda: api.get("/api/v1/review/backfill").json() == [])
            [done] = api.get("/api/v1/review/backfill?status=all").json()
            assert done["status"] == "resolved" and done["resolved_by"] == "crm"

            chat = {
                "type": "track",
                "event": "Message Received",
                "messageId": "webchat:prod-v1",
                "anonymousId": "visitor-prod-1",
                "context": {"channel": "webchat"},
                "properties": {
                    "channel": "webchat",
                    "thread": "v:prod-1",
                    "text": "我是孙丽，手机13700137000",
                    "message_id": "prod-v1",
                },
            }
            sent = httpx.post(f"{server.url}/v1/track", json=chat, auth=(cti, ""), timeout=10)
            assert sent.status_code == 200
            [stranger] = eventually(lambda: api.get("/api/v1/review/unmatched").json())
            [suggestion] = stranger["suggestions"]
            linked = api.post(
                f"/api/v1/review/unmatched/{stranger['id']}/link",
                json={"customer_id": suggestion["customer_id"]},
            )
            assert linked.status_code == 202, linked.text

            def settled() -> dict[str, Any] | None:
                [now] = api.get("/api/v1/review/unmatched?status=all").json()
                return now if now["status"] == "linked" else None

            assert eventually(settled)["target_customer_id"] == suggestion["customer_id"]
            conversation = api.get(f"/api/v1/conversations/{stranger['conversation_id']}").json()
            assert conversation["customer_id"] == suggestion["customer_id"]
