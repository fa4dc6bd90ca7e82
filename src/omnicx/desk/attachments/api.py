"""``/api/v1/conversations/{id}/attachments`` and ``/api/v1/attachments/{id}``: an agent
uploads a file to a conversation (to send it with a reply or a note) and downloads any
file of a conversation they may see. Row access is the conversation's
(``load_conversation``): a file of a conversation the caller may not see is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from omnicx.core.settings import get_settings
from omnicx.core.uploads import Upload, download_headers, read_upload
from omnicx.desk.api import ConversationId, Reader, Replier
from omnicx.desk.attachments.agent_files import (
    audit_download,
    check_access,
    in_pieces,
    readable_file,
    store_upload,
)
from omnicx.desk.attachments.models import Attachment
from omnicx.desk.attachments.schemas import AttachmentOut
from omnicx.governance.api import client_ip
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1", tags=["desk"])

AttachmentId = Annotated[int, Path(ge=1, le=2**62)]

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


def attachment_out(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.id,
        conversation_id=row.conversation_id,
        name=row.name,
        type=row.content_type,
        declared_type=row.declared_type,
        size=row.size,
        sha256=row.sha256,
        uploaded_by="agent" if row.uploaded_by == "agent" else "customer",
        uploader_user_id=row.uploader_user_id,
        created_at=row.created_at,
    )


def _store(principal: Principal, conversation_id: int, upload: Upload) -> AttachmentOut:
    return attachment_out(store_upload(principal, conversation_id, upload))


@router.post(
    "/conversations/{conversation_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    summary="Upload a file to a conversation (multipart, field file), to send with a message",
    openapi_extra=UPLOAD_BODY,
    responses={413: {"description": "Over the size limit"}, 415: {"description": "Type refused"}},
)
async def post_attachment(
    principal: Replier, request: Request, conversation_id: ConversationId
) -> AttachmentOut:
    # Row access first, so a conversation the caller may not see costs no upload.
    await run_in_threadpool(check_access, principal, conversation_id)
    upload = await read_upload(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        max_file_bytes=get_settings().attachment_max_bytes,
    )
    return await run_in_threadpool(_store, principal, conversation_id, upload)


@router.get(
    "/attachments/{attachment_id}",
    summary="Download an attachment (of a conversation you may see)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_attachment_file(
    principal: Reader, request: Request, attachment_id: AttachmentId
) -> StreamingResponse:
    row, data, customer_id = readable_file(principal, attachment_id)
    audit_download(principal, row, customer_id, client_ip(request), "desk.attachment")
    headers = download_headers(row.name, row.content_type, row.size)
    media_type = headers.pop("Content-Type")
    return StreamingResponse(in_pieces(data), media_type=media_type, headers=headers)
