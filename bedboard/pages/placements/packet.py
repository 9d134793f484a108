"""The referral packet and attachments on the pages: the liaison's form and upload on the
placement page, and what the facility referred reads on its referrals page.

A refused packet comes back as the placement page with the typed values and a sentence
next to each field at fault (422); a refused upload as a sentence next to the file input
(``?attachment_error=<kind>``). Downloads are the API's (``/api/v1/attachments/{id}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import access, localtime
from bedboard.access import Action
from bedboard.context import POOL, SETTINGS, authorize, current_principal, path_id
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid
from bedboard.pages import field_errors, require_role
from bedboard.pages.forms import domain_errors
from bedboard.pages.placements.shared import back_to, confirm_page, resource_of
from bedboard.placements import attachments, packet

ATTACHMENT_ERRORS = {
    "missing": "Choose a file to attach.",
    "type": f"Attach {attachments.ALLOWED_WORDS}: this file's content is none of them.",
    "size": "The file is too large (at most {limit}).",
}
_BOOL_CHOICES = [("", "Not recorded"), ("true", "Yes"), ("false", "No")]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def packet_view_context() -> dict[str, Any]:
    """The labels and choices both the form and the read-only view use."""
    return {
        "packet_labels": packet.LABELS,
        "pregnancy_choices": [("", "Not recorded")]
        + [(p.value, label) for p, label in packet.PREGNANCY_LABELS.items()],
        "pregnancy_labels": {p.value: label for p, label in packet.PREGNANCY_LABELS.items()},
        "bool_choices": _BOOL_CHOICES,
    }


async def packet_context(
    request: web.Request, conn: Connection, placement_id: int
) -> dict[str, Any]:
    """What the placement page's packet and attachment sections need."""
    principal = current_principal(request)
    resource = await resource_of(conn, placement_id)
    may_edit = principal is not None and (
        access.decide(principal, Action.PACKET_WRITE, resource).allowed
    )
    limit = request.app[SETTINGS].attachment_max_bytes
    error = request.query.get("attachment_error", "")
    found = await packet.packet_of(conn, placement_id)
    return {
        **packet_view_context(),
        "packet": found,
        "packet_form": packet_form(found, request.app[SETTINGS].zone),
        "attachments": await attachments.attachments_of(conn, placement_id),
        "packet_editable": may_edit,
        "packet_errors": {},
        "packet_values": None,
        "attachment_error": ATTACHMENT_ERRORS.get(error, "").format(limit=_megabytes(limit)),
        "attachment_limit": _megabytes(limit),
        "attachment_accept": ",".join((*attachments.ALLOWED, ".pdf", ".png", ".jpg", ".jpeg")),
    }


async def packets_for(conn: Connection, placement_ids: Iterable[int]) -> dict[int, Any]:
    """The read-only packet and attachments of each placement (a facility's referrals)."""
    return {
        pid: {
            "packet": await packet.packet_of(conn, pid),
            "attachments": await attachments.attachments_of(conn, pid),
        }
        for pid in dict.fromkeys(placement_ids)
    }


def packet_form(found: packet.Packet, zone: Any) -> dict[str, str]:
    """The stored packet as the form's values (text, "true"/"false", a local time)."""
    values: dict[str, str] = {}
    for name in packet.FIELDS:
        value = getattr(found, name)
        if value is None:
            values[name] = ""
        elif isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif name == "medical_clearance_at":
            values[name] = localtime.format_input(value, zone)
        else:
            values[name] = str(getattr(value, "value", value))
    return values


def _tri(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


def packet_input(form: Any, zone: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's body, and the errors found before validation (the time)."""
    text = {k: str(form.get(k, "")) for k in packet.FIELDS}
    data: dict[str, Any] = {
        "medical_clearance": True if form.get("medical_clearance") == "true" else None,
        "order_copy_received": True if form.get("order_copy_received") == "true" else None,
        "recent_aggression": _tri(text["recent_aggression"]),
        "pregnancy": text["pregnancy"] or None,
    }
    for name in ("toxicology", "aggression_note", "medications_given", "legal_note"):
        data[name] = text[name]
    data["mobility_needs"] = text["mobility_needs"]
    errors: dict[str, str] = {}
    when = text["medical_clearance_at"].strip()
    data["medical_clearance_at"] = None
    if when:
        try:
            data["medical_clearance_at"] = localtime.parse_local(when, zone)
        except localtime.LocalTimeError as exc:
            errors["medical_clearance_at"] = str(exc)
    return data, errors


_SENTENCES = {
    "medical_clearance_at": "Enter when the clearance was done (a time that has passed), and "
    "tick “Medical clearance done”.",
    "pregnancy": "Choose one of the listed answers for pregnancy.",
    "recent_aggression": "Choose yes, no or not recorded for recent aggression.",
}


async def placement_packet(request: web.Request) -> web.StreamResponse:
    """Save the referral packet from the placement page's form."""
    from bedboard.pages.placements.detail import detail_page

    placement_id = path_id(request)
    form = await request.post()
    data, errors = packet_input(form, request.app[SETTINGS].zone)
    if not errors:
        try:
            async with transaction(request.app[POOL]) as conn:
                principal = authorize(
                    request, Action.PACKET_WRITE, await resource_of(conn, placement_id)
                )
                body = packet.PacketIn.model_validate(data)
                changed = await packet.save(conn, placement_id, body, principal)
        except ValidationError as exc:
            errors = field_errors(exc, packet.LABELS, _SENTENCES)
        except Invalid as exc:
            errors = {k: _SENTENCES.get(k, v) for k, v in domain_errors(exc).items()}
        else:
            notice = "Referral packet saved." if changed else "The referral packet was unchanged."
            raise back_to(placement_id, notice, "packet")
    values = {k: str(form.get(k, "")) for k in packet.FIELDS}
    return await detail_page(
        request,
        placement_id,
        status=422,
        packet_errors=errors,
        packet_values=values,
        notice="Not done: the referral packet needs changes (see the packet below).",
    )


def _attachment_error(placement_id: int, kind: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/placements/{placement_id}?attachment_error={kind}#attachments")


async def placement_attach(request: web.Request) -> web.StreamResponse:
    """Upload a file from the placement page (a multipart form)."""
    require_role(request)
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PACKET_WRITE, await resource_of(conn, placement_id))
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise _attachment_error(placement_id, "size") from None
    part = form.get("file")
    if not isinstance(part, web.FileField):
        raise _attachment_error(placement_id, "missing")
    content = part.file.read()
    if not content and not part.filename:
        raise _attachment_error(placement_id, "missing")
    settings = request.app[SETTINGS]
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PACKET_WRITE, await resource_of(conn, placement_id)
            )
            await attachments.add(
                conn,
                placement_id,
                part.filename or "",
                content,
                attachments.cipher(settings.resolved_attachment_key()),
                settings.attachment_max_bytes,
                principal,
            )
    except attachments.TooLarge:
        raise _attachment_error(placement_id, "size") from None
    except attachments.UnsupportedType:
        raise _attachment_error(placement_id, "type") from None
    raise back_to(placement_id, "Attachment added.", "attachments")


async def attachment_remove(request: web.Request) -> web.StreamResponse:
    """Remove an attachment, after a confirmation step."""
    require_role(request)
    attachment_id = path_id(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        placement_id = await attachments.placement_of(conn, attachment_id)
        authorize(request, Action.PACKET_WRITE, await resource_of(conn, placement_id))
        listed = {a.id: a for a in await attachments.attachments_of(conn, placement_id)}
        reference = await conn.fetchval(
            "SELECT reference FROM placements WHERE id = $1", placement_id
        )
    back = f"/placements/{placement_id}"
    if form.get("confirmed") != "1" and attachment_id in listed:
        return confirm_page(
            request,
            reference=str(reference),
            back=back,
            title=f"Remove {listed[attachment_id].file_name}?",
            question="Remove this attachment from the placement?",
            consequence="The file is deleted at once and cannot be recovered; the timeline "
            "keeps only that an attachment was removed, by whom and when.",
            confirm_label="Yes, remove it",
            form=form,
        )
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PACKET_WRITE, await resource_of(conn, placement_id)
            )
            await attachments.remove(conn, attachment_id, principal)
        notice = "Attachment removed."
    except Conflict as exc:
        notice = f"Not done: {exc.detail}"
    raise web.HTTPSeeOther(f"{back}?notice={quote(notice)}#attachments")
