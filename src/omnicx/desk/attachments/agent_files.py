"""An agent's files: what the API (``/api/v1/conversations/{id}/attachments``,
``/api/v1/attachments/{id}``) and the console (``/desk/conversations/{id}/files``,
``/desk/attachments/{id}``) share.

Row access is the conversation's (``load_conversation``): a file of a conversation the
caller may not see, or a customer's file not yet placed in one, is 404 without saying
which. An upload is checked against the conversation before its body is read; a
download's bytes are decrypted only once access is granted, and the read is audited as
the customer's data shown in full, before the answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from omnicx.core.database import get_database
from omnicx.core.errors import NotFound
from omnicx.core.i18n import msg
from omnicx.core.uploads import Upload
from omnicx.desk.access import load_conversation
from omnicx.desk.attachments.models import Attachment
from omnicx.desk.attachments.store import content_of, get_attachment, upload_to_conversation
from omnicx.governance import audit
from omnicx.governance.audit import commit_entry
from omnicx.governance.service import Principal

CHUNK_BYTES = 256 * 1024


def check_access(principal: Principal, conversation_id: int) -> None:
    """NotFound unless ``principal`` may see the conversation (before reading an upload)."""
    with get_database().read() as session:
        load_conversation(session, principal, conversation_id)


def store_upload(principal: Principal, conversation_id: int, upload: Upload) -> Attachment:
    """The agent's uploaded file, stored for the conversation (the row, detached)."""
    with get_database().write() as session:
        loaded = load_conversation(session, principal, conversation_id)
        row = upload_to_conversation(
            session,
            loaded.row,
            upload.data,
            name=upload.name,
            declared_type=upload.declared_type,
            user_id=loaded.reach.user_id,
        )
        session.expunge(row)
        return row


def readable_file(principal: Principal, attachment_id: int) -> tuple[Attachment, bytes, int | None]:
    """The attachment row (detached), its bytes and its conversation's customer."""
    with get_database().read() as session:
        row = get_attachment(session, attachment_id)
        loaded = None
        if row.conversation_id is not None:  # a customer's file not yet placed: nobody's
            try:
                loaded = load_conversation(session, principal, row.conversation_id)
            except NotFound:
                loaded = None
        if loaded is None:
            # Not "no conversation N": which conversation holds the file is not leaked.
            raise NotFound(
                msg("no attachment {attachment_id}", attachment_id=attachment_id),
                field="attachment_id",
            )
        data = content_of(row)  # loaded only now, once access is granted
        session.expunge(row)
        return row, data, loaded.row.customer_id


def audit_download(
    principal: Principal, row: Attachment, customer_id: int | None, ip: str | None, via: str
) -> None:
    """A file is customer data shown in full: its read is audited like the 360 view's."""
    if customer_id is None:
        return
    entry = audit.draft(
        principal,
        "customer.view",
        target_type="customer",
        target_id=customer_id,
        detail={"via": via, "attachment_id": row.id, "unmasked": True, "fields": []},
        ip=ip,
    )
    commit_entry(get_database(), entry)


def in_pieces(data: bytes) -> Iterator[bytes]:
    # Decrypted whole first (GCM releases nothing unverified), then sent in pieces.
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])
