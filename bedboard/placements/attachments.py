"""Documents attached to a placement: PDFs and images sent with the referral.

Owns ``placement_attachments`` (migration 0025). The media type is detected from the
content (``puremagic``), never taken from the name or the client's header: only PDF,
PNG and JPEG are kept. The content is encrypted at rest with AES-GCM (``cryptography``)
under a key kept outside the database (``Settings.resolved_attachment_key``; the
placement's id is the associated data, so a file cannot be moved to another placement).
The file name and content are clinical: never logged, never in the timeline, the audit
trail or an outbox frame (those say an attachment was added or removed, by id).

Removal keeps the row (who removed it, when) and wipes the content (NULL), so nothing of
the file remains. Every download is audited.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import puremagic
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, Field

from bedboard import audit
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import Conflict, DomainError, NotFound
from bedboard.placements.locks import _lock
from bedboard.placements.timeline import _event, _publish

ALLOWED = ("application/pdf", "image/png", "image/jpeg")
ALLOWED_WORDS = "a PDF, PNG or JPEG file"
MAX_NAME = 255
_NONCE = 12
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


class UnsupportedType(DomainError):
    """The content is not one of the allowed kinds (whatever its name says)."""

    code = "unsupported-media-type"


class TooLarge(DomainError):
    code = "too-large"


class Attachment(BaseModel):
    """One attachment as listed: never its content."""

    id: int
    placement_id: int
    file_name: str = Field(description="As uploaded (clinical text).")
    media_type: str = Field(description="Detected from the content.")
    size_bytes: int
    uploaded_at: datetime
    uploaded_by: str | None = None


class AttachmentList(BaseModel):
    placement_id: int
    items: list[Attachment]


@dataclass(frozen=True)
class Download:
    file_name: str
    media_type: str
    content: bytes


@lru_cache(maxsize=8)
def cipher(secret: bytes) -> AESGCM:
    """The AES-256-GCM cipher of the configured key (HKDF-SHA256 of its secret)."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"bedboard placement attachments"
    ).derive(secret)
    return AESGCM(key)


def _aad(placement_id: int) -> bytes:
    return f"placement:{placement_id}".encode()


def seal(aes: AESGCM, placement_id: int, content: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aes.encrypt(nonce, content, _aad(placement_id))


def unseal(aes: AESGCM, placement_id: int, stored: bytes) -> bytes:
    return aes.decrypt(stored[:_NONCE], stored[_NONCE:], _aad(placement_id))


def detect(content: bytes) -> str:
    """The media type the content itself shows; refuses anything not in ``ALLOWED``."""
    try:
        matches = puremagic.magic_string(content)
    except (ValueError, puremagic.PureError):
        matches = []
    if matches:
        best = max(m.confidence for m in matches)
        for match in matches:
            if match.confidence == best and match.mime_type in ALLOWED:
                return str(match.mime_type)
    raise UnsupportedType(
        f"Attach {ALLOWED_WORDS} ({', '.join(ALLOWED)}); this file's content is none of them."
    )


def clean_name(name: str) -> str:
    """The name without any folder part or control characters, at most MAX_NAME long."""
    base = re.split(r"[\\/]", name)[-1]
    base = _UNSAFE_NAME.sub("", unicodedata.normalize("NFC", base)).strip()
    return base[:MAX_NAME] or "attachment"


async def add(
    conn: Connection,
    placement_id: int,
    file_name: str,
    content: bytes,
    aes: AESGCM,
    max_bytes: int,
    actor: Principal,
) -> int:
    """Store one file (type checked by content, encrypted); its id."""
    if len(content) > max_bytes:
        raise TooLarge(f"The file is larger than {max_bytes:,} bytes.")
    if not content:
        raise UnsupportedType(f"The file is empty: attach {ALLOWED_WORDS}.")
    media_type = detect(content)
    async with conn.transaction():
        await _lock(conn, placement_id)
        attachment_id: int = await conn.fetchval(
            "INSERT INTO placement_attachments"
            " (placement_id, file_name, media_type, size_bytes, content, uploaded_by)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            placement_id,
            clean_name(file_name),
            media_type,
            len(content),
            seal(aes, placement_id, content),
            actor.user_id,
        )
        data = {"attachment_id": attachment_id}
        await _event(conn, placement_id, actor, "attachment_added", data=data)
        await _publish(conn, placement_id, "attachment_added")
        await audit.changed(
            conn,
            actor,
            "placement.attachment_add",
            "attachment",
            attachment_id,
            {"placement_id": placement_id, "media_type": media_type, "size_bytes": len(content)},
        )
    return attachment_id


async def attachments_of(conn: Connection, placement_id: int) -> list[Attachment]:
    """The placement's attachments not removed, oldest first."""
    rows = await conn.fetch(
        "SELECT a.id, a.placement_id, a.file_name, a.media_type, a.size_bytes, a.uploaded_at,"
        " COALESCE(NULLIF(u.display_name, ''), u.email) AS uploaded_by"
        " FROM placement_attachments a LEFT JOIN users u ON u.id = a.uploaded_by"
        " WHERE a.placement_id = $1 AND a.removed_at IS NULL ORDER BY a.id",
        placement_id,
    )
    return [Attachment(**dict(r)) for r in rows]


async def placement_of(conn: Connection, attachment_id: int) -> int:
    """The placement an attachment belongs to (removed ones too)."""
    placement_id: int | None = await conn.fetchval(
        "SELECT placement_id FROM placement_attachments WHERE id = $1", attachment_id
    )
    if placement_id is None:
        raise NotFound("attachment")
    return placement_id


async def download(conn: Connection, attachment_id: int, aes: AESGCM, actor: Principal) -> Download:
    """The file, decrypted; the download is audited (ids only)."""
    row = await conn.fetchrow(
        "SELECT placement_id, file_name, media_type, content FROM placement_attachments"
        " WHERE id = $1 AND removed_at IS NULL",
        attachment_id,
    )
    if row is None:
        raise NotFound("attachment")
    content = unseal(aes, row["placement_id"], bytes(row["content"]))
    await audit.changed(
        conn,
        actor,
        "placement.attachment_download",
        "attachment",
        attachment_id,
        {"placement_id": row["placement_id"]},
    )
    return Download(row["file_name"], row["media_type"], content)


async def remove(conn: Connection, attachment_id: int, actor: Principal) -> None:
    """Remove an attachment: the content is wiped; the row keeps who and when."""
    async with conn.transaction():
        placement_id = await placement_of(conn, attachment_id)
        await _lock(conn, placement_id)
        removed = await conn.fetchval(
            "UPDATE placement_attachments SET content = NULL, removed_at = now(),"
            " removed_by = $2 WHERE id = $1 AND removed_at IS NULL RETURNING id",
            attachment_id,
            actor.user_id,
        )
        if removed is None:
            raise Conflict("This attachment was already removed.")
        data = {"attachment_id": attachment_id}
        await _event(conn, placement_id, actor, "attachment_removed", data=data)
        await _publish(conn, placement_id, "attachment_removed")
        await audit.changed(
            conn,
            actor,
            "placement.attachment_remove",
            "attachment",
            attachment_id,
            {"placement_id": placement_id},
        )
