"""The WeChat callback under load: answered fast, every message once.

Starts ``omnicx serve`` (embedded default: SQLite, with its pipeline process) with a
WeChat channel, and posts ``--rate`` signed callbacks a second for ``--seconds`` from
``--followers`` followers (built and signed with wechatpy as WeChat's servers do; with
``--aes``, encrypted in safe mode). The arrivals are open-loop — each callback leaves at
its planned time whatever the answers before it — and a callback's time runs from its
planned departure to the answer, so queueing shows. ``--retry-share`` of the messages
are sent again a second later as WeChat retries (half with the same signature, half with
a new one). Then it waits for the desk to place every message and counts: every message
must be on the log once and in the desk once.

    .venv/bin/python bench/channels.py                  # 200 messages/s for 30 s
    .venv/bin/python bench/channels.py --seconds 10     # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from _common import (
    CpuWatch,
    announce,
    background_note,
    bench_home,
    common_arguments,
    console,
    database_path,
    migrate,
    percentile,
    print_table,
    readonly_connection,
    running_server,
    server_environment,
    verdict,
    write_json,
)
from _production import fresh_database

P99_BAR_MS = 200.0  # the channels issue: answered p99 under 200 ms at 200 messages/s
WECHAT_DEADLINE_MS = 5000.0  # WeChat gives up (and retries) after 5 seconds
APP_ID, APP_SECRET = "wx3f6a0c9b8e7d1a2b", "9c1e7b3a5d2f4c6e8a0b1d3f5e7c9a2b"
TOKEN, AES_KEY = "omnicxBench2026", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
TEXTS = ("空调不制冷了", "发票抬头写错了", "师傅几点上门？", "退货地址是哪里", "会员积分怎么查")


class WechatApi(BaseHTTPRequestHandler):
    """WeChat's API as the worker reaches it (``--api-base``): an access token, and the
    user info it asks for each new follower (an account not bound to an Open Platform:
    no unionid). Without it the worker would try api.weixin.qq.com for every follower
    and, offline, retry each one for the whole run."""

    calls: ClassVar[Counter[str]] = Counter()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        WechatApi.calls[path] += 1
        if path == "/cgi-bin/token":
            answer: dict[str, Any] = {"access_token": "bench-token", "expires_in": 7200}
        elif path == "/cgi-bin/user/info":
            openid = parse_qs(urlsplit(self.path).query).get("openid", [""])[0]
            answer = {"subscribe": 1, "openid": openid, "language": "zh_CN"}
        else:
            answer = {"errcode": 40001, "errmsg": "unknown path"}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def wechat_api(stack: contextlib.ExitStack) -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WechatApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}"


def create_channel(home: Path, aes: bool, database_url: str | None, api_base: str) -> str:
    """``omnicx channels create wechat`` as an operator would; the callback path."""
    args = ["--app-id", APP_ID, "--app-secret", APP_SECRET, "--token", TOKEN]
    args += ["--api-base", api_base]
    if aes:
        args += ["--aes-key", AES_KEY]
    done = subprocess.run(
        [sys.executable, "-m", "omnicx", "channels", "create", "wechat", "--name", "压测服务号",
         *args],
        env=server_environment(home, database_url), cwd=home, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return urlsplit(done.stdout.strip().splitlines()[-1]).path


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def callback(n: int, openid: str, aes: bool) -> tuple[dict[str, str], bytes]:
    """One text message from ``openid`` as WeChat posts it (MsgId ``n``)."""
    created = str(int(time.time()))
    xml = (
        f"<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{created}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{TEXTS[n % len(TEXTS)]}]]>"
        f"</Content><MsgId>{n}</MsgId></xml>"
    )
    nonce = str(uuid.uuid4().int)[:10]
    query = {"signature": sign(TOKEN, created, nonce), "timestamp": created, "nonce": nonce}
    if not aes:
        return query, xml.encode()
    envelope = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(xml, nonce, created)
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    query |= {"encrypt_type": "aes", "msg_signature": sign(TOKEN, created, nonce, encrypt)}
    return query, f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()


async def send_all(
    url: str, plan: list[tuple[float, dict[str, str], bytes]]
) -> tuple[list[float], int]:
    """Post each callback at its planned time; (latencies in ms, answers not ``success``)."""
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = time.perf_counter()

        async def one(at: float, query: dict[str, str], body: bytes) -> None:
            nonlocal failed
            await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
            try:
                answer = await client.post(url, params=query, content=body)
                ok = answer.status_code == 200 and answer.text == "success"
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - (start + at)) * 1000)
            failed += 0 if ok else 1

        await asyncio.gather(*(one(at, q, b) for at, q, b in plan))
    return sorted(latencies), failed


COUNTS = (
    "SELECT (SELECT count(*) FROM events e JOIN channels c ON c.source_id = e.source_id"
    "        WHERE c.kind = '{kind}'),"
    "       (SELECT count(DISTINCT e.message_id) FROM events e"
    "        JOIN channels c ON c.source_id = e.source_id WHERE c.kind = '{kind}'),"
    "       (SELECT count(*) FROM desk_messages WHERE channel = '{kind}' AND direction = 'in')"
)


def query(home: Path, database_url: str | None, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` from the server's database (SQLite read-only, or PostgreSQL)."""
    if database_url:
        with psycopg.connect(database_url) as pg:
            return [tuple(row) for row in pg.execute(sql).fetchall()]
    conn = readonly_connection(database_path(home))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def counts(home: Path, database_url: str | None, kind: str = "wechat") -> tuple[int, int, int]:
    """(events on the log, distinct message ids among them, desk messages) of a channel
    kind (one of ours, never outside input: it is written into the SQL)."""
    row = query(home, database_url, COUNTS.format(kind=kind))[0]
    return int(row[0]), int(row[1]), int(row[2])


def wait_until_placed(
    home: Path, database_url: str | None, kind: str, expected: int, timeout: float = 120
) -> tuple[tuple[int, int, int], float]:
    """Poll until the desk holds ``expected`` messages of ``kind`` (or ``timeout``);
    the last counts and the seconds waited."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while (found := counts(home, database_url, kind))[2] < expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return found, time.perf_counter() - started


def backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the database (postgres: a throwaway one on OMNICX_BENCH_POSTGRES_URL)",
    )


def migrated_home(
    stack: contextlib.ExitStack, name: str, args: argparse.Namespace
) -> tuple[Path, str | None]:
    """A throwaway OMNICX_HOME and, with ``--backend postgres``, a throwaway database,
    both migrated; (home, database URL or None for the home's SQLite file)."""
    home = stack.enter_context(bench_home(name, args.workdir, args.keep))
    url = stack.enter_context(fresh_database()) if args.backend == "postgres" else None
    if url:
        subprocess.run(
            [sys.executable, "-m", "omnicx", "migrate"],
            env=server_environment(home, url), cwd=home, check=True, capture_output=True,
        )  # fmt: skip
    else:
        migrate(home)
    return home, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--followers", type=int, default=2000)
    parser.add_argument("--retry-share", type=float, default=0.1)
    parser.add_argument("--aes", action="store_true", help="safe mode (encrypted bodies)")
    parser.add_argument("--no-pipeline", action="store_true", help="(diagnosis) no worker")
    backend_argument(parser)
    common_arguments(parser)
    args = parser.parse_args()
    announce("WeChat callback", args)
    rng = random.Random(args.seed)
    messages = int(args.rate * args.seconds)
    with contextlib.ExitStack() as stack:
        home, url = migrated_home(stack, "channels", args)
        path = create_channel(home, args.aes, url, wechat_api(stack))
        plan: list[tuple[float, dict[str, str], bytes]] = []
        for n in range(messages):
            at = n / args.rate
            openid = f"oBench{rng.randrange(args.followers):08d}xxxxxxxxxxxxxx"
            n_id = 10_000_000 + n
            query, body = callback(n_id, openid, args.aes)
            plan.append((at, query, body))
            if rng.random() < args.retry_share:  # WeChat got no answer in time: again
                # The same signed request, or one signed anew (in safe mode the new
                # signature covers a newly encrypted body).
                same = rng.random() < 0.5
                plan.append(
                    (at + 1.0, *((query, body) if same else callback(n_id, openid, args.aes)))
                )
        plan.sort(key=lambda p: p[0])
        with running_server(home, pipeline=not args.no_pipeline, database_url=url) as server:
            watch = CpuWatch(server)
            latencies, failed = asyncio.run(send_all(server.url + path, plan))
            # Without the pipeline nothing places the messages: the log is all there is.
            found, placed_in = wait_until_placed(
                home, url, "wechat", messages, 0 if args.no_pipeline else 120
            )
            other = watch.other_cores()
    events, distinct, desk = found
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    once = events == distinct == messages
    log_note = "none lost, none doubled" if once else "[red]lost or doubled[/]"
    desk_note = f"placed {placed_in:.1f} s after the last answer"
    rows = [
        ("callbacks posted (with retries)", f"{len(plan):,}", ""),
        ("answered success", f"{len(plan) - failed:,}", "all" if not failed else "[red]not all[/]"),
        ("answered p50 / p99 / max", f"{p50:.1f} / {p99:.1f} / {latencies[-1]:.1f} ms",
         verdict(p99, P99_BAR_MS, lower_is_better=True)),
        ("messages on the log (distinct)", f"{events:,} ({distinct:,}) of {messages:,}",
         log_note),
        ("messages in the desk", f"{desk:,} of {messages:,}",
         desk_note if desk == messages else "[red]missing[/]"),
        ("user info asked of the WeChat API (followers seen)",
         f"{WechatApi.calls['/cgi-bin/user/info']:,}", "once per new follower"),
    ]  # fmt: skip
    print_table(
        f"{args.rate:.0f} messages/s for {args.seconds:.0f} s, {args.followers} followers, "
        f"{args.backend}{', safe mode' if args.aes else ''}",
        rows,
        ("what", "figure", "against"),
    )
    console.print(background_note(other))
    write_json(
        args.json,
        {
            "rate": args.rate,
            "seconds": args.seconds,
            "posted": len(plan),
            "failed": failed,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": latencies[-1],
            "events": events,
            "distinct": distinct,
            "desk_messages": desk,
            "other_cores": other,
        },
    )


if __name__ == "__main__":
    main()
