"""Who may do what to placements: every endpoint, every role, own and other scope."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bedboard.placements import escalation
from tests.placements.conftest import CANARY, World, add_supervisors

ROLES = [
    "anonymous",
    "viewer",
    "court",
    "other_court",
    "facility_a",
    "facility_b",
    "liaison",
    # The supervisor of the placement's region, and of another region.
    "supervisor",
    "other_supervisor",
    "admin",
]


@pytest.fixture
async def world(world: World, make_user: Any, make_token: Any) -> World:
    return await add_supervisors(world, make_user, make_token)


def expect(**by_role: int) -> dict[str, int]:
    assert set(by_role) == set(ROLES), set(ROLES) ^ set(by_role)
    return by_role


LIAISON_ONLY_WRITE = expect(
    anonymous=401,
    viewer=404,  # an existing placement answers like a missing one
    court=404,
    other_court=404,
    facility_a=403,
    facility_b=404,
    liaison=200,
    supervisor=200,
    other_supervisor=404,  # another region's placement answers like a missing one
    admin=200,
)
# A placement's follow-up tasks and outpatient commitment: liaisons and administrators
# only (a supervisor's region's placements answer as if missing, for now).
FOLLOW_UPS = {**LIAISON_ONLY_WRITE, "supervisor": 404}
# What the receiving facility (a) does to its referral, liaisons and admins too; the
# facility not referred (b) and everyone else are answered as if it did not exist.
RECEIVING_FACILITY = expect(
    anonymous=401,
    viewer=404,
    court=404,
    other_court=404,
    facility_a=200,
    facility_b=404,
    liaison=200,
    supervisor=200,
    other_supervisor=404,
    admin=200,
)

# (name, method, path template, body, expected status by role)
CASES: list[tuple[str, str, str, Any, dict[str, int]]] = [
    (
        "create",
        "POST",
        "/api/v1/placements",
        "placement",
        expect(
            anonymous=401,
            viewer=403,
            court=403,
            other_court=403,
            facility_a=403,
            facility_b=403,
            liaison=201,
            supervisor=201,
            other_supervisor=403,
            admin=201,
        ),
    ),
    (
        "list",
        "GET",
        "/api/v1/placements",
        None,
        expect(
            anonymous=401,
            viewer=403,
            court=403,
            other_court=403,
            facility_a=403,
            facility_b=403,
            liaison=200,
            supervisor=200,
            other_supervisor=200,
            admin=200,
        ),
    ),
    (
        "read",
        "GET",
        "/api/v1/placements/{pid}",
        None,
        RECEIVING_FACILITY,
    ),
    (
        "edit",
        "PATCH",
        "/api/v1/placements/{pid}",
        {"requesting_officer": "Sgt. Demo"},
        LIAISON_ONLY_WRITE,
    ),
    (
        "refer",
        "POST",
        "/api/v1/placements/{pid}/referrals",
        {"unit_ids": ["b1"]},
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    (
        "accept",
        "POST",
        "/api/v1/referrals/{rid}/accept",
        None,
        RECEIVING_FACILITY,
    ),
    (
        "decline",
        "POST",
        "/api/v1/referrals/{rid}/decline",
        {"reason": "no_bed"},
        RECEIVING_FACILITY,
    ),
    ("withdraw", "POST", "/api/v1/referrals/{rid}/withdraw", None, LIAISON_ONLY_WRITE),
    (
        "acknowledge",
        "POST",
        "/api/v1/referrals/{rid}/acknowledge",
        None,
        RECEIVING_FACILITY,
    ),
    (
        "question",
        "POST",
        "/api/v1/referrals/{rid}/question",
        {"question": f"Any history of violence? {CANARY}"},
        RECEIVING_FACILITY,
    ),
    # The referral has a question waiting (asked by facility_a first).
    (
        "answer",
        "POST",
        "/api/v1/referrals/{rid}/answer",
        {"answer": "None known."},
        LIAISON_ONLY_WRITE,
    ),
    # A referral's message thread: its facility (a) and the liaisons; the other facility
    # (b) is answered as if the referral did not exist.
    ("messages", "GET", "/api/v1/referrals/{rid}/messages", None, RECEIVING_FACILITY),
    (
        "message_send",
        "POST",
        "/api/v1/referrals/{rid}/messages",
        {"body": f"Medical clearance done? {CANARY}"},
        {
            **RECEIVING_FACILITY,
            "facility_a": 201,
            "liaison": 201,
            "supervisor": 201,
            "admin": 201,
        },
    ),
    (
        "transition",
        "POST",
        "/api/v1/placements/{pid}/transition",
        {"to": "closed", "outcome": "withdrawn"},
        LIAISON_ONLY_WRITE,
    ),
    (
        "link",
        "POST",
        "/api/v1/placements/{pid}/links",
        {"system": "docket", "url": "https://c.example.org/1"},
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    (
        "note",
        "POST",
        "/api/v1/placements/{pid}/notes",
        {"body": "Spoke with the family."},
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    ("timeline", "GET", "/api/v1/placements/{pid}/timeline", None, LIAISON_ONLY_WRITE),
    (
        "no_bed",
        "POST",
        "/api/v1/placements/{pid}/no-bed",
        None,
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    # The placement has a declared no-bed record ({nid}) for these two.
    ("no_bed_records", "GET", "/api/v1/placements/{pid}/no-bed", None, LIAISON_ONLY_WRITE),
    (
        "no_bed_correct",
        "POST",
        "/api/v1/placements/{pid}/no-bed/{nid}/correction",
        {"kind": "retract", "reason": "entered_in_error"},
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    ("court_links", "GET", "/api/v1/placements/{pid}/court-links", None, LIAISON_ONLY_WRITE),
    # Phone calls (placements/calls.py): the liaison side writes and reads them.
    ("calls", "GET", "/api/v1/placements/{pid}/calls", None, LIAISON_ONLY_WRITE),
    (
        "call",
        "POST",
        "/api/v1/placements/{pid}/calls",
        {"facility_id": "b", "outcome": "no_bed"},
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    (
        "court_link_issue",
        "POST",
        "/api/v1/placements/{pid}/court-links",
        None,
        {**LIAISON_ONLY_WRITE, "liaison": 201, "supervisor": 201, "admin": 201},
    ),
    (
        "court_link_revoke",
        "DELETE",
        "/api/v1/placements/{pid}/court-links/{lid}",
        None,
        {**LIAISON_ONLY_WRITE, "liaison": 204, "supervisor": 204, "admin": 204},
    ),
    (
        "referral_list",
        "GET",
        "/api/v1/referrals",
        None,
        expect(
            anonymous=401,
            viewer=403,
            court=403,
            other_court=403,
            facility_a=200,
            facility_b=200,
            liaison=200,
            supervisor=403,
            other_supervisor=403,
            admin=200,
        ),
    ),
    (
        "court_lookup",
        "GET",
        "/api/v1/court/placements?case_number=26P-CV-0042",
        None,
        expect(
            anonymous=401,
            viewer=403,
            court=200,
            other_court=200,
            facility_a=403,
            facility_b=403,
            liaison=200,
            supervisor=403,
            other_supervisor=403,
            admin=200,
        ),
    ),
    (
        "order_types",
        "GET",
        "/api/v1/order-types",
        None,
        expect(
            anonymous=401,
            viewer=200,
            court=200,
            other_court=200,
            facility_a=200,
            facility_b=200,
            liaison=200,
            supervisor=200,
            other_supervisor=200,
            admin=200,
        ),
    ),
    (
        "ladder",
        "GET",
        "/api/v1/order-types/emergency_96h/ladder",
        None,
        expect(
            anonymous=401,
            viewer=200,
            court=200,
            other_court=200,
            facility_a=200,
            facility_b=200,
            liaison=200,
            supervisor=200,
            other_supervisor=200,
            admin=200,
        ),
    ),
    (
        "ladder_edit",
        "PUT",
        "/api/v1/order-types/emergency_96h/ladder",
        {"rungs": [{"hours_before": 24, "audiences": ["supervisor"], "ack_minutes": 120}]},
        expect(
            anonymous=401,
            viewer=403,
            court=403,
            other_court=403,
            facility_a=403,
            facility_b=403,
            liaison=403,
            supervisor=403,
            other_supervisor=403,
            admin=200,
        ),
    ),
    # The placement has its first rung raised (the escalation ladder run at T-24 h).
    ("escalations", "GET", "/api/v1/placements/{pid}/escalations", None, LIAISON_ONLY_WRITE),
    (
        "escalation_acknowledge",
        "POST",
        "/api/v1/escalations/{eid}/acknowledge",
        None,
        LIAISON_ONLY_WRITE,
    ),
    # After admission: follow-up tasks and the outpatient commitment (the placement is
    # admitted, with one open task {tid} and a commitment, for these).
    (
        "follow_up_list",
        "GET",
        "/api/v1/follow-ups?everyone=true",
        None,
        expect(
            anonymous=401,
            viewer=403,
            court=403,
            other_court=403,
            facility_a=403,
            facility_b=403,
            liaison=200,
            supervisor=403,  # follow-up tasks are the liaisons' (not yet a supervisor's)
            other_supervisor=403,
            admin=200,
        ),
    ),
    ("follow_ups_of", "GET", "/api/v1/placements/{pid}/follow-ups", None, FOLLOW_UPS),
    (
        "follow_up_add",
        "POST",
        "/api/v1/placements/{pid}/follow-ups",
        {"title": f"Call the CMHC {CANARY}", "due_on": "2030-01-02"},
        {**FOLLOW_UPS, "liaison": 201, "admin": 201},
    ),
    (
        "follow_up_done",
        "POST",
        "/api/v1/follow-ups/{tid}/done",
        {"note": f"Done {CANARY}"},
        FOLLOW_UPS,
    ),
    ("follow_up_cancel", "POST", "/api/v1/follow-ups/{tid}/cancel", {}, FOLLOW_UPS),
    (
        "follow_up_commitment",
        "GET",
        "/api/v1/placements/{pid}/commitment",
        None,
        FOLLOW_UPS,
    ),
    (
        "follow_up_commitment_put",
        "PUT",
        "/api/v1/placements/{pid}/commitment",
        {"court_date": "2030-01-01", "cmhc_name": f"CMHC {CANARY}"},
        FOLLOW_UPS,
    ),
    (
        "order_type_edit",
        "PATCH",
        "/api/v1/order-types/emergency_96h",
        {"deadline_hours": 96},
        expect(
            anonymous=401,
            viewer=403,
            court=403,
            other_court=403,
            facility_a=403,
            facility_b=403,
            liaison=403,
            supervisor=403,
            other_supervisor=403,
            admin=200,
        ),
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "expected"), CASES, ids=[c[0] for c in CASES]
)
async def test_placement_access(
    world: World, name: str, method: str, path: str, body: Any, expected: dict[str, int], role: str
) -> None:
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    if name == "answer":
        asked = await world.call(
            "facility_a",
            "POST",
            f"/api/v1/referrals/{rid}/question",
            json={"question": f"Any history of violence? {CANARY}"},
        )
        assert asked.status == 200, await asked.text()
    if name == "messages":
        said = await world.call(
            "facility_a",
            "POST",
            f"/api/v1/referrals/{rid}/messages",
            json={"body": f"Medical clearance done? {CANARY}"},
        )
        assert said.status == 201, await said.text()
    nid = 0
    if name.startswith("no_bed_"):
        declared = await world.call(
            "liaison", "POST", f"/api/v1/placements/{placement['id']}/no-bed"
        )
        assert declared.status == 201, await declared.text()
        nid = (await declared.json())["id"]
    eid = 0
    if "escalation" in name:
        deadline = datetime.fromisoformat(placement["deadline_at"])
        (raised,) = await escalation.run(world.conn, deadline - timedelta(hours=24))
        eid = raised.escalation_id
    lid = 0
    if name == "court_link_revoke":
        issued = await world.call(
            "liaison", "POST", f"/api/v1/placements/{placement['id']}/court-links"
        )
        lid = (await issued.json())["id"]
    tid = 0
    if name.startswith("follow_up"):
        pid = placement["id"]
        await world.call("facility_a", "POST", f"/api/v1/referrals/{rid}/accept")
        for to in ("in_transit", "admitted"):
            moved = await world.call(
                "liaison", "POST", f"/api/v1/placements/{pid}/transition", json={"to": to}
            )
            assert moved.status == 200, await moved.text()
        task = await world.call(
            "liaison",
            "POST",
            f"/api/v1/placements/{pid}/follow-ups",
            json={"title": f"Call intake {CANARY}", "due_on": "2030-01-01"},
        )
        assert task.status == 201, await task.text()
        tid = (await task.json())["id"]
        committed = await world.call(
            "liaison",
            "PUT",
            f"/api/v1/placements/{pid}/commitment",
            json={"court_date": "2029-12-30", "cmhc_name": f"CMHC {CANARY}"},
        )
        assert committed.status == 200, await committed.text()
    url = path.format(pid=placement["id"], rid=rid, nid=nid, eid=eid, lid=lid, tid=tid)
    if body == "placement":
        body = world.placement_body()
    elif isinstance(body, dict) and body.get("unit_ids") == ["b1"]:
        body = {"unit_ids": [world.ids["b1"]]}
    elif isinstance(body, dict) and body.get("facility_id") == "b":
        body = {**body, "facility_id": world.ids["facility_b"]}
    audit_before = await world.conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE outcome = 'denied'"
    )
    resp = await world.call(role, method, url, json=body)
    assert resp.status == expected[role], await resp.text()
    if resp.status in (403, 404) and role != "anonymous":
        denied = await world.conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE outcome = 'denied'"
        )
        assert denied == audit_before + 1
    text = await resp.text()
    if role in ("court", "other_court", "viewer", "anonymous", "facility_b", "other_supervisor"):
        assert CANARY not in text
        assert "clinical_notes" not in text and "needs" not in text


@pytest.mark.parametrize("role", ["facility_a", "facility_b", "court", "other_court", "viewer"])
async def test_declaring_no_bed_is_refused_with_the_answer_of_any_other_write(
    world: World, role: str
) -> None:
    placement = await world.create()
    pid = placement["id"]
    await world.refer(pid, "a1")
    declared = await world.call(role, "POST", f"/api/v1/placements/{pid}/no-bed")
    noted = await world.call(role, "POST", f"/api/v1/placements/{pid}/notes", json={"body": "x"})
    missing = await world.call(role, "POST", "/api/v1/placements/987654/no-bed")
    assert declared.status == noted.status
    assert declared.content_type == noted.content_type == "application/problem+json"
    declared_body, noted_body = await declared.json(), await noted.json()
    for key in ("type", "title", "status"):
        assert declared_body[key] == noted_body[key]
    if declared.status == 404:  # concealed: an existing placement answers like a missing one
        missing_body = await missing.json()
        for key in ("type", "title", "detail"):
            assert declared_body[key] == missing_body[key]
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_reports") == 0


async def test_a_facility_sees_only_its_own_referrals_and_what_it_needs(world: World) -> None:
    placement = await world.create()
    await world.refer(placement["id"], "a1", "b1")
    body = await (
        await world.call("facility_a", "GET", f"/api/v1/placements/{placement['id']}")
    ).json()
    assert [r["unit_id"] for r in body["referrals"]] == [world.ids["a1"]]
    assert CANARY in body["clinical_notes"]  # the receiving facility needs the notes to decide
    assert "links" not in body and "liaison_email" not in body and "requesting_officer" not in body


async def test_the_court_sees_status_and_facility_but_nothing_clinical(world: World) -> None:
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")
    await world.call(
        "facility_a",
        "POST",
        f"/api/v1/referrals/{ref_a}/decline",
        json={"reason": "aggression_safety", "note": "assault history"},
    )
    await world.call("facility_b", "POST", f"/api/v1/referrals/{ref_b}/accept")
    resp = await world.call("court", "GET", "/api/v1/court/placements?case_number=26p-cv-0042")
    text = await resp.text()
    (item,) = json.loads(text)["items"]
    assert item["status"] == "accepted" and item["facility_name"] == "Lakeside Psychiatric"
    assert [t["status"] for t in item["timeline"]] == ["open", "accepted"]
    for secret in (CANARY, "aggression", "assault", "clinical", "needs", "decline", "Hillcrest"):
        assert secret not in text
    other = await world.call(
        "other_court", "GET", "/api/v1/court/placements?case_number=26P-CV-0042"
    )
    assert (await other.json())["items"] == []


async def test_every_read_and_write_of_placement_data_is_audited(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    await world.call("liaison", "GET", f"/api/v1/placements/{pid}")
    await world.call("liaison", "GET", f"/api/v1/placements/{pid}/timeline")
    await world.call("liaison", "POST", f"/api/v1/placements/{pid}/notes", json={"body": "note"})
    await world.call("court", "GET", "/api/v1/court/placements?case_number=26P-CV-0042")
    rows = await world.conn.fetch(
        "SELECT actor, action FROM audit_log WHERE outcome = 'success' ORDER BY id"
    )
    actions = [r["action"] for r in rows]
    assert actions == [
        "placement.create",
        "placement.read",
        "placement.timeline",
        "placement.note",
        "court.lookup",
    ]


async def test_the_clinical_canary_never_leaks(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    placement = await world.create()
    pid = placement["id"]
    (ref,) = await world.refer(pid, "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    bodies = []
    # Error answers about the placement.
    for role, method, path, body in [
        ("liaison", "POST", f"/api/v1/placements/{pid}/transition", {"to": "admitted"}),
        ("liaison", "PATCH", f"/api/v1/placements/{pid}", {"clinical_notes": 5}),
        ("court", "GET", f"/api/v1/placements/{pid}", None),
        ("facility_b", "GET", f"/api/v1/placements/{pid}", None),
        ("liaison", "POST", f"/api/v1/placements/{pid}/referrals", {"unit_ids": [world.ids["a1"]]}),
    ]:
        resp = await world.call(role, method, path, json=body)
        assert resp.status >= 400
        bodies.append(await resp.text())
    bodies.append(
        await (
            await world.call("court", "GET", "/api/v1/court/placements?case_number=26P-CV-0042")
        ).text()
    )
    # The court status link: issued (its answer), listed, and opened without a password.
    issued = await world.call("liaison", "POST", f"/api/v1/placements/{pid}/court-links")
    link_url = (await issued.json())["url"]
    bodies.append(json.dumps(await issued.json()))
    listed = await world.call("liaison", "GET", f"/api/v1/placements/{pid}/court-links")
    bodies.append(await listed.text())
    opened = await world.call("anonymous", "GET", "/" + link_url.split("/", 3)[3])
    assert opened.status == 200
    bodies.append(await opened.text())
    links = await world.conn.fetch("SELECT * FROM signed_links")
    assert links and all(CANARY not in str(dict(r)) for r in links)
    # The public summary counts the placement (moved into a complete month) and no more.
    await world.conn.execute(
        "UPDATE placements SET created_at = created_at - interval '40 days' WHERE id = $1", pid
    )
    for path in ("/api/v1/public/summary", "/public"):
        resp = await world.call("anonymous", "GET", path)
        assert resp.status == 200
        text = await resp.text()
        for person_level in (placement["reference"], "26P-CV-0042", "Boone County Sheriff"):
            assert person_level not in text
        bodies.append(text)
    assert '"suppressed":true' in bodies[-2]  # the summary did count it (as <11)
    for text in bodies:
        assert CANARY not in text
    assert CANARY not in caplog.text
    outbox = await world.conn.fetch("SELECT topic, payload::text AS p FROM board_outbox")
    assert outbox and all(CANARY not in row["p"] for row in outbox)
    events = await world.conn.fetch("SELECT data::text AS d FROM placement_events")
    assert all(CANARY not in row["d"] for row in events)
    audit = await world.conn.fetch("SELECT detail::text AS d FROM audit_log")
    assert all(CANARY not in row["d"] for row in audit)


# --------------------------------------------------------------------------- the referral packet
# Its summary and attachments: the liaison side keeps them (a supervisor reads their
# region's); the facility referred (a) reads them; facility b and everyone else are
# answered as if they did not exist.
PACKET_WRITE = {**LIAISON_ONLY_WRITE, "supervisor": 403}
PACKET_PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PACKET_CASES: list[tuple[str, str, str, Any, dict[str, int]]] = [
    ("packet_read", "GET", "/api/v1/placements/{pid}/packet", None, RECEIVING_FACILITY),
    (
        "packet_write",
        "PUT",
        "/api/v1/placements/{pid}/packet",
        {"toxicology": f"negative {CANARY}", "pregnancy": "no"},
        PACKET_WRITE,
    ),
    ("attachment_list", "GET", "/api/v1/placements/{pid}/attachments", None, RECEIVING_FACILITY),
    (
        "attachment_upload",
        "POST",
        "/api/v1/placements/{pid}/attachments",
        "file",
        {**PACKET_WRITE, "liaison": 201, "admin": 201},
    ),
    ("attachment_download", "GET", "/api/v1/attachments/{aid}", None, RECEIVING_FACILITY),
    (
        "attachment_remove",
        "DELETE",
        "/api/v1/attachments/{aid}",
        None,
        {**PACKET_WRITE, "liaison": 204, "admin": 204},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "expected"), PACKET_CASES, ids=[c[0] for c in PACKET_CASES]
)
async def test_packet_access(
    world: World, name: str, method: str, path: str, body: Any, expected: dict[str, int], role: str
) -> None:
    placement = await world.create()
    pid = placement["id"]
    await world.refer(pid, "a1")
    await world.call(
        "liaison", "PUT", f"/api/v1/placements/{pid}/packet", json={"toxicology": CANARY}
    )
    form = aiohttp.FormData()
    form.add_field("file", PACKET_PDF, filename=f"{CANARY}.pdf", content_type="application/pdf")
    added = await world.call("liaison", "POST", f"/api/v1/placements/{pid}/attachments", data=form)
    assert added.status == 201, await added.text()
    aid = (await added.json())["id"]
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {}
    if body == "file":
        upload = aiohttp.FormData()
        upload.add_field("file", PACKET_PDF, filename="order.pdf", content_type="application/pdf")
        kwargs = {"data": upload}
    denied_before = await world.conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE outcome = 'denied'"
    )
    resp = await world.call(role, method, path.format(pid=pid, aid=aid), **kwargs)
    assert resp.status == expected[role], await resp.text()
    if resp.status in (403, 404) and role != "anonymous":
        denied = await world.conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE outcome = 'denied'"
        )
        assert denied == denied_before + 1
    if role in ("court", "other_court", "viewer", "anonymous", "facility_b", "other_supervisor"):
        assert CANARY not in await resp.text()
