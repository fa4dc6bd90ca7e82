"""Names, places, products and messages the demo data set draws from."""

from __future__ import annotations

from datetime import timedelta

# The demo covers the SPAN before its anchor: the moment it is loaded, so that a fresh
# install's "last 30 days" are full; tests pass a fixed anchor to get fixed timestamps.
SPAN = timedelta(days=180)
APP = {"name": "OmniShop", "version": "3.2.1", "build": "3210"}
WECHAT_APP = "wx8a1b2c3d4e5f6a7b"
WECHAT_OPEN_PLATFORM = "open-omnishop"
JUNK_ANONYMOUS_IDS = ("null", "undefined", "00000000-0000-0000-0000-000000000000", "anonymous")


def _table(text: str) -> list[list[str]]:
    """``"a:b c:d"`` → ``[["a", "b"], ["c", "d"]]``: keeps the name tables short."""
    return [item.split(":") for item in text.split()]


SURNAMES = dict(
    _table(
        "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu "
        "孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 林:lin 高:gao 罗:luo 郑:zheng 梁:liang 谢:xie "
        "宋:song 唐:tang 韩:han"
    )
)
# Given-name character: its pinyin, and a same-sounding character (the commonest typo).
GIVEN_CHARS = {
    ch: (pinyin, typo)
    for ch, pinyin, typo in _table(
        "伟:wei:玮 芳:fang:方 娜:na:那 敏:min:珉 静:jing:婧 丽:li:莉 强:qiang:蔷 磊:lei:垒 "
        "洋:yang:阳 艳:yan:燕 勇:yong:永 军:jun:君 杰:jie:洁 娟:juan:鹃 涛:tao:滔 明:ming:铭 "
        "超:chao:潮 秀:xiu:琇 英:ying:瑛 桂:gui:贵 华:hua:桦 平:ping:萍 刚:gang:钢 玲:ling:琳 "
        "辉:hui:晖 鹏:peng:朋 婷:ting:亭 雪:xue:薛 宇:yu:禹 浩:hao:皓 欣:xin:昕 怡:yi:宜 "
        "晨:chen:辰 博:bo:搏 佳:jia:家 文:wen:雯 俊:jun:骏 建:jian:健 志:zhi:智 海:hai:亥 "
        "燕:yan:艳 红:hong:虹 梅:mei:玫 兰:lan:岚 思:si:斯 远:yuan:源 雨:yu:宇 子:zi:梓 "
        "涵:han:晗 然:ran:冉 一:yi:依 鸣:ming:明 国:guo:帼"
    )
}
PINYIN = {
    **{typo: py for py, typo in GIVEN_CHARS.values()},
    **{ch: py for ch, (py, _) in GIVEN_CHARS.items()},
}
MALE_GIVEN = (
    "伟",
    "强",
    "磊",
    "洋",
    "勇",
    "军",
    "杰",
    "涛",
    "明",
    "超",
    "刚",
    "辉",
    "鹏",
    "宇浩",
    "浩然",
    "一鸣",
    "思远",
    "文博",
    "俊杰",
    "建华",
    "建国",
    "志强",
    "子涵",
)
FEMALE_GIVEN = (
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "艳",
    "娟",
    "玲",
    "婷",
    "雪",
    "秀英",
    "桂英",
    "欣怡",
    "佳怡",
    "雨欣",
    "晨雪",
    "丽娟",
    "海燕",
    "红梅",
    "秀兰",
    "桂兰",
    "思雨",
)
CN_MOBILE_PREFIXES = (
    "138",
    "139",
    "135",
    "136",
    "137",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "182",
    "183",
    "187",
    "188",
    "130",
    "131",
    "132",
    "155",
    "156",
    "185",
    "186",
    "133",
    "153",
    "180",
    "181",
    "189",
    "177",
    "199",
)
CN_CITIES = (
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "南京",
    "武汉",
    "西安",
    "重庆",
    "苏州",
    "天津",
)
CN_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "example.cn", "outlook.com")
EN_FIRST = {
    "male": (
        "James",
        "John",
        "Robert",
        "Michael",
        "David",
        "William",
        "Daniel",
        "Matthew",
        "Christopher",
        "Andrew",
        "Thomas",
        "Oliver",
        "Harry",
        "George",
        "Jonathan",
    ),
    "female": (
        "Mary",
        "Jennifer",
        "Linda",
        "Elizabeth",
        "Sarah",
        "Jessica",
        "Emily",
        "Emma",
        "Olivia",
        "Sophie",
        "Charlotte",
        "Amelia",
        "Hannah",
        "Rebecca",
        "Katherine",
    ),
}
EN_LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Martin",
    "Thompson",
    "White",
    "Harris",
    "Clarke",
    "Walker",
    "Robinson",
    "Wright",
    "Hughes",
    "Edwards",
    "Bennett",
    "Mitchell",
)
EN_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk")
US_CITIES = {
    "New York": ("212", "646", "917"),
    "San Francisco": ("415", "628"),
    "Chicago": ("312", "773"),
    "Seattle": ("206",),
    "Austin": ("512", "737"),
    "Boston": ("617", "857"),
}
UK_CITIES = ("London", "Manchester", "Birmingham", "Edinburgh", "Bristol")
TIERS = ("bronze", "silver", "gold", "platinum")
# sku, Chinese name, English name, CNY price, USD price, warranty years
PRODUCTS = (
    ("OS-KTL-01", "智能电热水壶", "Smart Kettle", 299, 49, 1),
    ("OS-VAC-20", "无线吸尘器", "Cordless Vacuum", 1999, 299, 2),
    ("OS-AIR-30", "空气净化器", "Air Purifier", 2499, 349, 2),
    ("OS-HPH-11", "降噪耳机", "Noise-cancelling Headphones", 1299, 199, 1),
    ("OS-WAT-05", "智能手表", "Smartwatch", 1599, 249, 1),
    ("OS-RCK-08", "电饭煲", "Rice Cooker", 599, 99, 1),
    ("OS-COF-15", "咖啡机", "Espresso Machine", 3299, 499, 2),
    ("OS-ROB-40", "扫地机器人", "Robot Vacuum", 2999, 399, 2),
    ("OS-CAB-01", "USB-C 数据线", "USB-C Cable", 49, 12, 0),
)
WECHAT_TEXTS = (
    "我的发票开好了吗?",
    "订单什么时候发货?",
    "保修期还有多久?",
    "快递到哪里了?",
    "扫地机器人充不进电怎么办?",
    "可以开增值税专用发票吗?",
    "我想退货,怎么操作?",
    "收到的咖啡机有划痕",
    "双十一有优惠吗?",
    "请问可以换个颜色吗?",
    "你好,在吗?",
)
EMAIL_SUBJECTS = {
    "zh": ("发票抬头修改", "退货申请", "保修咨询", "订单未收到"),
    "en": (
        "Where is my order?",
        "Return request",
        "Warranty question",
        "Invoice needed for expenses",
        "Damaged on arrival",
    ),
}
INQUIRY_TOPICS = ("delivery", "return", "repair", "invoice", "missing_part")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49",
)
