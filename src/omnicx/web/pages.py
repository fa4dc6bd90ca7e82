"""Server-rendered pages. This first one says what is running and where to go."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from omnicx import __version__

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "version": __version__,
            "event_log": "NATS JetStream" if settings.uses_nats else "database table",
            "database": "SQLite"
            if settings.resolved_database_url.startswith("sqlite")
            else "PostgreSQL",
        },
    )
