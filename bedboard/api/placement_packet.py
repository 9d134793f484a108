"""A placement's referral packet and its attachments.

The packet (``GET``/``PUT /api/v1/placements/{id}/packet``) and the attached files
(upload, list, download, remove). The liaison side reads and writes them; a facility
with a referral for the placement reads them (``access``: ``PACKET_READ``,
``PACKET_WRITE``). Every read and every download is audited; the file names, file
contents and packet text never reach a log, the audit trail or an outbox frame.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.placements import attachments, packet, scope
from bedboard.problems import Problem
from bedboard.settings import Settings

# The routes that take a file: their bodies may be as large as the attachment limit.
_UPLOAD_PATH = re.compile(r"^(/api/v1)?/placements/\d+/attachments$")
# Room for the form's other fields and the multipart framing around the file.
UPLOAD_OVERHEAD = 1024 * 1024


async def _resource(conn: Connection, placement_id: int) -> Resource:
    s = await scope(conn, placement_id)
    return Resource(
        "placement",
        placement_id,
        court_id=s.court_id,
        facility_ids=s.facility_ids,
        county_fips=s.county_fips,
    )


def upload_limit(settings: Settings) -> int:
    """The body size an upload route accepts: the file limit and the form around it."""
    return settings.attachment_max_bytes + UPLOAD_OVERHEAD


@web.middleware
async def large_uploads(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """An upload route reads bodies up to the attachment limit (every other route keeps
    the app's small limit); past even that, a 413 naming the file limit."""
    if request.method != "POST" or not _UPLOAD_PATH.match(request.path):
        return await handler(request)
    settings = request.app[SETTINGS]
    # aiohttp has no per-route limit; ``clone(client_max_size=)`` would give the handler
    # another request object, whose state (the principal, a pending denial) the outer
    # middleware would not see. So this request's own limit is raised.
    request._client_max_size = upload_limit(settings)
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        raise too_large(settings.attachment_max_bytes) from None


def too_large(max_bytes: int) -> Problem:
    return Problem(
        413,
        f"The file is larger than the limit of {max_bytes:,} bytes.",
        code="too-large",
        extra={"max_bytes": max_bytes},
    )


def unsupported(detail: str) -> Problem:
    return Problem(
        415, detail, code="unsupported-media-type", extra={"allowed": list(attachments.ALLOWED)}
    )


def aes(request: web.Request) -> AESGCM:
    return attachments.cipher(request.app[SETTINGS].resolved_attachment_key())


# --------------------------------------------------------------------------- the packet


@route(
    "GET",
    "/api/v1/placements/{id}/packet",
    summary="A placement's referral packet",
    tag="placements",
)
async def get_packet(request: web.Request) -> packet.Packet:
    """What a receiving unit asks for first; every field null until recorded. The text
    fields are clinical."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PACKET_READ, await _resource(conn, placement_id))
        found = await packet.packet_of(conn, placement_id)
        await record_success(request, conn, "placement.packet_read", "placement", placement_id)
    return found


@route(
    "PUT",
    "/api/v1/placements/{id}/packet",
    summary="Replace a placement's referral packet",
    tag="placements",
)
async def put_packet(request: web.Request, body: packet.PacketIn) -> packet.Packet:
    """The whole packet: a field left out is not recorded. Text up to 2,000 characters;
    `medical_clearance_at` (not in the future) only with `medical_clearance` true."""
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.PACKET_WRITE, await _resource(conn, placement_id))
        await packet.save(conn, placement_id, body, principal)
        return await packet.packet_of(conn, placement_id)


# --------------------------------------------------------------------------- attachments


async def read_upload(request: web.Request) -> tuple[str, bytes, dict[str, str]]:
    """The ``file`` part of a multipart form: (name, content, the other fields)."""
    if request.content_type != "multipart/form-data":
        raise unsupported("Send the file as multipart/form-data, in a part named file.")
    max_bytes = request.app[SETTINGS].attachment_max_bytes
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(max_bytes) from None
    except (HttpProcessingError, RequestPayloadError, ValueError, AssertionError):
        raise Problem(400, "The multipart body could not be read.", code="bad-body") from None
    part = form.get("file")
    if not isinstance(part, web.FileField):
        raise Problem(
            422,
            "Choose a file to attach.",
            code="validation-error",
            errors=[
                {"field": "file", "in": "body", "message": "Choose a file.", "type": "missing"}
            ],
        )
    content = part.file.read()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return part.filename or "", content, fields


async def store_upload(
    request: web.Request, conn: Connection, placement_id: int, name: str, content: bytes
) -> int:
    """Authorize and store an upload; the domain's refusals as 413/415 problems."""
    principal = authorize(request, Action.PACKET_WRITE, await _resource(conn, placement_id))
    settings = request.app[SETTINGS]
    try:
        return await attachments.add(
            conn,
            placement_id,
            name,
            content,
            aes(request),
            settings.attachment_max_bytes,
            principal,
        )
    except attachments.TooLarge:
        raise too_large(settings.attachment_max_bytes) from None
    except attachments.UnsupportedType as exc:
        raise unsupported(exc.detail) from None


@route(
    "POST",
    "/api/v1/placements/{id}/attachments",
    summary="Attach a file to a placement",
    tag="placements",
    status=201,
    model=attachments.Attachment,
    responses={
        413: "The file is larger than BEDBOARD_ATTACHMENT_MAX_BYTES",
        415: "Not a PDF, PNG or JPEG by its content, or not multipart/form-data",
    },
)
async def upload_attachment(request: web.Request) -> web.StreamResponse:
    """A multipart/form-data body with the file in a part named `file`. Its type is read
    from the content (PDF, PNG or JPEG; the name and the part's Content-Type do not
    count); it is stored encrypted."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PACKET_WRITE, await _resource(conn, placement_id))
    name, content, _fields = await read_upload(request)
    async with transaction(request.app[POOL]) as conn:
        attachment_id = await store_upload(request, conn, placement_id, name, content)
        (stored,) = [
            a for a in await attachments.attachments_of(conn, placement_id) if a.id == attachment_id
        ]
    response = web.Response(
        body=stored.model_dump_json().encode(), status=201, content_type="application/json"
    )
    response.headers["Location"] = f"/api/v1/attachments/{attachment_id}"
    return response


@route(
    "GET",
    "/api/v1/placements/{id}/attachments",
    summary="A placement's attachments",
    tag="placements",
)
async def list_attachments(request: web.Request) -> attachments.AttachmentList:
    """Name, detected type, size, who uploaded it and when; never the content. Removed
    attachments are not listed."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PACKET_READ, await _resource(conn, placement_id))
        items = await attachments.attachments_of(conn, placement_id)
        await record_success(request, conn, "placement.attachment_list", "placement", placement_id)
    return attachments.AttachmentList(placement_id=placement_id, items=items)


def _disposition(name: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@route(
    "GET",
    "/api/v1/attachments/{id}",
    summary="Download an attachment",
    tag="placements",
)
async def download_attachment(request: web.Request) -> web.StreamResponse:
    """The file with its detected Content-Type, as a download. Every download is
    audited."""
    attachment_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        placement_id = await attachments.placement_of(conn, attachment_id)
        principal = authorize(request, Action.PACKET_READ, await _resource(conn, placement_id))
        found = await attachments.download(conn, attachment_id, aes(request), principal)
    return web.Response(
        body=found.content,
        content_type=found.media_type,
        headers={
            "Content-Disposition": _disposition(found.file_name),
            "X-Content-Type-Options": "nosniff",
        },
    )


@route(
    "DELETE",
    "/api/v1/attachments/{id}",
    summary="Remove an attachment",
    tag="placements",
    status=204,
    responses={409: "Already removed"},
)
async def remove_attachment(request: web.Request) -> web.StreamResponse:
    """The content is wiped at once; the timeline and audit trail keep that an attachment
    was removed, by whom and when."""
    attachment_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        placement_id = await attachments.placement_of(conn, attachment_id)
        principal = authorize(request, Action.PACKET_WRITE, await _resource(conn, placement_id))
        await attachments.remove(conn, attachment_id, principal)
    return web.Response(status=204)
