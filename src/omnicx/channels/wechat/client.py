"""Calls to WeChat's API with the account's access token: a refused token (40001,
42001, 40014) is replaced once and the call made again."""

from __future__ import annotations

from typing import Any

import httpx

from omnicx.channels.service import ChannelView
from omnicx.channels.wechat.tokens import AccessTokens, WechatApiError, answer_of, api_base

# invalid credential, access token expired, invalid access token
TOKEN_REFUSED = frozenset({40001, 42001, 40014})
MAX_MEDIA_BYTES = 20 * 1024 * 1024


class WechatApi:
    """One channel's API, through this process's shared token store."""

    def __init__(self, channel: ChannelView, tokens: AccessTokens):
        self.channel, self.tokens = channel, tokens

    def _call(
        self, method: str, path: str, params: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        token = self.tokens.current(self.channel)
        response = self._request(method, path, token, params, kwargs)
        if _errcode(response) in TOKEN_REFUSED:
            token = self.tokens.current(self.channel, stale=token)
            response = self._request(method, path, token, params, kwargs)
        return response

    def _request(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, str] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        return self.tokens.http.request(
            method,
            f"{api_base(self.channel)}{path}",
            params={**(params or {}), "access_token": token},
            **kwargs,
        )

    def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (``/cgi-bin/message/custom/send``)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        answer_of(self._call("POST", "/cgi-bin/message/custom/send", json=body))

    def send_template(self, openid: str, template_id: str, data: dict[str, str]) -> None:
        """A template message (``/cgi-bin/message/template/send``), each field of ``data``
        as WeChat's ``{field: {"value": …}}``; WeChat takes these outside the 48-hour
        window too."""
        body = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        answer_of(self._call("POST", "/cgi-bin/message/template/send", json=body))

    def user_info(self, openid: str) -> dict[str, object]:
        """A follower's profile (``/cgi-bin/user/info``): ``unionid`` among it when the
        account is bound to an Open Platform account."""
        params = {"openid": openid, "lang": "zh_CN"}
        return answer_of(self._call("GET", "/cgi-bin/user/info", params=params))

    def media(self, media_id: str) -> tuple[bytes, str, str | None]:
        """A medium's bytes, type and file name (``/cgi-bin/media/get``); WeChat keeps
        media a follower sent for 3 days."""
        response = self._call("GET", "/cgi-bin/media/get", params={"media_id": media_id})
        kind = response.headers.get("content-type", "application/octet-stream")
        if "json" in kind or "text/plain" in kind:
            answer_of(response)  # an error answer
            raise WechatApiError(-1, "the media API answered no medium")
        if len(response.content) > MAX_MEDIA_BYTES:
            raise WechatApiError(-1, "the medium is over 20 MB")
        return response.content, kind.split(";")[0].strip(), _file_name(response)


def _file_name(response: httpx.Response) -> str | None:
    """The name in ``Content-Disposition: attachment; filename="MEDIA_ID.jpg"``."""
    disposition = response.headers.get("content-disposition", "")
    _, found, rest = disposition.partition("filename=")
    name = rest.split(";")[0].strip().strip('"') if found else ""
    return name[:200] or None


def _errcode(response: httpx.Response) -> int | None:
    """The answer's error code, if it is a JSON answer (a medium is not)."""
    if not response.content.lstrip().startswith(b"{"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("errcode") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None
