"""The demo's canned replies and macros (seeded with the desk's staff)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.desk.canned.macros import create_macro
from omnicx.desk.canned.models import CannedReply, Macro
from omnicx.desk.canned.replies import create_canned

ACTOR = "system"

CANNED = [
    (
        "invoice",
        "发票已开具",
        "{{ customer.name }}您好，您的电子发票已开具，已发送至您预留的邮箱，请注意查收。"
        "如有疑问请随时联系我们。——客服{{ agent.name }}",
    ),
    (
        "warranty",
        "保修期说明",
        "{{ customer.name }}您好，您的产品整机保修一年、压缩机保修十年。"
        "保修期内上门维修免费，请准备好购买凭证。",
    ),
    (
        "visit",
        "安排上门",
        "您好，已为您安排维修师傅上门，师傅会在上门前一小时电话联系您，请保持电话畅通。",
    ),
    ("thanks", "结束语", "感谢您的耐心等待，祝您生活愉快！如还有其他问题，欢迎随时联系我们。"),
]

MACROS = [
    (
        "发票已开具并结案",
        [
            {"action": "reply", "canned": "invoice"},
            {"action": "label", "labels": ["发票"]},
            {"action": "status", "status": "resolved"},
        ],
    ),
    (
        "安排上门并待回访",
        [
            {"action": "reply", "canned": "visit"},
            {"action": "note", "text": "已派单，等待师傅上门后回访。"},
            {"action": "label", "labels": ["上门维修"]},
            {"action": "status", "status": "pending"},
        ],
    ),
]


def seed_canned(session: Session) -> None:
    """The demo's canned replies and macros, once (idempotent)."""
    if session.scalar(select(CannedReply.id).limit(1)) is None:
        for code, title, body in CANNED:
            create_canned(session, ACTOR, code, title, body)
    if session.scalar(select(Macro.id).limit(1)) is None:
        for name, actions in MACROS:
            create_macro(session, ACTOR, name, actions)
