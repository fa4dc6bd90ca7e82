"""The ``omnicx`` command."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from omnicx.cli import (
    data_commands,
    identity_commands,
    keys_commands,
    outbox_commands,
    processing_commands,
)
from omnicx.cli.admin_commands import audit_app, tokens_app, users_app
from omnicx.cli.channel_commands import channels as channel_commands
from omnicx.cli.consent_commands import consent as consent_commands
from omnicx.cli.customer_commands import customers as customer_commands
from omnicx.cli.desk_commands import agents_app, desk_app, teams_app
from omnicx.cli.privacy_commands import privacy_app, retention_app
from omnicx.cli.review_commands import review as review_app
from omnicx.cli.scheduler_commands import scheduler_app
from omnicx.cli.sla_commands import sla_app
from omnicx.cli.source_commands import sources
from omnicx.core.database import get_database
from omnicx.core.migrate import upgrade
from omnicx.core.processing.collector import tune_for_throughput
from omnicx.core.settings import InsecureSettings, get_settings
from omnicx.governance.service import bootstrap_admin

app = typer.Typer(
    help="OmniCX: customer data platform and omnichannel service desk.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(sources, name="sources")
app.add_typer(channel_commands, name="channels")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(data_commands.deadletter, name="deadletter")
app.add_typer(identity_commands.identity, name="identity")
app.add_typer(outbox_commands.outbox, name="outbox")
app.add_typer(consent_commands, name="consent")
app.add_typer(customer_commands, name="customers")
app.add_typer(keys_commands.keys, name="keys")
app.add_typer(privacy_app, name="privacy")
app.add_typer(retention_app, name="retention")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(teams_app, name="teams")
app.add_typer(agents_app, name="agents")
app.add_typer(desk_app, name="desk")
app.add_typer(sla_app, name="sla")
app.add_typer(review_app, name="review")
app.command("import")(data_commands.import_command)
app.command("replay")(processing_commands.replay_command)
app.command("status")(processing_commands.status_command)
app.command("demo")(data_commands.demo_command)

console = Console()


@app.callback()
def check_settings() -> None:
    """Refuse to start on unusable settings, with the reason on one line."""
    try:
        get_settings()
    except (InsecureSettings, ValidationError) as exc:
        console.print(f"[red]settings refused:[/] {exc}")
        raise typer.Exit(code=2) from exc


def _migrate_quietly() -> None:
    upgrade(get_settings().resolved_database_url)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _migrate_quietly()
    console.print(f"[green]database is up to date[/] ({_where()})")


def _where() -> str:
    url = get_settings().resolved_database_url
    return url.split("@")[-1] if "@" in url else url


def _admin_login() -> None:
    settings = get_settings()
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    with get_database().write() as session:
        admin, new_password = bootstrap_admin(session, settings.admin_email, password)
        email = admin.email
    credentials = settings.home / "initial-admin.txt"
    if new_password:
        if settings.env == "development":
            settings.home.mkdir(parents=True, exist_ok=True)
            credentials.write_text(f"{email}\n{new_password}\n")
            credentials.chmod(0o600)
        console.print(f"[bold]admin created:[/] {email} / {new_password}")
    elif settings.env == "development" and credentials.exists():
        lines = credentials.read_text().split()
        console.print(f"admin login: {lines[0]} / {lines[1]}  (from {credentials})")
    else:
        console.print(f"admin login: {email} (password set when it was created)")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: OMNICX_PORT or 8000)")
    ] = None,
    worker: Annotated[
        bool, typer.Option(help="Also run the pipeline and the outbox dispatcher")
    ] = True,
) -> None:
    """Serve the UI and API (embedded default: SQLite, no other servers).

    With the table log, the pipeline and dispatcher run in a child ``omnicx worker``
    process so that the API and identity resolution each get a core; with JetStream they
    run as a task in this process (``--no-worker`` leaves them to ``omnicx worker``).
    """
    import uvicorn

    from omnicx.web.app import create_app

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    _refuse_busy_port(host, port)
    _migrate_quietly()
    _admin_login()
    console.print(
        f"OmniCX on [bold]http://{host}:{port}/[/]  API docs: http://{host}:{port}/docs  "
        f"({_where()}, event log: {settings.event_log})"
    )
    _serve_metrics_port(settings.metrics_port)
    child = _start_pipeline_child() if worker and not settings.uses_nats else None
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: handled here
    # as an exit, so that the worker below is stopped (and closes its database) first.
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    application = create_app(settings, background=worker and settings.uses_nats)
    tune_for_throughput()  # after the app is built: what it loaded is frozen
    try:
        _run_api(uvicorn, application, host, port)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()


def _exit_after_shutdown(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _refuse_busy_port(host: str, port: int) -> None:
    """Stop before serving, saying how to choose a port, when ``host:port`` is taken."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        problem = (
            "is already in use (another OmniCX, or another program?)"
            if busy
            else (f"cannot be used: {exc.strerror}")
        )
        console.print(
            f"[red]cannot serve on {host}:{port}:[/] the port {problem}\n"
            f"Choose another port: [bold]make run PORT=8001[/], "
            f"[bold]omnicx serve --port 8001[/] or [bold]OMNICX_PORT=8001[/]."
        )
        raise typer.Exit(code=1) from exc


def _start_pipeline_child() -> subprocess.Popen[bytes]:
    """``omnicx worker`` for this server's data, ending when this process ends.

    The server's metrics port already shows the pipeline and outbox (they are read from
    the database), so the child opens none (``--metrics-port 0``).
    """
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omnicx",
            "worker",
            "--parent-pid",
            str(os.getpid()),
            "--metrics-port",
            "0",
        ],
        stdin=subprocess.DEVNULL,
    )


def _serve_metrics_port(port: int | None) -> None:
    """Serve /metrics without a token on 127.0.0.1:``port``, or say why it cannot."""
    if not port:
        return
    from omnicx.core.metrics import serve_port

    try:
        serve_port(get_database(), port)
    except OSError as exc:
        console.print(f"[red]cannot serve metrics on 127.0.0.1:{port}:[/] {exc.strerror or exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"metrics on http://127.0.0.1:{port}/metrics")


def _run_api(uvicorn: Any, application: Any, host: str, port: int) -> None:
    stopping = application.state.stopping

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Tell the app first: uvicorn waits for open responses before the app's own
            # shutdown, and a live stream would otherwise hold it for the whole timeout.
            stopping.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10
    )
    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: the server never started


@app.command()
def worker(
    parent_pid: Annotated[
        int | None, typer.Option(help="Exit when this process is gone (used by serve)")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve /metrics on 127.0.0.1:PORT (default OMNICX_METRICS_PORT; 0: none)",
            min=0,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run the processors and the outbox dispatcher without the API (until SIGTERM)."""
    from omnicx.runtime.workers import Workers

    settings = get_settings()
    logging.basicConfig(level=logging.INFO)
    _serve_metrics_port(settings.metrics_port if metrics_port is None else metrics_port)

    async def main() -> None:
        workers = Workers(get_database(), settings)
        workers.start()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        watchdog = None
        if parent_pid is not None:
            watchdog = loop.create_task(_exit_with_parent(parent_pid, done))
        else:
            console.print(f"worker running ({settings.event_log}); Ctrl-C to stop")
        waiters: list[asyncio.Task[Any]] = [asyncio.create_task(done.wait())]
        if workers.nats_task is not None:
            waiters.append(workers.nats_task)
        finished, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        consumer_died = workers.nats_task in finished and not done.is_set()
        if watchdog is not None:
            watchdog.cancel()
        await workers.aclose()
        get_database().dispose()  # the last connection closed folds the WAL in (SQLite)
        if consumer_died:
            # A worker that no longer consumes must not look healthy to its supervisor.
            console.print("[red]the event consumer stopped; exiting[/]")
            raise SystemExit(1)

    asyncio.run(main())


async def _exit_with_parent(parent_pid: int, done: asyncio.Event) -> None:
    # A server killed with SIGKILL cannot stop its child: the child notices it was orphaned.
    while not done.is_set():
        if os.getppid() != parent_pid:
            done.set()
        await asyncio.sleep(0.5)
