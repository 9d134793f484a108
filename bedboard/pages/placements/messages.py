"""A referral's message thread on the pages: the liaison writes from the placement page,
the facility from its incoming referrals; both post the same form here."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import placements
from bedboard.access import Action
from bedboard.auth import Principal, Role
from bedboard.context import POOL, authorize, path_id
from bedboard.database import acquire, transaction
from bedboard.errors import Conflict
from bedboard.pages import require_role
from bedboard.placements import messages

# The sentence next to the message field when the text is empty or too long.
MESSAGE_SENTENCE = "Write the message (1 to 4,000 characters)."


def _back(principal: Principal, placement_id: int, referral_id: int, query: str) -> str:
    """Where the form came from: the facility's referrals, or the placement page."""
    page = "/referrals" if principal.role is Role.FACILITY else f"/placements/{placement_id}"
    return f"{page}?{query}"


def thread_context(
    request: web.Request, threads: dict[int, list[messages.Message]], writable: set[int]
) -> dict[str, Any]:
    """What the thread parts of a page need: the messages by referral, the referrals that
    take new messages, and the refused form's sentence (the field comes back, not the text)."""
    return {
        "threads": threads,
        "thread_writable": writable,
        "message_error": request.query.get("message_error", ""),
        "message_sentence": MESSAGE_SENTENCE,
    }


async def referral_message(request: web.Request) -> web.StreamResponse:
    """Send a message on a referral's thread, then back to the page it came from."""
    principal = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN, Role.FACILITY)
    referral_id = path_id(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        placement_id, resource = await placements.referral_resource(conn, referral_id)
    authorize(request, Action.REFERRAL_MESSAGE_WRITE, resource)
    anchor = f"#thread-{referral_id}"
    try:
        sent = messages.MessageIn.model_validate({"body": str(form.get("body", ""))})
    except ValidationError:
        raise web.HTTPSeeOther(
            _back(principal, placement_id, referral_id, f"message_error={referral_id}")
            + f"#message-{referral_id}"
        ) from None
    try:
        async with transaction(request.app[POOL]) as conn:
            await messages.send(conn, referral_id, sent.body, principal)
        notice = "Message sent."
    except Conflict as exc:
        notice = f"Not done: {exc.detail}"
    raise web.HTTPSeeOther(
        _back(principal, placement_id, referral_id, f"notice={quote(notice)}") + anchor
    )
