"""``omnicx channels``: create channels (printing the embed snippet or the callback URL)
and list them.

Each creation is audited as the operator at the terminal (``user:cli:<os user>``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from omnicx.channels.models import Channel
from omnicx.channels.service import (
    create_channel,
    entry_point,
    list_channels,
    origins_of,
    settings_of,
)
from omnicx.channels.sms.sent import sent_texts
from omnicx.channels.sms.setup import SmsAccount, create_sms_channel, status_url
from omnicx.channels.wechat.setup import create_wechat_channel
from omnicx.cli.email_commands import create_email, imap_command, mail_server, smtp_command
from omnicx.cli.errors import fail
from omnicx.cli.operator import operator
from omnicx.cli.phone_commands import create_phone
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.settings import get_settings

console = Console()
channels = typer.Typer(help="Channels: web chat, WeChat, SMS and email.")
SERVER_HELP = (
    "The address the internet reaches OmniCX at (the snippet, the callback URL); "
    "default OMNICX_PUBLIC_URL"
)


@channels.command("create")
def channels_create(
    kind: Annotated[str, typer.Argument(help="webchat, wechat, sms, email or phone")],
    name: Annotated[str, typer.Option("--name", help="A name people recognise")],
    origin: Annotated[
        list[str] | None,
        typer.Option("--origin", help="webchat: the site's origin, e.g. https://shop.example.cn"),
    ] = None,
    identity_secret_generate: Annotated[
        bool,
        typer.Option(
            "--identity-secret-generate",
            help="webchat: generate the secret the site's server signs its users' ids with",
        ),
    ] = False,
    prechat: Annotated[
        bool, typer.Option("--prechat", help="webchat: ask name, phone and email first")
    ] = False,
    app_id: Annotated[str | None, typer.Option(help="wechat: the account's AppID")] = None,
    app_secret: Annotated[str | None, typer.Option(help="wechat: the AppSecret")] = None,
    token: Annotated[str | None, typer.Option(help="wechat: the callback Token you chose")] = None,
    aes_key: Annotated[
        str | None, typer.Option(help="wechat: the EncodingAESKey (compatible or safe mode)")
    ] = None,
    api_base: Annotated[
        str | None, typer.Option(help="wechat: the API's address (default api.weixin.qq.com)")
    ] = None,
    service_template: Annotated[
        str | None, typer.Option(help="wechat: template id for replies after 48 hours")
    ] = None,
    template_field: Annotated[
        str | None, typer.Option(help="wechat: the template's field for the reply (content)")
    ] = None,
    open_platform: Annotated[
        str | None, typer.Option(help="wechat: the unionids' collection (Open Platform account)")
    ] = None,
    server_url: Annotated[str | None, typer.Option(help=SERVER_HELP)] = None,
    provider: Annotated[str, typer.Option(help="sms: twilio, aliyun or sink")] = "twilio",
    account_sid: Annotated[str | None, typer.Option(help="sms: Twilio's account SID")] = None,
    auth_token: Annotated[str | None, typer.Option(help="sms: Twilio's auth token")] = None,
    from_number: Annotated[
        str | None, typer.Option("--from", help="sms: the number texts are sent from")
    ] = None,
    api_base_url: Annotated[
        str | None, typer.Option(help="sms: the provider API's address (tests, proxies)")
    ] = None,
    access_key_id: Annotated[str | None, typer.Option(help="sms aliyun: AccessKey ID")] = None,
    access_key_secret: Annotated[
        str | None, typer.Option(help="sms aliyun: AccessKey secret")
    ] = None,
    sign_name: Annotated[str | None, typer.Option(help="sms aliyun: the SMS signature")] = None,
    template_code: Annotated[
        str | None, typer.Option(help="sms aliyun: the template, e.g. SMS_154950909")
    ] = None,
    address: Annotated[str | None, typer.Option(help="email: the mailbox's address")] = None,
    smtp_host: Annotated[
        str | None, typer.Option(help="email: SMTP server replies go through")
    ] = None,
    smtp_port: Annotated[int | None, typer.Option(help="email: its port (25/587/465)")] = None,
    smtp_user: Annotated[str | None, typer.Option(help="email: SMTP login")] = None,
    smtp_password: Annotated[str | None, typer.Option(help="email: SMTP password")] = None,
    smtp_starttls: Annotated[bool, typer.Option(help="email: STARTTLS (587)")] = False,
    smtp_ssl: Annotated[bool, typer.Option(help="email: implicit TLS (465)")] = False,
    imap_host: Annotated[str | None, typer.Option(help="email: IMAP server to poll")] = None,
    imap_port: Annotated[int | None, typer.Option(help="email: its port (143/993)")] = None,
    imap_user: Annotated[str | None, typer.Option(help="email: IMAP login")] = None,
    imap_password: Annotated[str | None, typer.Option(help="email: IMAP password")] = None,
    imap_ssl: Annotated[bool, typer.Option(help="email: implicit TLS (993)")] = False,
    auth: Annotated[str, typer.Option(help="phone: how the PBX signs: hmac or token")] = "hmac",
    region: Annotated[
        str, typer.Option(help="phone: the country of numbers dialled without +, e.g. CN")
    ] = "CN",
    extension: Annotated[
        list[str] | None,
        typer.Option(help="phone: an extension and its agent, e.g. 8001=zhang.wei@shop.cn"),
    ] = None,
) -> None:
    """Create a channel; print its embed snippet (web chat, with the identity secret,
    shown once), the callback URL to paste into the WeChat console, an SMS number's
    webhook URLs, or the mailbox."""
    if kind == "email":
        smtp = mail_server("smtp", smtp_host, smtp_port, smtp_user, smtp_password,
                           starttls=smtp_starttls, ssl=smtp_ssl)  # fmt: skip
        imap = mail_server("imap", imap_host, imap_port, imap_user, imap_password, ssl=imap_ssl)
        return create_email(name, address, smtp, imap)
    base = server_url or get_settings().public_base_url
    if kind == "sms":
        account = SmsAccount(
            provider, from_number, account_sid, auth_token, access_key_id,
            access_key_secret, sign_name, template_code, api_base_url,
        )  # fmt: skip
        _create_sms(name, account, base)
        return
    if kind == "phone":
        pairs = dict(e.partition("=")[::2] for e in extension or [])
        create_phone(name, auth, region, pairs, base)
        return
    wechat = {"app_id": app_id, "app_secret": app_secret, "token": token}
    missing = [f"--{k.replace('_', '-')}" for k, v in wechat.items() if not v]
    if kind == "wechat" and missing:
        raise fail("a WeChat channel needs " + ", ".join(missing))
    template = {
        "service_template": service_template,
        "template_field": template_field,
        "open_platform": open_platform,
    }
    try:
        with get_database().write() as session:
            channel, secret = _create(
                session,
                kind,
                name,
                origin or [],
                identity_secret_generate,
                prechat,
                {**wechat, **template},
                aes_key,
                api_base,
            )
            channel_id, pasted = channel.id, entry_point(channel, base)
    except OmniError as exc:
        raise fail(exc.message) from exc
    if kind == "wechat":
        console.print(
            f"channel [bold]{name}[/] (id {channel_id}); paste into the WeChat console "
            "(服务器配置 → 服务器地址(URL)); its secrets are stored encrypted, not shown again:"
        )
    else:
        console.print(f"channel [bold]{name}[/] (id {channel_id}); paste into the site's pages:")
    if secret:
        console.print("identity secret (sign user ids with HMAC-SHA256; shown once):")
        typer.echo(secret)
    typer.echo(pasted)


def _create_sms(name: str, account: SmsAccount, server_url: str) -> None:
    try:
        with get_database().write() as session:
            channel, generated = create_sms_channel(
                session, name, account, server_url=server_url, actor=operator()
            )
            channel_id, token = channel.id, channel.public_token
            inbound, status = entry_point(channel, server_url), status_url(channel, server_url)
    except OmniError as exc:
        raise fail(exc.message) from exc
    console.print(
        f"channel [bold]{name}[/] (id {channel_id}, {account.provider}); its keys are stored "
        "encrypted, not shown again."
    )
    if generated:
        console.print("webhook auth token (sign test webhooks like Twilio; shown once):")
        typer.echo(generated)
    if account.provider == "aliyun":
        console.print(
            f"Alibaba Cloud SMS sends notifications only: no webhook to configure ({token})."
        )
        return
    console.print("status callback URL (set on each text it sends):")
    typer.echo(status)
    console.print("paste into the Twilio console (Phone Numbers → Messaging → A message comes in):")
    typer.echo(inbound)


def _create(
    session: Session,
    kind: str,
    name: str,
    origins: list[str],
    identity_secret: bool,
    prechat: bool,
    account: dict[str, str | None],
    aes_key: str | None,
    api_base: str | None,
) -> tuple[Channel, str | None]:
    if kind != "wechat":
        return create_channel(
            session,
            kind,
            name,
            origins=origins,
            identity_secret=identity_secret,
            prechat=prechat,
            actor=operator(),
        )
    channel = create_wechat_channel(
        session,
        name,
        app_id=account["app_id"] or "",
        app_secret=account["app_secret"] or "",
        token=account["token"] or "",
        aes_key=aes_key,
        api_base=api_base,
        service_template=account.get("service_template"),
        template_field=account.get("template_field"),
        open_platform=account.get("open_platform"),
        actor=operator(),
    )
    return channel, None


channels.command("smtp")(smtp_command)
channels.command("imap")(imap_command)


@channels.command("list")
def channels_list() -> None:
    """List channels with their origins and whether they accept signed users."""
    table = Table(
        "id",
        "kind",
        "name",
        "origins / app id / number / address",
        "token",
        "source",
        "enabled",
        "created",
    )
    with get_database().read() as session:
        for c in list_channels(session):
            table.add_row(
                str(c.id),
                c.kind,
                c.name,
                " ".join(origins_of(c))
                or str(
                    settings_of(c).get("app_id")
                    or settings_of(c).get("from")
                    or settings_of(c).get("address")
                    or ""
                ),
                c.public_token,
                str(c.source_id),
                "yes" if c.enabled else "no",
                str(c.created_at)[:19],
            )
    console.print(table)


@channels.command("sent")
def channels_sent(
    name: Annotated[str, typer.Argument(help="The SMS channel's name")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first")] = 20,
) -> None:
    """The texts an SMS channel sent, with the provider's delivery status; for the sink
    provider, what it would have sent (number and text)."""
    try:
        with get_database().read() as session:
            texts = sent_texts(session, name, limit)
    except OmniError as exc:
        raise fail(exc.message) from exc
    table = Table("at", "provider id", "outbox", "to", "status", "error", "text")
    for t in texts:
        table.add_row(
            str(t.at)[:19], t.provider_id, str(t.outbox_id or ""), t.to or "", t.status,
            t.error_code or "", t.text or "",
        )  # fmt: skip
    console.print(table)
