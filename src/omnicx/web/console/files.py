"""Files in the conversation page: an agent picks a file in the reply box, it is uploaded
at once (``POST /desk/conversations/{id}/files``, the session and its CSRF token) and
comes back as a chip holding its id, which the reply or note then carries; any file in
the thread downloads through ``GET /desk/attachments/{id}``.

The same rules as the API's (``desk.attachments``): size and type limits (413 / 415, the
reason in the reader's language), row access through the conversation, a download
audited as the customer's data shown in full.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from omnicx.core.errors import OmniError
from omnicx.core.i18n import msg
from omnicx.core.settings import get_settings
from omnicx.core.uploads import download_headers, read_upload
from omnicx.desk.attachments.agent_files import (
    audit_download,
    check_access,
    in_pieces,
    readable_file,
    store_upload,
)
from omnicx.governance.api import client_ip
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.conversation_pages import ConversationId, desk_user, refusal
from omnicx.web.errors import error_page
from omnicx.web.pages import render, to_login
from omnicx.web.session import check_csrf, signed_in_principal

router = APIRouter(include_in_schema=False)

AttachmentId = Annotated[int, Path(ge=1, le=2**62)]


@router.post("/desk/conversations/{conversation_id}/files", response_class=HTMLResponse)
async def upload_file(request: Request, conversation_id: ConversationId) -> Response:
    principal = await run_in_threadpool(desk_user, request, conversation_id, Permission.DESK_REPLY)
    if not isinstance(principal, Principal):
        return principal
    try:
        # Row access first, so a conversation the agent may not see costs no upload.
        await run_in_threadpool(check_access, principal, conversation_id)
        upload = await read_upload(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            max_file_bytes=get_settings().attachment_max_bytes,
        )
        check_csrf(request, upload.fields.get("csrf"))
        row = await run_in_threadpool(store_upload, principal, conversation_id, upload)
    except OmniError as exc:
        refused = refusal(request, exc.text, exc.status_code)
        # The reason goes where the reply's status is read, not into the list of files.
        refused.headers["HX-Retarget"] = "#reply-status"
        refused.headers["HX-Reswap"] = "innerHTML"
        return refused
    return render(request, "_reply_file.html", {"file": row})


@router.get("/desk/attachments/{attachment_id}")
def download_file(request: Request, attachment_id: AttachmentId) -> Response:
    principal = signed_in_principal(request)
    if principal is None:
        return to_login(request, back_to=request.url.path)
    if not principal.may(Permission.DESK_READ):
        return error_page(request, 403, msg("Your role may not read the desk."))
    try:
        row, data, customer_id = readable_file(principal, attachment_id)
    except OmniError as exc:
        return error_page(request, exc.status_code, exc.text)
    audit_download(principal, row, customer_id, client_ip(request), "console.attachment")
    headers = download_headers(row.name, row.content_type, row.size)
    media_type = headers.pop("Content-Type")
    return StreamingResponse(in_pieces(data), media_type=media_type, headers=headers)
