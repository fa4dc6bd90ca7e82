"""Demo data for the desk: teams, agents, routing rules, and customers writing in
across channels with real Chinese (and some English) text, so the inbox is populated.

Customers and their messages are canonical message events (``messages.message_call``)
appended to the log like a channel adapter's, so identity stitches them and the desk
group threads and routes them. Idempotent: teams, agents and rules are created once and
message ids are fixed, so a second seed adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import NotFound
from omnicx.desk.canned.demo import seed_canned
from omnicx.desk.messages import Sender, message_call
from omnicx.desk.models import RoutingRule
from omnicx.desk.routing import add_rule
from omnicx.desk.sla.demo import seed_sla
from omnicx.desk.teams import add_member, create_team, set_agent, set_presence, team_by_ref
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import create_user, list_users

WECHAT_APP = "wx-omnishop"
DEMO_PASSWORD = "omnicx-demo-2026"

TEAMS = {
    "售后服务": "安装、维修、退换货",
    "高级客服": "高关怀与金卡会员",
    "订单与物流": "发货、配送、发票",
}
# (email, name, role, team, skills, capacity, presence)
AGENTS = [
    ("li.na@omnishop.cn", "李娜", "agent", "售后服务", ["lang:zh", "product:空调"], 6, "online"),
    (
        "zhao.lei@omnishop.cn",
        "赵磊",
        "agent",
        "售后服务",
        ["lang:zh", "product:净水器"],
        6,
        "online",
    ),
    ("chen.jing@omnishop.cn", "陈静", "agent", "售后服务", ["lang:zh", "lang:en"], 5, "away"),
    (
        "wang.fang@omnishop.cn",
        "王芳",
        "senior_agent",
        "高级客服",
        ["lang:zh", "lang:en"],
        4,
        "online",
    ),
    ("sun.hao@omnishop.cn", "孙浩", "senior_agent", "高级客服", ["lang:zh"], 4, "offline"),
    ("zhou.min@omnishop.cn", "周敏", "agent", "订单与物流", ["lang:zh"], 8, "online"),
    ("he.jun@omnishop.cn", "何军", "supervisor", None, ["lang:zh", "lang:en"], 0, "online"),
]
# (kind, key, value, team, priority, position)
RULES = [
    ("tag", "", "高关怀", "高级客服", "high", 10),
    ("tag", "", "high-care", "高级客服", "high", 11),
    ("trait", "loyalty_tier", "gold", "高级客服", None, 20),
    ("trait", "topic", "物流", "订单与物流", None, 30),
    ("always", "", "", "售后服务", None, 100),
]

# (name, traits, sender, channel, thread, [messages...])
CUSTOMERS: list[tuple[str, dict[str, Any], Sender, str, str, list[str]]] = [
    (
        "张伟",
        {"tags": ["高关怀"], "loyalty_tier": "gold"},
        Sender(user_id="crm-900001", phone="13800138001"),
        "wechat",
        "o-zhangwei",
        [
            "你好，我上周买的空调不制冷了，已经第三次报修了。",
            "师傅说要换压缩机，可是一直没人联系我。",
            "我家里有老人，天气这么热，请尽快处理！",
        ],
    ),
    (
        "王秀英",
        {"loyalty_tier": "gold"},
        Sender(user_id="crm-900002"),
        "webchat",
        "web-wxy",
        ["请问金卡会员的延保怎么激活？", "订单号 SO-20261201-0042。"],
    ),
    (
        "刘洋",
        {},
        Sender(phone="13900139002"),
        "sms",
        "+8613900139002",
        ["净水器滤芯提示更换，你们有上门服务吗？"],
    ),
    (
        "陈晨",
        {"topic": "物流"},
        Sender(email="chen.chen@163.com"),
        "email",
        "mail-chenchen",
        ["您好，我的快递显示已签收但我没有收到。", "快递单号 SF1234567890，麻烦帮忙查一下。"],
    ),
    (
        "杨静",
        {},
        Sender(anonymous_id="web-anon-yj"),
        "webchat",
        "web-yj",
        ["扫地机器人充不上电怎么办？", "已经按说明书重置过了。"],
    ),
    (
        "赵敏",
        {"tags": ["high-care"]},
        Sender(user_id="crm-900006", email="zhaomin@qq.com"),
        "email",
        "mail-zhaomin",
        ["上次维修后又漏水了，地板都泡坏了，我要投诉。"],
    ),
    (
        "黄磊",
        {},
        Sender(external_ids=(("wechat_openid", WECHAT_APP, "o-huanglei"),)),
        "wechat",
        "o-huanglei",
        ["在吗？", "我想把电饭煲换成大一点的型号，可以吗？"],
    ),
    (
        "周婷",
        {"topic": "物流"},
        Sender(phone="13700137008"),
        "sms",
        "+8613700137008",
        ["发票什么时候能开？公司报销急用。"],
    ),
    (
        "吴刚",
        {},
        Sender(user_id="crm-900009"),
        "api",
        "app-wugang",
        ["App 里的保修卡信息显示不出来。"],
    ),
    (
        "徐丽",
        {},
        Sender(external_ids=(("wechat_openid", WECHAT_APP, "o-xuli"),), phone="13600136010"),
        "wechat",
        "o-xuli",
        ["空气净化器有异味，正常吗？", "刚拆封用了两天。"],
    ),
    (
        "孙强",
        {"loyalty_tier": "silver"},
        Sender(anonymous_id="web-anon-sq"),
        "webchat",
        "web-sq",
        ["请问双十二的优惠还能用吗？"],
    ),
    (
        "马超",
        {},
        Sender(phone="13500135012"),
        "phone",
        "call-mc-1",
        ["（来电记录）客户反映热水器点火失败，要求明天上午上门。"],
    ),
    (
        "朱红",
        {"tags": ["高关怀"]},
        Sender(external_ids=(("wechat_openid", WECHAT_APP, "o-zhuhong"),)),
        "wechat",
        "o-zhuhong",
        ["我妈妈一个人在家，冰箱突然不工作了，能不能今天就派人来？"],
    ),
    (
        "胡斌",
        {},
        Sender(email="hubin@outlook.com"),
        "email",
        "mail-hubin",
        ["申请退货：电风扇有噪音，订单 SO-20261120-1188。"],
    ),
    (
        "郭倩",
        {"topic": "物流"},
        Sender(user_id="crm-900015"),
        "webchat",
        "web-gq",
        ["我改了收货地址，能不能拦截快递？"],
    ),
    (
        "林峰",
        {},
        Sender(anonymous_id="web-anon-lf"),
        "webchat",
        "web-lf",
        ["洗碗机安装需要另外收费吗？"],
    ),
    (
        "何雪",
        {},
        Sender(phone="13300133017"),
        "sms",
        "+8613300133017",
        ["收到，谢谢！师傅很专业。"],
    ),
    (
        "罗军",
        {"loyalty_tier": "gold"},
        Sender(user_id="crm-900018", phone="13200132018"),
        "wechat",
        "o-luojun",
        ["积分兑换的礼品还没到。", "已经过了两周了。"],
    ),
    (
        "Emily Carter",
        {},
        Sender(email="emily.carter@example.com"),
        "email",
        "mail-emily",
        ["Hi, my air purifier arrived with a cracked filter. Can I get a replacement?"],
    ),
    (
        "James Miller",
        {"tags": ["high-care"]},
        Sender(user_id="crm-900020"),
        "webchat",
        "web-jm",
        ["The water heater I bought keeps tripping the breaker.", "It's the second unit."],
    ),
    (
        "高飞",
        {},
        Sender(external_ids=(("wechat_openid", WECHAT_APP, "o-gaofei"),)),
        "wechat",
        "o-gaofei",
        ["空调遥控器丢了，能单独买一个吗？"],
    ),
    (
        "梁静",
        {},
        Sender(phone="13100131022"),
        "sms",
        "+8613100131022",
        ["预约的安装时间能改到周六吗？"],
    ),
    (
        "宋涛",
        {"topic": "物流"},
        Sender(email="songtao@126.com"),
        "email",
        "mail-songtao",
        ["包裹破损了，里面的加湿器外壳裂了。"],
    ),
    (
        "唐敏",
        {},
        Sender(anonymous_id="web-anon-tm"),
        "webchat",
        "web-tm",
        ["你好", "净水器的 TDS 值一直很高。", "滤芯是上个月才换的。"],
    ),
    ("韩雪", {}, Sender(user_id="crm-900025"), "api", "app-hanxue", ["会员生日礼怎么领取？"]),
    (
        "冯磊",
        {},
        Sender(external_ids=(("wechat_openid", WECHAT_APP, "o-fenglei"),)),
        "wechat",
        "o-fenglei",
        ["电视挂架是包安装的吗？"],
    ),
    (
        "曹颖",
        {"tags": ["高关怀"]},
        Sender(phone="13000130027"),
        "phone",
        "call-cy-1",
        ["（来电记录）客户情绪激动，燃气灶打不着火，已多次维修。"],
    ),
    (
        "彭丽",
        {},
        Sender(email="pengli@sina.com"),
        "email",
        "mail-pengli",
        ["请问企业采购有没有折扣？需要 50 台空气净化器。"],
    ),
    (
        "邓超",
        {},
        Sender(anonymous_id="web-anon-dc"),
        "webchat",
        "web-dc",
        ["刚下单就想取消，怎么操作？"],
    ),
    (
        "许晴",
        {"loyalty_tier": "gold"},
        Sender(external_ids=(("wechat_openid", WECHAT_APP, "o-xuqing"),)),
        "wechat",
        "o-xuqing",
        ["金卡会员的以旧换新活动还有吗？"],
    ),
]


def seed_staff(session: Session) -> dict[str, int]:
    """Teams, agents (users with a demo password), routing rules, canned replies and SLA
    policies; returns the ids of the agents by e-mail. Idempotent."""
    for name, description in TEAMS.items():
        try:
            team_by_ref(session, name)
        except NotFound:
            create_team(session, name, description)
    users = {u.email: u for u in list_users(session)}
    ids: dict[str, int] = {}
    for email, name, role, team, skills, capacity, presence in AGENTS:
        user = users.get(email)
        if user is None:
            user, _ = create_user(
                session, SYSTEM, email=email, display_name=name, role=role, password=DEMO_PASSWORD
            )
        set_agent(session, user.id, skills=skills, capacity=capacity)
        if team is not None:
            add_member(session, team_by_ref(session, team), user.id)
        set_presence(session, user.id, presence)
        ids[email] = user.id
    if session.scalar(select(RoutingRule.id).limit(1)) is None:
        for kind, key, value, team, priority, position in RULES:
            add_rule(
                session,
                team_by_ref(session, team),
                kind=kind,
                key=key,
                value=value,
                priority=priority,
                position=position,
            )
    seed_canned(session)
    seed_sla(session)
    return ids


def customer_calls(anchor: datetime) -> Iterator[dict[str, Any]]:
    """Each demo customer's traits (an identify call), then their messages, spread over
    the last two days before ``anchor``."""
    for n, (name, traits, sender, channel, thread, texts) in enumerate(CUSTOMERS):
        start = anchor - timedelta(hours=48) + timedelta(minutes=90 * n)
        identify = {
            "type": "identify",
            "messageId": f"desk-demo-{n}-identify",
            "timestamp": start.isoformat(),
            **sender.fields(channel),
            "traits": {"name": name, **traits},
        }
        yield identify
        for m, text in enumerate(texts):
            yield message_call(
                direction="in",
                channel=channel,
                thread=thread,
                text=text,
                message_id=f"desk-demo-{n}-{m}",
                sender=sender,
                timestamp=start + timedelta(minutes=1 + 3 * m),
            )


REPLIES = [
    "您好，已收到您的反馈，我们马上为您安排。",
    "非常抱歉给您带来不便，师傅明天上午会联系您。",
    "您好，已为您登记，稍后短信通知处理结果。",
]


def seed_activity(session: Session) -> int:
    """What agents did already: replies, a note, labels, two resolved conversations.
    Only conversations nobody touched yet; returns how many were worked on."""
    from omnicx.core.serialization import dumps
    from omnicx.desk.models import Conversation, Message
    from omnicx.desk.replies import post_message
    from omnicx.desk.status import set_status

    if session.scalar(select(Message.id).where(Message.direction == "out").limit(1)):
        return 0  # seeded before: what agents did is not done twice
    untouched = session.scalars(
        select(Conversation)
        .where(Conversation.assignee_id.is_not(None), Conversation.first_reply_at.is_(None))
        .order_by(Conversation.id)
        .limit(8)
    ).all()
    for n, conversation in enumerate(untouched):
        actor = f"user:demo:{conversation.assignee_id}"
        post_message(
            session,
            conversation,
            author_user_id=conversation.assignee_id,
            actor=actor,
            kind="reply",
            text=REPLIES[n % len(REPLIES)],
        )
        if n == 0:
            post_message(
                session,
                conversation,
                author_user_id=conversation.assignee_id,
                actor=actor,
                kind="note",
                text="内部备注：客户第三次报修，已上报主管。",
            )
            conversation.labels = dumps(["投诉", "加急"])
        if n in (2, 5):
            set_status(session, actor, conversation, "resolved")
        elif n == 3:
            set_status(session, actor, conversation, "pending")
    return len(untouched)
