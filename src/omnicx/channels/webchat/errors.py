"""The error frames a visitor can see, in zh-CN and en (the widget says which)."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "unknown_channel": {
        "en": "This chat is not available.",
        "zh-CN": "此在线客服不可用。",
    },
    "origin_not_allowed": {
        "en": "This chat cannot be used from this website.",
        "zh-CN": "此网站无法使用该在线客服。",
    },
    "identity_refused": {
        "en": "We could not confirm who you are. Please reload the page or sign in again.",
        "zh-CN": "无法确认您的身份，请刷新页面或重新登录。",
    },
    "rate_limited": {
        "en": "You are sending messages too quickly. Please wait a moment.",
        "zh-CN": "您发送消息过于频繁，请稍候再试。",
    },
    "too_many_connections": {
        "en": "Too many chats from your network. Please try again later.",
        "zh-CN": "您所在网络的会话过多，请稍后再试。",
    },
    "message_too_long": {
        "en": "Your message is too long (at most 4,000 characters).",
        "zh-CN": "消息过长（最多 4000 个字符）。",
    },
    "invalid_message": {
        "en": "This message could not be read.",
        "zh-CN": "无法识别该消息。",
    },
    "unavailable": {
        "en": "Your message could not be saved. Please send it again.",
        "zh-CN": "消息未能保存，请重新发送。",
    },
}


def language_of(requested: str | None) -> str:
    """``zh-CN`` for any Chinese preference, else ``en``."""
    return "zh-CN" if (requested or "").lower().startswith("zh") else "en"


def error_frame(code: str, language: str, field: str | None = None) -> dict[str, Any]:
    texts = MESSAGES[code]
    return {"type": "error", "code": code, "message": texts[language], "field": field}
