"""What the WeChat tests share: a channel, callbacks built, signed and encrypted as
WeChat's servers do (wechatpy's signer, crypto and parser), and a local stand-in for
WeChat's API that checks what it is sent like WeChat does."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.parser import parse_message
from wechatpy.utils import WeChatSigner

from omnicx.channels.wechat.setup import create_wechat_channel
from omnicx.core.database import Database

APP_ID = "wx3f6a0c9b8e7d1a2b"
APP_SECRET = "9c1e7b3a5d2f4c6e8a0b1d3f5e7c9a2b"
TOKEN = "omnicxWechat2026"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
ACCOUNT = "gh_7f083739789a"  # the official account's original id (ToUserName)


@dataclass
class Wechat:
    channel_id: int
    token: str  # the public token in the callback URL
    aes: bool

    @property
    def path(self) -> str:
        return f"/wechat/callback/{self.token}"


def create_wechat(
    db: Database, name: str = "服务号", *, aes: bool = False, api_base: str = ""
) -> Wechat:
    with db.write() as session:
        channel = create_wechat_channel(
            session,
            name,
            app_id=APP_ID,
            app_secret=APP_SECRET,
            token=TOKEN,
            aes_key=AES_KEY if aes else None,
            api_base=api_base or None,
        )
        return Wechat(channel.id, channel.public_token, aes)


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def message_xml(
    msg_type: str, openid: str = OPENID, created: int | None = None, **fields: Any
) -> str:
    """A message or event as WeChat posts it; checked with wechatpy's parser."""
    created = created if created is not None else int(time.time())
    parts = [
        f"<ToUserName>{_cdata(ACCOUNT)}</ToUserName>",
        f"<FromUserName>{_cdata(openid)}</FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    for name, value in fields.items():
        text = str(value)
        parts.append(f"<{name}>{text if text.isdigit() else _cdata(escape(text))}</{name}>")
    xml = "<xml>" + "".join(parts) + "</xml>"
    parsed = parse_message(xml)
    assert parsed.source == openid and parsed.time == created
    return xml


def text_xml(content: str, msg_id: int, openid: str = OPENID) -> str:
    return message_xml("text", openid, Content=content, MsgId=msg_id)


def event_xml(event: str, openid: str = OPENID, created: int | None = None, **fields: Any) -> str:
    return message_xml("event", openid, created, Event=event, **fields)


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def signed_params(timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    timestamp = timestamp if timestamp is not None else int(time.time())
    nonce = nonce or str(uuid.uuid4().int)[:10]
    return {
        "signature": sign(TOKEN, str(timestamp), nonce),
        "timestamp": str(timestamp),
        "nonce": nonce,
        "openid": OPENID,
    }


def callback(
    xml: str, *, aes: bool = False, compatible: bool = False, params: dict[str, str] | None = None
) -> tuple[dict[str, str], bytes]:
    """The query and body WeChat posts for ``xml``: plaintext, or (``aes``) safe mode —
    only ``Encrypt`` — or compatible mode — the plaintext fields and ``Encrypt``."""
    params = params or signed_params()
    if not aes:
        return params, xml.encode()
    envelope = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(
        xml, params["nonce"], params["timestamp"]
    )
    encrypt = str(xmltodict.parse(envelope)["xml"]["Encrypt"])
    query = {
        **params,
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, params["timestamp"], params["nonce"], encrypt),
    }
    if compatible:
        body = xml.replace("</xml>", f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>")
    else:
        to = f"<ToUserName>{_cdata(ACCOUNT)}</ToUserName>"
        body = f"<xml>{to}<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    return query, body.encode()


def post(client: Any, chat: Wechat, xml: str, **kwargs: Any) -> Any:
    query, body = callback(xml, aes=chat.aes, **kwargs)
    return client.post(chat.path, params=query, content=body, headers={"Content-Type": "text/xml"})


# -- WeChat's API, locally ------------------------------------------------------------------


@dataclass
class Recorder:
    """What the local API was asked, and how it answers."""

    url: str = ""
    tokens_issued: list[str] = field(default_factory=list)
    valid_token: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    # Template messages taken (``/cgi-bin/message/template/send``).
    templates: list[dict[str, Any]] = field(default_factory=list)
    refused_tokens: list[str] = field(default_factory=list)
    # Answer the next sends with these error codes first (e.g. [40001] once).
    send_errors: list[int] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # The unionid of each follower (``/cgi-bin/user/info``; none: not bound to an Open
    # Platform account), the openids asked about, and error codes to answer first.
    unionids: dict[str, str] = field(default_factory=dict)
    user_info_asked: list[str] = field(default_factory=list)
    user_info_errors: list[int] = field(default_factory=list)
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, body: dict[str, Any] | bytes, kind: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _query(self) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

        def _token_ok(self, query: dict[str, str]) -> bool:
            with recorder.lock:
                if query.get("access_token") != recorder.valid_token:
                    self._answer({"errcode": 40001, "errmsg": "invalid credential"})
                    return False
            return True

        def do_GET(self) -> None:
            path, query = urlsplit(self.path).path, self._query()
            if path == "/cgi-bin/token":
                if (query.get("grant_type"), query.get("appid"), query.get("secret")) != (
                    "client_credential",
                    recorder.app_id,
                    recorder.app_secret,
                ):
                    self._answer({"errcode": 40125, "errmsg": "invalid appsecret"})
                    return
                with recorder.lock:
                    token = f"ACCESS_TOKEN_{len(recorder.tokens_issued) + 1}_{uuid.uuid4().hex}"
                    recorder.tokens_issued.append(token)
                    recorder.valid_token = token
                self._answer({"access_token": token, "expires_in": 7200})
            elif path == "/cgi-bin/media/get":
                if not self._token_ok(query):
                    return
                found = recorder.media.get(query.get("media_id", ""))
                if found is None:
                    self._answer({"errcode": 40007, "errmsg": "invalid media_id"})
                else:
                    self._answer(found[0], found[1])
            elif path == "/cgi-bin/user/info":
                self._user_info(query)
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            path, query = urlsplit(self.path).path, self._query()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if path not in ("/cgi-bin/message/custom/send", "/cgi-bin/message/template/send"):
                self.send_error(404)
                return
            with recorder.lock:
                if recorder.send_errors:
                    code = recorder.send_errors.pop(0)
                    if code in (40001, 42001):  # the token is dead from now on
                        recorder.refused_tokens.append(query.get("access_token", ""))
                        recorder.valid_token = None
                    self._answer({"errcode": code, "errmsg": "refused by the test"})
                    return
            if not self._token_ok(query):
                return
            if path == "/cgi-bin/message/template/send":
                self._template(body)
                return
            text = body.get("text") if isinstance(body, dict) else None
            if (
                body.get("msgtype") != "text"
                or not isinstance(text, dict)
                or not body.get("touser")
            ):
                self._answer({"errcode": 44002, "errmsg": "empty post data"})
                return
            with recorder.lock:
                recorder.sent.append(body)
            self._answer({"errcode": 0, "errmsg": "ok"})

        def _user_info(self, query: dict[str, str]) -> None:
            openid = query.get("openid", "")
            with recorder.lock:
                recorder.user_info_asked.append(openid)
                error = recorder.user_info_errors.pop(0) if recorder.user_info_errors else 0
            if error:
                self._answer({"errcode": error, "errmsg": "refused by the test"})
                return
            if not self._token_ok(query):
                return
            if query.get("lang") not in ("zh_CN", "zh_TW", "en") or not openid:
                self._answer({"errcode": 40003, "errmsg": "invalid openid"})
                return
            info: dict[str, Any] = {"subscribe": 1, "openid": openid, "language": "zh_CN"}
            if openid in recorder.unionids:
                info["unionid"] = recorder.unionids[openid]
            self._answer(info)

        def _template(self, body: Any) -> None:
            """WeChat's checks: a follower, a template id, and each field's ``value``."""
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or not body.get("touser"):
                self._answer({"errcode": 47001, "errmsg": "data format error"})
                return
            if not body.get("template_id") or not all(
                isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
            ):
                self._answer({"errcode": 40037, "errmsg": "invalid template_id"})
                return
            with recorder.lock:
                recorder.templates.append(body)
            self._answer({"errcode": 0, "errmsg": "ok", "msgid": 200228332})

    return Handler


@contextmanager
def wechat_api(app_id: str = APP_ID, app_secret: str = APP_SECRET) -> Iterator[Recorder]:
    """A real HTTP server on 127.0.0.1 answering like WeChat's API for the account
    ``app_id``."""
    recorder = Recorder(app_id=app_id, app_secret=app_secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
