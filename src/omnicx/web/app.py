"""The FastAPI application for ``omnicx serve``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from omnicx import __version__
from omnicx.analytics.api import router as analytics_router
from omnicx.channels.api import router as channels_router
from omnicx.channels.email.listener import serve_smtp
from omnicx.channels.phone.api import router as phone_router
from omnicx.channels.sms.api import router as sms_router
from omnicx.channels.webchat.api import router as webchat_router
from omnicx.channels.webchat.api import webchat_state
from omnicx.channels.webchat.attachments import router as webchat_files_router
from omnicx.channels.wechat.api import router as wechat_router
from omnicx.core.database import Database, get_database
from omnicx.core.eventlog import make_event_log
from omnicx.core.eventlog.base import EventLog
from omnicx.core.settings import Settings, get_settings
from omnicx.customers.api import router as customers_router
from omnicx.customers.consent import consent_subject
from omnicx.desk.api import router as desk_router
from omnicx.desk.attachments.api import router as attachments_router
from omnicx.desk.canned.api import router as canned_router
from omnicx.desk.review.api import router as review_router
from omnicx.desk.rules_api import router as rules_router
from omnicx.desk.sla.api import calendars_router, policies_router
from omnicx.desk.tickets.api import router as tickets_router
from omnicx.governance.admin_api import router as admin_router
from omnicx.governance.audit_api import router as audit_router
from omnicx.governance.consent_api import consent_router
from omnicx.governance.policy_api import router as policy_router
from omnicx.governance.privacy_api import router as privacy_router
from omnicx.identity.api import router as identity_router
from omnicx.ingest.api import TRACKING_PATHS
from omnicx.ingest.api import router as tracking_router
from omnicx.ingest.cors import TrackingCors
from omnicx.ingest.sources import BrowserOrigins, WriteKeys
from omnicx.runtime.media import wire as wire_media
from omnicx.runtime.privacy import wire as wire_privacy
from omnicx.runtime.workers import Workers
from omnicx.web.admin_pages import router as admin_pages_router
from omnicx.web.api_docs import add_api_docs
from omnicx.web.auth_pages import router as auth_router
from omnicx.web.consent_pages import router as consent_pages_router
from omnicx.web.console.files import router as console_files_router
from omnicx.web.console.inbox import router as inbox_router
from omnicx.web.console.live import desk_feed
from omnicx.web.console.live import router as live_router
from omnicx.web.console.review import router as review_pages_router
from omnicx.web.console.tickets import router as ticket_pages_router
from omnicx.web.conversation_actions import router as conversation_actions_router
from omnicx.web.conversation_pages import router as conversation_pages_router
from omnicx.web.conversation_panel import router as conversation_panel_router
from omnicx.web.customer_list import router as customer_list_router
from omnicx.web.errors import install_error_handlers
from omnicx.web.metrics import RequestMetrics
from omnicx.web.metrics import router as metrics_router
from omnicx.web.pages import router as pages_router
from omnicx.web.privacy_pages import router as privacy_pages_router


async def _smtp_listener(
    settings: Settings, event_log: EventLog, database: Database
) -> asyncio.Server | None:
    """The email channels' SMTP listener, when ``OMNICX_SMTP_PORT`` is set."""
    if not settings.smtp_port:
        return None
    return await serve_smtp(
        event_log,
        database,
        settings.smtp_host,
        settings.smtp_port,
        max_bytes=settings.smtp_max_bytes,
    )


def create_app(settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    """The application; ``background`` runs the pipeline and dispatcher in this process."""
    settings = settings or get_settings()
    wire_privacy()
    wire_media()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = get_database(settings)
        app.state.settings = settings
        app.state.event_log = make_event_log(settings)
        app.state.write_keys = WriteKeys(database)
        app.state.browser_origins = BrowserOrigins(database)
        _, webchat_follower = webchat_state(app)
        feed = desk_feed(app)
        workers = Workers(database, settings)
        if background:
            workers.start()
        mail = await _smtp_listener(settings, app.state.event_log, database)
        try:
            yield
        finally:
            if mail is not None:
                mail.close()
            app.state.stopping.set()  # live streams still open end now
            await workers.aclose()
            await webchat_follower.aclose()
            await feed.aclose()
            await app.state.event_log.close()
            # Closed connections let SQLite fold the WAL into the database file and remove
            # it when the last one closes (the worker process closes its own).
            database.dispose()

    app = FastAPI(
        title="OmniCX",
        version=__version__,
        description="Customer data platform with a built-in omnichannel service desk.",
        lifespan=lifespan,
        docs_url=None,  # served from vendored files by add_api_docs
        redoc_url=None,
    )
    # Set when the server begins to shut down (``omnicx serve`` sets it on SIGTERM, before
    # uvicorn waits for open responses): the live streams end instead of holding it up.
    app.state.stopping = threading.Event()
    add_api_docs(app)
    install_error_handlers(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="omnicx_session",
        same_site="lax",
        https_only=settings.env == "production",
        max_age=12 * 3600,
    )
    app.add_middleware(TrackingCors, paths=TRACKING_PATHS)
    # Outermost, so that the time of every other middleware is counted too.
    app.add_middleware(RequestMetrics, answered_before_routing=TRACKING_PATHS)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    app.include_router(tracking_router)
    app.include_router(customers_router)
    app.include_router(identity_router)
    app.include_router(policy_router)
    app.include_router(privacy_router)
    app.include_router(analytics_router)
    app.include_router(desk_router)
    app.include_router(attachments_router)
    app.include_router(canned_router)
    app.include_router(review_router)
    app.include_router(rules_router)
    app.include_router(tickets_router)
    app.include_router(calendars_router)
    app.include_router(policies_router)
    app.include_router(channels_router)
    app.include_router(webchat_router)
    app.include_router(wechat_router)
    app.include_router(sms_router)
    app.include_router(phone_router)
    app.include_router(webchat_files_router)
    app.include_router(consent_router(consent_subject))
    app.include_router(consent_pages_router)
    app.include_router(auth_router)
    app.include_router(admin_pages_router)
    app.include_router(privacy_pages_router)
    app.include_router(ticket_pages_router)
    app.include_router(console_files_router)
    app.include_router(audit_router)
    app.include_router(admin_router)
    app.include_router(customer_list_router)
    app.include_router(inbox_router)
    app.include_router(live_router)
    app.include_router(review_pages_router)
    app.include_router(pages_router)
    app.include_router(conversation_pages_router)
    app.include_router(conversation_actions_router)
    app.include_router(conversation_panel_router)
    app.include_router(metrics_router)

    @app.get("/healthz", tags=["platform"], summary="Liveness and database check")
    def health() -> dict[str, str]:
        from sqlalchemy import text

        with get_database(settings).read() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
