"""Reading real-world mail: messages built with the stdlib ``email`` package as mail
clients build them, and raw messages as Chinese clients (Outlook, Foxmail, QQ Mail)
actually send them — lying charsets, encoded words, 8-bit headers, quoted history,
inline images, auto-replies and bounces."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import pytest

from omnicx.channels.email.parsing import parse_mail
from omnicx.channels.email.quotes import fold_quotes

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _b(text: str, charset: str) -> str:
    return base64.b64encode(text.encode(charset)).decode()


def test_gb2312_label_with_gbk_characters_and_encoded_word_headers():
    # 镕 and 喆 are GBK, not GB2312: Outlook labels such mail gb2312 all the same.
    body = "您好，我是朱镕喆，订单 2026120701 还没发货。\r\n".encode("gbk")
    raw = (
        f"From: =?gb2312?B?{_b('朱镕喆', 'gbk')}?= <Zhu.RongZhe@Example.CN>\r\n"
        f"To: support@shop.cn\r\nCc: =?utf-8?Q?=E5=B0=8F=E7=8E=8B?= <wang@shop.cn>\r\n"
        f"Subject: =?GB2312?B?{_b('订单还没发货', 'gbk')}?= =?GB2312?B?{_b('（急）', 'gbk')}?=\r\n"
        "Message-ID: <20261207.abc@example.cn>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0800\r\n"
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body
    mail = parse_mail(raw)
    assert mail.sender == "zhu.rongzhe@example.cn"
    assert mail.sender_name == "朱镕喆"
    assert mail.subject == "订单还没发货（急）"
    assert mail.text == "您好，我是朱镕喆，订单 2026120701 还没发货。"
    assert mail.recipients == ("support@shop.cn", "wang@shop.cn")
    assert mail.message_id == "20261207.abc@example.cn"
    assert mail.sent_at is not None and mail.sent_at.utcoffset().total_seconds() == 8 * 3600
    assert mail.automatic is None


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("gbk", "退货地址是哪里？"),
        ("gb18030", "发票抬头：欧尼科技𠀀有限公司"),  # 𠀀: four bytes in GB18030
        ("big5", "請問這個商品何時到貨？"),
        ("big5", "香港的朋友說：深水埗"),  # 埗 is HKSCS: mail labelled big5 carries it
    ],
)
def test_chinese_charsets_in_body_and_base64_headers(charset, text):
    codec = "big5hkscs" if charset == "big5" else charset
    message = (
        f"From: =?{charset}?B?{_b('陳小姐', codec)}?= <chen@example.hk>\r\n"
        f"Subject: =?{charset}?B?{_b(text[:6], codec)}?=\r\nMessage-ID: <{charset}-1@x>\r\n"
        f'Content-Type: text/plain; charset="{charset}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(text.encode(codec))
    mail = parse_mail(message)
    assert (mail.sender_name, mail.subject, mail.text) == ("陳小姐", text[:6], text)


def test_raw_8bit_headers_in_utf8_and_gbk():
    raw = (
        "From: 李雷 <lilei@example.cn>\r\nSubject: 发票问题\r\nMessage-ID: <a1@x>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n能开专票吗？\r\n"
    ).encode()
    assert (parse_mail(raw).sender_name, parse_mail(raw).subject) == ("李雷", "发票问题")
    gbk = "From: 韩梅梅 <hmm@example.cn>\r\nSubject: 换货\r\n\r\n尺码不对\r\n".encode("gbk")
    mail = parse_mail(gbk)
    assert (mail.sender_name, mail.subject, mail.text) == ("韩梅梅", "换货", "尺码不对")
    # No Message-ID: one is made from the bytes, the same for the same mail.
    assert mail.message_id == parse_mail(gbk).message_id
    assert mail.message_id.endswith("@omnicx.missing")


def test_multipart_alternative_with_inline_image_and_attachment():
    message = EmailMessage()
    message["From"] = formataddr(("王芳", "wangfang@example.cn"))
    message["To"] = "support@shop.cn"
    message["Subject"] = "收到的商品有破损"
    message["Message-ID"] = make_msgid(domain="example.cn")
    message.set_content("包装破了，照片在附件里。\n")
    cid = make_msgid(domain="example.cn")
    message.add_alternative(
        f'<p>包装<b>破了</b><script>alert(1)</script></p><img src="cid:{cid[1:-1]}" '
        'onerror="steal()"><a href="javascript:alert(1)">看</a>',
        subtype="html",
    )
    message.get_payload()[1].add_related(
        PNG, "image", "png", cid=cid, filename="破损.png", disposition="inline"
    )
    message.add_attachment(
        "订单号,金额\n2026120701,199.00\n".encode("gbk"),
        maintype="text",
        subtype="csv",
        filename="订单明细.csv",
    )
    mail = parse_mail(message.as_bytes())
    assert mail.text == "包装破了，照片在附件里。"
    assert mail.html is not None and "<b>破了</b>" in mail.html
    assert "script" not in mail.html and "onerror" not in mail.html
    assert "javascript" not in mail.html and f'src="cid:{cid[1:-1]}"' in mail.html
    files = {f.name: f for f in mail.files}
    assert set(files) == {"破损.png", "订单明细.csv"}
    assert files["破损.png"].inline and files["破损.png"].data == PNG
    assert files["破损.png"].content_id == cid[1:-1]
    assert not files["订单明细.csv"].inline
    assert files["订单明细.csv"].data.decode("gbk").startswith("订单号")


def test_html_only_mail_is_read_as_text_and_its_blockquote_folded():
    message = EmailMessage()
    message["From"] = "zhao@example.cn"
    message["Message-ID"] = "<h1@example.cn>"
    message.set_content(
        "<html><head><style>p{color:red}</style></head><body><div>好的，谢谢！</div>"
        "<div>在 2026年12月6日 周日 09:00，客服 &lt;support@shop.cn&gt; 写道：</div>"
        "<blockquote><p>您的订单已发货。</p></blockquote></body></html>",
        subtype="html",
    )
    mail = parse_mail(message.as_bytes())
    assert mail.text == "好的，谢谢！"
    assert "您的订单已发货" in mail.quoted and "color" not in mail.text


def test_encoded_attachment_names_rfc2231_and_encoded_word():
    raw = (
        "From: a@example.cn\r\nMessage-ID: <n1@x>\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain; charset=utf-8\r\n\r\n见附件\r\n--b\r\n"
        "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="=?GBK?B?{_b("发票.pdf", "gbk")}?="\r\n\r\n'
        f"{base64.b64encode(b'%PDF-1.4 x').decode()}\r\n--b\r\n"
        "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''%E5%90%88%E5%90%8C.pdf\r\n\r\n"
        f"{base64.b64encode(b'%PDF-1.4 y').decode()}\r\n--b--\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.text == "见附件"
    assert [f.name for f in mail.files] == ["发票.pdf", "合同.pdf"]


@pytest.mark.parametrize(
    ("body", "new", "history"),
    [
        (
            "好的，明天寄回。\n\nOn Mon, Dec 7, 2026 at 10:00 AM 客服 <support@shop.cn> wrote:\n"
            "> 请寄回换货。\n",
            "好的，明天寄回。",
            "请寄回换货",
        ),
        (
            "收到\n\nOn Mon, 7 Dec 2026 at 10:00, Support Team <support@shop.cn>\n"
            "wrote:\n> 已退款\n",
            "收到",
            "已退款",
        ),
        ("谢谢\n\n在 2026年12月7日 10:00，客服 写道：\n> 已发货\n", "谢谢", "已发货"),
        (
            "请尽快处理\n\n------------------ 原始邮件 ------------------\n发件人: 客服\n内容",
            "请尽快处理",
            "原始邮件",
        ),
        (
            "我同意。\n\n-----原始邮件-----\n发件人: support@shop.cn\n"
            "发送时间: 2026年12月7日\n主题: 退款",
            "我同意。",
            "发送时间",
        ),
        (
            "见下\n\nFrom: Support <support@shop.cn>\nSent: Monday, December 7, 2026\nTo: me\n旧的",
            "见下",
            "Sent:",
        ),
        ("> 是哪个颜色？\n红色\n> 尺码？\nXL\n", "红色\nXL", "> 尺码？"),
    ],
)
def test_quoted_history_is_folded(body, new, history):
    text, quoted = fold_quotes(body)
    assert text == new
    assert history in quoted


def test_a_forward_without_own_words_keeps_everything():
    text, quoted = fold_quotes("> 只有引用\n> 第二行")
    assert text == "> 只有引用\n> 第二行" and quoted == ""


def _auto(**headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("From", "someone@example.cn")
    message["Message-ID"] = make_msgid()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("我正在休假，12月10日回来。")
    return message.as_bytes()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_auto(Auto_Submitted="auto-replied"), "auto_submitted"),
        (_auto(Auto_Submitted="auto-generated; owner-email=x@y"), "auto_submitted"),
        (_auto(Precedence="bulk"), "precedence"),
        (_auto(Precedence="auto_reply"), "precedence"),
        (_auto(Precedence="list"), "precedence"),
        (_auto(X_Autoreply="yes"), "autoreply"),
        (_auto(X_Autorespond="vacation"), "autoreply"),
        (_auto(From="MAILER-DAEMON@mx.example.cn"), "daemon_sender"),
        (_auto(From="Mail Delivery System <postmaster@example.cn>"), "daemon_sender"),
    ],
)
def test_auto_replies_are_recognised(raw, reason):
    assert parse_mail(raw).automatic == reason


def test_a_person_is_not_automatic_and_a_null_sender_is():
    assert parse_mail(_auto(Auto_Submitted="no")).automatic is None
    assert parse_mail(_auto(Precedence="first-class")).automatic is None
    assert parse_mail(_auto(), envelope_from="").automatic == "null_sender"
    assert parse_mail(_auto(), envelope_from="a@b.cn").automatic is None


def test_a_delivery_status_notification_is_a_bounce():
    raw = (
        b"From: Mail Delivery Subsystem <bounces@mx.example.cn>\r\nMessage-ID: <dsn1@mx>\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; nobody@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--r--\r\n"
    )
    assert parse_mail(raw).automatic == "delivery_report"


def test_threading_headers():
    raw = (
        "From: a@example.cn\r\nMessage-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\n"
        "References: <a@x>\r\n <b@x>\r\n\r\n好\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.in_reply_to == ("b@x",) and mail.references == ("a@x", "b@x")
    assert mail.thread_ids == ("b@x", "a@x")
