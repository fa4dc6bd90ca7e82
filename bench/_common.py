"""What every benchmark needs: a throwaway OMNICX_HOME, a live server, data, a results table.

The benchmarks are scripts (``.venv/bin/python bench/<name>.py``), not tests: each one
builds its own database under a temporary directory, measures, prints its figures next
to the bars it is judged against, and removes the directory unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
console = Console()

# How SQLAlchemy stores a DateTime in SQLite (naive UTC text); bulk loaders write the same.
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


# -- the environment -------------------------------------------------------------------------


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to create the throwaway OMNICX_HOME (default: the system temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for other programs to leave the CPU alone",
    )


def code_version() -> str:
    """Which OmniCX is measured: the commit of the imported package, and whether it is dirty."""
    import omnicx

    package = Path(omnicx.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(package), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        # An exported tree (git archive) has no .git; a REVISION file beside src/ names it.
        revision = package.parent.parent / "REVISION"
        if revision.exists():
            return f"{revision.read_text().strip()} (exported to {package.parent.parent})"
        return f"{package} (not a git checkout)"
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def announce(title: str, args: argparse.Namespace) -> float:
    """Print what runs where, and how busy the machine is; returns the busy cores."""
    console.print(f"[bold]{title}[/] — {machine()} — omnicx {code_version()}")
    deadline = time.monotonic() + args.wait_quiet
    while True:
        busy = quiet_machine(2.0)
        if busy < 0.2 or time.monotonic() >= deadline:
            break
        console.print(f"[dim]  waiting for a quiet machine ({busy:.2f} cores busy)…[/]")
    if busy >= 0.2:
        console.print(f"[yellow]the machine is busy ({busy:.2f} cores) before the run[/]")
    return busy


@contextlib.contextmanager
def bench_home(name: str, workdir: Path | None, keep: bool) -> Iterator[Path]:
    """A fresh directory used as OMNICX_HOME, removed afterwards unless ``keep``."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"omnicx-bench-{name}-", dir=workdir))
    try:
        yield home
    finally:
        if keep:
            console.print(f"[dim]kept {home}[/]")
        else:
            shutil.rmtree(home, ignore_errors=True)


def kept_or_throwaway_home(
    name: str, data: Path | None, workdir: Path | None, keep: bool
) -> contextlib.AbstractContextManager[Path]:
    """``data`` (created if need be, kept, reused by later runs) when given, else a fresh
    ``bench_home``."""
    if data is None:
        return bench_home(name, workdir, keep)
    data.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(data)


def database_path(home: Path) -> Path:
    return home / "omnicx.db"


def server_environment(home: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of the server and of this process: embedded default (or the
    database at ``database_url``), dev keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICX_")}
    env.update(
        {
            "OMNICX_ENV": "development",
            "OMNICX_HOME": str(home),
            "OMNICX_DATABASE_URL": database_url or f"sqlite:///{database_path(home)}",
            "OMNICX_EVENT_LOG": "table",
        }
    )
    # Same blind-index key as the server, whatever the caller's shell holds.
    if "OMNICX_BLIND_INDEX_KEY" in os.environ:
        env["OMNICX_BLIND_INDEX_KEY"] = os.environ["OMNICX_BLIND_INDEX_KEY"]
    return env


def use_home(home: Path) -> Any:
    """Point this process's settings and database at ``home``; returns the Settings."""
    from omnicx.core.database import reset_database
    from omnicx.core.settings import get_settings, reset_settings

    environment = server_environment(home)
    for key in [k for k in os.environ if k.startswith("OMNICX_")]:
        del os.environ[key]
    os.environ.update(environment)
    reset_settings()
    reset_database()
    return get_settings()


def migrate(home: Path) -> None:
    from omnicx.core.migrate import upgrade

    upgrade(f"sqlite:///{database_path(home)}")


def create_source_and_token(home: Path) -> tuple[int, str, str]:
    """A Segment source and an admin API token in the database of ``home``.

    Returns (source id, write key, bearer token).
    """
    from omnicx.core.database import get_database
    from omnicx.governance.service import create_token
    from omnicx.ingest.sources import create_source

    use_home(home)
    with get_database().write() as session:
        source, write_key = create_source(session, "bench", "segment")
        token = create_token(session, "bench", "admin")
        return source.id, write_key, token


def app_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection set up exactly as the application sets up its own.

    It comes from the application's engine, so it has the same pragmas (WAL, synchronous,
    cache) whatever they are today; transactions are begun and committed explicitly.
    """
    from omnicx.core.database import make_engine

    engine = make_engine(f"sqlite:///{path}")
    connection: sqlite3.Connection = engine.raw_connection().driver_connection  # type: ignore[assignment]
    _engines.append(engine)  # the connection lives as long as its engine
    return connection


_engines: list[Any] = []


def readonly_connection(path: Path) -> sqlite3.Connection:
    """Read the server's database without taking any write lock."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SQLITE_TIME)


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """``omnicx serve`` in a subprocess on a free port."""

    home: Path
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def family(self) -> list[int]:
        """The server and its children (``omnicx serve`` runs its pipeline as a child)."""
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in (task / "children").read_text().split())
        return pids

    def rss_mib(self) -> float:
        """Resident memory now (VmRSS) of the server and its children, in MiB."""
        return sum(_status_kib(pid, "VmRSS") for pid in self.family()) / 1024

    def peak_rss_mib(self) -> float:
        """Largest resident memory so far (VmHWM), summed over the server and its children."""
        return sum(_status_kib(pid, "VmHWM") for pid in self.family()) / 1024

    def rss_parts_mib(self) -> dict[str, float]:
        """Resident memory now, summed over the family: heap and the mapped database file."""
        return {
            key: round(sum(_status_kib(pid, key) for pid in self.family()) / 1024)
            for key in ("RssAnon", "RssFile")
        }

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its children (all threads)."""
        total = 0.0
        for pid in self.family():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _status_kib(pid: int, key: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process has just exited
        return 0
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def running_server(
    home: Path,
    *,
    pipeline: bool = True,
    timeout: float = 60.0,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``omnicx serve`` for ``home`` (on its SQLite file, or ``database_url``; with
    ``env`` added to its environment) and wait for /healthz; stop it afterwards."""
    port = free_port()
    log_path = home / "server.log"
    command = [sys.executable, "-m", "omnicx", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if not pipeline:
        command.append("--no-worker")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=home,
            env=server_environment(home, database_url) | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(home, process, port, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become healthy:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


# -- realistic Segment calls -----------------------------------------------------------------

PHONE_PREFIXES = ("139", "138", "137", "136", "135", "150", "151", "152", "158", "186", "188")
PAGES = (
    ("/", "首页 Home"),
    ("/products", "Products"),
    ("/products/kettle-1.7l", "Electric Kettle 1.7 L"),
    ("/cart", "Cart"),
    ("/checkout", "Checkout"),
    ("/help/returns", "Returns and warranty"),
    ("/account/orders", "My orders"),
)
TRACK_EVENTS = (
    ("Product Viewed", 0.40),
    ("Product Added", 0.20),
    ("Checkout Started", 0.10),
    ("Order Completed", 0.08),
    ("Support Ticket Opened", 0.07),
    ("Coupon Applied", 0.15),
)
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "Smith", "García", "Nguyen", "Müller")


def phone_of(person: int) -> str:
    """A valid mainland mobile number, unique per person (up to 100 million)."""
    prefix = PHONE_PREFIXES[person % len(PHONE_PREFIXES)]
    return f"{prefix}{person % 100_000_000:08d}"


def email_of(person: int) -> str:
    return f"customer{person}@mail{person % 97}.example.com"


@dataclass
class Person:
    number: int
    anonymous_ids: list[str]
    user_id: str | None
    email: str | None
    phone: str | None
    identified: bool = False
    events: int = 0

    @property
    def identifier_count(self) -> int:
        return len(self.anonymous_ids) + sum(
            x is not None for x in (self.user_id, self.email, self.phone)
        )


@dataclass
class CallFactory:
    """Segment calls from a growing population, as SDKs on web, app and server send them.

    A new person (``new_share`` of the calls) arrives anonymous on a page; later calls
    identify them (userId + email/phone traits, which stitches the anonymous visits), track
    what they do, and sometimes come from a second device that is identified later (a
    merge of two customers). Values arrive in several spellings (``+86 139-…``, upper-case
    emails) so that normalisation does real work.
    """

    seed: int = 7
    new_share: float = 0.3
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    people: list[Person] = field(default_factory=list)
    calls_made: int = 0

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def _new_person(self) -> Person:
        r = self.random
        number = len(self.people) + 1
        person = Person(
            number=number,
            anonymous_ids=[str(uuid.UUID(int=r.getrandbits(128), version=4))],
            user_id=f"crm-{number:08d}" if r.random() < 0.75 else None,
            email=email_of(number) if r.random() < 0.7 else None,
            phone=phone_of(number) if r.random() < 0.6 else None,
        )
        if person.user_id is None and person.email is None and person.phone is None:
            person.email = email_of(number)
        self.people.append(person)
        return person

    def _spelling_of_phone(self, phone: str) -> str:
        style = self.random.random()
        if style < 0.5:
            return phone
        if style < 0.8:
            return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"

    def _spelling_of_email(self, email: str) -> str:
        return email if self.random.random() < 0.7 else f" {email.capitalize()} "

    def next_call(self) -> dict[str, Any]:
        r = self.random
        if not self.people or r.random() < self.new_share:
            person = self._new_person()
        else:
            person = self.people[r.randrange(len(self.people))]
        self.calls_made += 1
        moment = self.start + timedelta(milliseconds=self.calls_made * 7)
        person.events += 1
        if person.events > 1 and r.random() < 0.08 and len(person.anonymous_ids) < 3:
            # A second device: anonymous until identified there too.
            person.anonymous_ids.append(str(uuid.UUID(int=r.getrandbits(128), version=4)))
        device = r.randrange(len(person.anonymous_ids))
        anonymous_id = person.anonymous_ids[device]
        in_app = device > 0
        identifying = person.events > 1 and r.random() < (0.45 if not person.identified else 0.1)
        context: dict[str, Any] = {
            "library": {
                "name": "analytics.js" if not in_app else "analytics-ios",
                "version": "5.2.0",
            },
            "ip": f"117.{person.number % 250}.{r.randrange(250)}.{r.randrange(250)}",
            "locale": "zh-CN",
            "timezone": "Asia/Shanghai",
            "userAgent": USER_AGENT,
        }
        if in_app:
            context["app"] = {"name": "OmniShop", "version": "3.4.1", "build": "341"}
            context["device"] = {"id": anonymous_id, "model": "iPhone15,2", "type": "ios"}
        call: dict[str, Any] = {
            "messageId": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
            "anonymousId": anonymous_id,
            "context": context,
        }
        if (person.identified or identifying) and person.user_id is not None:
            call["userId"] = person.user_id
        if identifying:
            person.identified = True
            traits: dict[str, Any] = {
                "name": f"{SURNAMES[person.number % len(SURNAMES)]} {person.number}",
                "plan": r.choice(("free", "plus", "vip")),
                "city": r.choice(("Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu")),
            }
            if person.email is not None:
                traits["email"] = self._spelling_of_email(person.email)
            if person.phone is not None:
                traits["phone"] = self._spelling_of_phone(person.phone)
            call.update(type="identify", traits=traits)
            return call
        if r.random() < 0.45 and not in_app:
            path, title = PAGES[r.randrange(len(PAGES))]
            context["page"] = {
                "path": path,
                "url": f"https://shop.example.com{path}",
                "title": title,
                "referrer": "https://www.baidu.com/",
            }
            call.update(type="page", name=title, properties={"path": path, "title": title})
            return call
        name = r.choices([e for e, _ in TRACK_EVENTS], [w for _, w in TRACK_EVENTS])[0]
        call.update(
            type="track",
            event=name,
            properties={
                "product_id": f"SKU-{r.randrange(5000):05d}",
                "price": round(r.uniform(9, 999), 2),
                "currency": "CNY",
                "quantity": r.randrange(1, 4),
            },
        )
        if person.identified and person.email is not None and r.random() < 0.2:
            # Server-side calls often carry the email in context.traits.
            context["traits"] = {"email": person.email}
        return call

    def calls(self, count: int) -> list[dict[str, Any]]:
        return [self.next_call() for _ in range(count)]


# -- measuring and reporting -----------------------------------------------------------------


def _system_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def _own_cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


def _smaps_kib(pid: int) -> dict[str, int]:
    """Proportional memory (shared pages divided among their users) from smaps_rollup."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Pss", "Pss_Anon", "Pss_File"):
                found[key] = int(rest.split()[0])
    return found


class MemoryWatch:
    """Samples the server's memory while it works and keeps the largest figures.

    ``VmRSS`` counts a page of the memory-mapped database once per mapping (SQLite maps the
    file once per connection), so it overstates what the server holds; ``Pss`` divides
    shared pages among their users, and the anonymous part is the heap, page cache
    included. All three are sums over the server and its pipeline process, at one moment.
    """

    def __init__(self, server: Server, every: float = 0.25):
        self.server = server
        self.every = every
        self.peak = {"rss": 0.0, "pss": 0.0, "anon": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, float]:
        rss = pss = anon = 0
        for pid in self.server.family():
            rss += _status_kib(pid, "VmRSS")
            anon += _status_kib(pid, "RssAnon")
            pss += _smaps_kib(pid).get("Pss", 0)
        now = {"rss": rss / 1024, "pss": pss / 1024, "anon": anon / 1024}
        for key, value in now.items():
            self.peak[key] = max(self.peak[key], value)
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(OSError, ValueError):
                self.sample()

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class CpuWatch:
    """How much CPU the machine spent on other work while a benchmark ran.

    Figures taken while other programs compete for the two cores are not comparable; each
    benchmark prints this so that a disturbed run is visible as such.
    """

    def __init__(self, *servers: Server):
        self.servers = servers
        self.started = time.perf_counter()
        self.busy = _system_busy_seconds()
        self.own = _own_cpu_seconds()
        self.server_cpu = [server.cpu_seconds() for server in servers]

    def other_cores(self) -> float:
        """Cores used by everything but this process and its servers, on average."""
        wall = time.perf_counter() - self.started
        busy = _system_busy_seconds() - self.busy
        own = _own_cpu_seconds() - self.own
        for server, before in zip(self.servers, self.server_cpu, strict=True):
            if server.process.poll() is None:
                own += server.cpu_seconds() - before
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0


def background_note(other_cores: float) -> str:
    note = f"other programs used {other_cores:.2f} cores meanwhile"
    if other_cores > 0.25:
        return f"[red]{note}: the figures are disturbed, run again on a quiet machine[/]"
    return note


def quiet_machine(seconds: float = 3.0) -> float:
    """Cores busy on this machine right now (sampled over ``seconds``)."""
    busy, started = _system_busy_seconds(), time.perf_counter()
    time.sleep(seconds)
    return (_system_busy_seconds() - busy) / (time.perf_counter() - started)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"
    )


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


def verdict(value: float, bar: float, *, lower_is_better: bool = False) -> str:
    met = value <= bar if lower_is_better else value >= bar
    ratio = (bar / value if lower_is_better else value / bar) if value else 0.0
    return f"[green]met[/] ({ratio:.2f}×)" if met else f"[red]not met[/] ({ratio:.2f}×)"


def print_table(title: str, rows: Sequence[Sequence[str]], columns: Sequence[str]) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i == 1 else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    if path is None:
        return
    figures = {
        "machine": machine(),
        "omnicx": code_version(),
        "measured_at": datetime.now(UTC).isoformat(),
        **figures,
    }
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    console.print(f"[dim]figures written to {path}[/]")


def elapsed(since: float) -> float:
    return time.perf_counter() - since
