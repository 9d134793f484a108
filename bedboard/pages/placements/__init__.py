"""Placement pages: liaisons' open placements and the placement page, facilities' incoming
referrals, and the court's case lookup. Every change goes through ``placements`` with the
same access policy and audit trail as the API.

Rooms: ``shared`` (ways back, access resource, confirmation step), ``listing``, ``form``
(new and edit), ``detail`` (one placement and its actions), ``casework`` (where the
person waits, officer custody), ``person`` (repeat involvement), ``aftercare`` (discharge,
follow-up tasks, the outpatient commitment, ``/tasks``), ``packet`` (the referral packet
and attachments), ``referrals`` (facility staff), ``court``; ``calls`` (the *Called*
control: phone calls to facilities).
"""

from __future__ import annotations

from aiohttp import web

from bedboard.pages.placements.aftercare import (
    follow_up_cancel,
    follow_up_done,
    placement_add_follow_up,
    placement_commitment,
    placement_discharge,
    tasks_page,
)
from bedboard.pages.placements.calls import placement_call, placement_call_accept
from bedboard.pages.placements.casework import (
    placement_custody,
    placement_custody_end,
    placement_wait,
)
from bedboard.pages.placements.court import court_page
from bedboard.pages.placements.detail import (
    escalation_acknowledge,
    placement_add_link,
    placement_add_note,
    placement_live_fragment,
    placement_no_bed,
    placement_no_bed_correct,
    placement_page,
    placement_refer,
    placement_refer_all,
    placement_transition,
    referral_answer,
    referral_withdraw,
)
from bedboard.pages.placements.form import (
    placement_create,
    placement_edit,
    placement_new,
    placement_update,
)
from bedboard.pages.placements.listing import placement_list, placement_list_fragment
from bedboard.pages.placements.messages import referral_message
from bedboard.pages.placements.packet import (
    attachment_remove,
    placement_attach,
    placement_packet,
)
from bedboard.pages.placements.person import (
    placement_person,
    placement_person_link,
    placement_person_unlink,
)
from bedboard.pages.placements.referrals import referral_respond, referrals_fragment, referrals_page


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/placements", placement_list)
    r.add_get("/placements/list", placement_list_fragment)
    r.add_get("/placements/new", placement_new)
    r.add_post("/placements/new", placement_create)
    r.add_get("/placements/{id}", placement_page)
    r.add_get("/placements/{id}/live", placement_live_fragment)
    r.add_get("/placements/{id}/edit", placement_edit)
    r.add_post("/placements/{id}/edit", placement_update)
    r.add_post("/placements/{id}/refer", placement_refer)
    r.add_post("/placements/{id}/refer-all", placement_refer_all)
    r.add_post("/placements/{id}/transition", placement_transition)
    r.add_post("/placements/{id}/links", placement_add_link)
    r.add_post("/placements/{id}/notes", placement_add_note)
    r.add_post("/placements/{id}/no-bed", placement_no_bed)
    r.add_post("/placements/{id}/no-bed/{report_id}/correction", placement_no_bed_correct)
    r.add_post("/placements/{id}/person", placement_person)
    r.add_post("/placements/{id}/waiting", placement_wait)
    r.add_post("/placements/{id}/custody", placement_custody)
    r.add_post("/placements/{id}/custody/end", placement_custody_end)
    r.add_post("/placements/{id}/calls", placement_call)
    r.add_post("/placements/{id}/calls/{call_id}/accept", placement_call_accept)
    r.add_post("/placements/{id}/discharge", placement_discharge)
    r.add_post("/placements/{id}/follow-ups", placement_add_follow_up)
    r.add_post("/placements/{id}/commitment", placement_commitment)
    r.add_post("/placements/{id}/packet", placement_packet)
    r.add_post("/placements/{id}/attachments", placement_attach)
    r.add_post("/attachments/{id}/remove", attachment_remove)
    r.add_post("/follow-ups/{id}/done", follow_up_done)
    r.add_post("/follow-ups/{id}/cancel", follow_up_cancel)
    r.add_get("/tasks", tasks_page)
    r.add_post("/placements/{id}/person-links/{earlier}", placement_person_link)
    r.add_post("/placements/{id}/person-links/{earlier}/delete", placement_person_unlink)
    r.add_post("/referrals/{id}/withdraw", referral_withdraw)
    r.add_post("/referrals/{id}/answer", referral_answer)
    r.add_post("/referrals/{id}/messages", referral_message)
    r.add_get("/referrals", referrals_page)
    r.add_get("/referrals/list", referrals_fragment)
    r.add_post("/referrals/{id}/{action:accept|decline|acknowledge|question}", referral_respond)
    r.add_get("/court", court_page)
    r.add_post("/escalations/{id}/acknowledge", escalation_acknowledge)
