"""What the SMS tests share: channels, webhooks signed as Twilio signs them (Twilio's own
``RequestValidator.compute_signature``), and local stand-ins for Twilio's REST API and
Alibaba Cloud SMS that check what they are sent as the real ones do (basic auth; the RPC
signature, recomputed with Alibaba Cloud's own SDK)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from aliyunsdkcore.auth.algorithm import sha_hmac1
from aliyunsdkcore.auth.composer import rpc_signature_composer
from twilio.request_validator import RequestValidator

from omnicx.channels.sms.setup import SmsAccount, create_sms_channel
from omnicx.core.database import Database

ACCOUNT_SID = "AC3f6a0c9b8e7d1a2b3f6a0c9b8e7d1a2b"
AUTH_TOKEN = "9c1e7b3a5d2f4c6e8a0b1d3f5e7c9a2b"
FROM = "+8613800000000"
CUSTOMER = "+8613912345678"
PUBLIC_URL = "https://cx.omnishop.cn"
ACCESS_KEY_ID = "LTAI5tQx9Kd2wYv3mN7pR8sA"
ACCESS_KEY_SECRET = "b7Zq4Xw2Lm9Np3Rs6Tv8Yc1Kd5Fg0H"
SIGN_NAME = "欧尼商城"
TEMPLATE_CODE = "SMS_154950909"


@dataclass
class Sms:
    channel_id: int
    token: str  # the public token in the webhook URLs
    auth_token: str = AUTH_TOKEN

    @property
    def path(self) -> str:
        return f"/sms/twilio/{self.token}"

    @property
    def status_path(self) -> str:
        return f"{self.path}/status"


def create_sms(
    db: Database, name: str = "短信客服", *, provider: str = "twilio", api_base_url: str = ""
) -> Sms:
    account = SmsAccount(provider, FROM, ACCOUNT_SID, AUTH_TOKEN, api_base_url=api_base_url or None)
    with db.write() as session:
        channel, _ = create_sms_channel(session, name, account, server_url=PUBLIC_URL)
        return Sms(channel.id, channel.public_token)


def create_aliyun(db: Database, api_base_url: str, name: str = "通知短信") -> int:
    account = SmsAccount(
        "aliyun", None, access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET,
        sign_name=SIGN_NAME, template_code=TEMPLATE_CODE, api_base_url=api_base_url,
    )  # fmt: skip
    with db.write() as session:
        channel, _ = create_sms_channel(session, name, account, server_url=PUBLIC_URL)
        return channel.id


def message_sid() -> str:
    return "SM" + uuid.uuid4().hex


def text_form(body: str, sender: str = CUSTOMER, sid: str | None = None, **extra: str) -> dict:
    """A Messaging webhook's form as Twilio posts it."""
    sid = sid or message_sid()
    return {
        "ToCountry": "CN",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": FROM,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def signature(url: str, form: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, form))


def post(
    client: Any, sms: Sms, form: dict[str, str], *, path: str | None = None, **kwargs: Any
) -> Any:
    """Post ``form`` to the channel as Twilio does, signed over the public URL."""
    path = path or sms.path
    sig = kwargs.pop("signature", None) or signature(PUBLIC_URL + path, form, sms.auth_token)
    return client.post(path, data=form, headers={"X-Twilio-Signature": sig}, **kwargs)


# -- Twilio's REST API, locally --------------------------------------------------------------


@dataclass
class Recorder:
    """What the local provider was asked, and how it answers."""

    url: str = ""
    sent: list[dict[str, str]] = field(default_factory=list)
    # Answer the next sends with these (HTTP status, JSON body) first.
    errors: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    refused_auth: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _twilio(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            if self.path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
                _answer(self, 404, {"code": 20404, "message": "not found", "status": 404})
                return
            if self.headers.get("Authorization") != expected:
                with recorder.lock:
                    recorder.refused_auth += 1
                _answer(self, 401, {"code": 20003, "message": "Authenticate", "status": 401})
                return
            if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                _answer(self, 400, {"code": 20001, "message": "not a form", "status": 400})
                return
            with recorder.lock:
                if recorder.errors:
                    status, body = recorder.errors.pop(0)
                    _answer(self, status, body)
                    return
            if not form.get("To") or not form.get("Body") or form.get("From") != FROM:
                _answer(self, 400, {"code": 21604, "message": "To/Body/From", "status": 400})
                return
            sid = message_sid()
            with recorder.lock:
                recorder.sent.append({**form, "sid": sid})
            _answer(self, 201, {"sid": sid, "status": "queued", "to": form["To"]})

    return Handler


def _aliyun(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            given = params.pop("Signature", "")
            # Alibaba Cloud's own SDK canonicalises and signs: an independent computation.
            compose = rpc_signature_composer.__dict__["__compose_string_to_sign"]
            expected = sha_hmac1.get_sign_string(compose("POST", params), ACCESS_KEY_SECRET + "&")
            if params.get("AccessKeyId") != ACCESS_KEY_ID:
                _answer(self, 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "key"})
                return
            if given != expected:
                _answer(self, 400, {"Code": "SignatureDoesNotMatch", "Message": "signature"})
                return
            with recorder.lock:
                if recorder.errors:
                    status, body = recorder.errors.pop(0)
                    _answer(self, status, body)
                    return
            biz = uuid.uuid4().hex[:20]
            with recorder.lock:
                recorder.sent.append({**params, "BizId": biz})
            _answer(self, 200, {"Code": "OK", "Message": "OK", "BizId": biz, "RequestId": "r"})

    return Handler


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler], recorder: Recorder) -> Iterator[Recorder]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def twilio_api() -> Iterator[Recorder]:
    """A real HTTP server on 127.0.0.1 answering like Twilio's Messages resource."""
    recorder = Recorder()
    with _serve(_twilio(recorder), recorder):
        yield recorder


@contextmanager
def aliyun_api() -> Iterator[Recorder]:
    """A real HTTP server on 127.0.0.1 answering like Alibaba Cloud SMS's SendSms."""
    recorder = Recorder()
    with _serve(_aliyun(recorder), recorder):
        yield recorder
