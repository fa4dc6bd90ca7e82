"""Token buckets for what an open-to-the-internet widget must bound.

In-process: each API process keeps its own buckets, so with N processes behind a load
balancer a visitor gets up to N times the rate. Enough to stop a runaway script or a
flood from one address; a shared limit (Redis, PostgreSQL) would be the next step.
"""

from __future__ import annotations

from omnicx.channels.limits import TokenBuckets

MAX_TEXT_CHARS = 4000
# Per visitor thread: a burst of 5 messages, then one every 2 seconds.
VISITOR_BURST, VISITOR_PER_SECOND = 5.0, 0.5
# Per client IP (an office behind one NAT is many visitors): messages and new sockets.
IP_MESSAGE_BURST, IP_MESSAGES_PER_SECOND = 60.0, 2.0
IP_CONNECT_BURST, IP_CONNECTS_PER_SECOND = 30.0, 1.0
# Files cost more than lines of text: per client IP, a burst of 10 uploads, then one every
# 5 seconds; downloads of the links the widget shows, 60, then two a second.
IP_UPLOAD_BURST, IP_UPLOADS_PER_SECOND = 10.0, 0.2
IP_DOWNLOAD_BURST, IP_DOWNLOADS_PER_SECOND = 60.0, 2.0


class WebchatLimits:
    """The buckets of one API process."""

    def __init__(self) -> None:
        self.visitor_messages = TokenBuckets(VISITOR_BURST, VISITOR_PER_SECOND)
        self.ip_messages = TokenBuckets(IP_MESSAGE_BURST, IP_MESSAGES_PER_SECOND)
        self.ip_connects = TokenBuckets(IP_CONNECT_BURST, IP_CONNECTS_PER_SECOND)
        self.ip_uploads = TokenBuckets(IP_UPLOAD_BURST, IP_UPLOADS_PER_SECOND)
        self.ip_downloads = TokenBuckets(IP_DOWNLOAD_BURST, IP_DOWNLOADS_PER_SECOND)
