"""A court's clerk address: administrators set it on the court (API and page), and a
placement of that court that has a referral accepted, is admitted, is closed or passes
its legal deadline before admission sends one email there, through a real SMTP server on
loopback. Nothing clinical or personal is in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import notify, placements
from tests.notify.conftest import CANARY, Mailbox, World, config, db_now

CHICAGO = ZoneInfo("America/Chicago")
CLERK = "probate-clerk@boone.example.org"


async def _set_clerk(world: World, email: str, court: str = "court") -> Any:
    resp = await world.call(
        "admin", "PATCH", f"/api/v1/courts/{world.ids[court]}", json={"clerk_email": email}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _fan_in_and_send(world: World, mailbox: Mailbox, pool: Any) -> int:
    now = await db_now(world.conn)
    done = await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    assert done is not None
    await notify.dispatch_due(pool, config(mailbox.url), now=now)
    return done.deliveries


def _clerk_mail(mailbox: Mailbox) -> list[Any]:
    return [m for m in mailbox.messages() if m["To"] == CLERK]


# --------------------------------------------------------------------------- the address


async def test_the_court_api_keeps_a_clerk_email_and_a_blank_removes_it(world: World) -> None:
    created = await world.call(
        "admin",
        "POST",
        "/api/v1/courts",
        json={
            "name": "Howard Probate (test)",
            "circuit": 14,
            "county_fips": "29089",
            "clerk_email": " Clerk@Howard.Example.org ",
        },
    )
    assert created.status == 201, await created.text()
    court = await created.json()
    assert court["clerk_email"] == "clerk@howard.example.org"
    without = await world.call(
        "admin",
        "POST",
        "/api/v1/courts",
        json={"name": "Randolph Probate (test)", "circuit": 14, "county_fips": "29175"},
    )
    assert (await without.json())["clerk_email"] is None

    renamed = await world.call(
        "admin", "PATCH", f"/api/v1/courts/{court['id']}", json={"name": "Howard Probate"}
    )
    assert (await renamed.json())["clerk_email"] == "clerk@howard.example.org"  # kept
    cleared = await world.call(
        "admin", "PATCH", f"/api/v1/courts/{court['id']}", json={"clerk_email": ""}
    )
    assert (await cleared.json())["clerk_email"] is None
    read = await world.call("admin", "GET", f"/api/v1/courts/{court['id']}")
    assert (await read.json())["clerk_email"] is None


async def test_a_malformed_clerk_email_is_a_422_problem_naming_the_field(world: World) -> None:
    for bad in ("not an address", "clerk@", "two@@example.org", "a@b"):
        resp = await world.call(
            "admin",
            "PATCH",
            f"/api/v1/courts/{world.ids['court']}",
            json={"clerk_email": bad},
        )
        assert resp.status == 422, bad
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        (error,) = body["errors"]
        assert error["field"] == "clerk_email"
        assert "enter an email address like clerk@example.org" in error["message"]
    court = await (await world.call("admin", "GET", f"/api/v1/courts/{world.ids['court']}")).json()
    assert court["clerk_email"] is None
    denied = await world.call(
        "court", "PATCH", f"/api/v1/courts/{world.ids['court']}", json={"clerk_email": CLERK}
    )
    assert denied.status == 403


async def test_the_court_form_saves_the_clerk_email_and_names_a_bad_one_beside_the_field(
    world: World,
) -> None:
    court = world.ids["court"]
    form = {"name": "Boone Probate (test)", "circuit": "13", "county_fips": "29019"}
    bad = await world.call(
        "admin", "POST", f"/admin/courts/{court}", data={**form, "clerk_email": "clerk at boone"}
    )
    assert bad.status == 422
    html = await bad.text()
    error = html.split('id="f-clerk_email-error"', 1)[1].split("</", 1)[0]
    assert "Enter an email address like clerk@example.org, or leave it blank." in error
    assert 'value="clerk at boone"' in html  # what was typed stays to be corrected

    saved = await world.call(
        "admin",
        "POST",
        f"/admin/courts/{court}",
        data={**form, "clerk_email": CLERK},
        allow_redirects=False,
    )
    assert saved.status == 303
    page = await (await world.call("admin", "GET", f"/admin/courts/{court}")).text()
    assert f'value="{CLERK}"' in page
    listing = await (await world.call("admin", "GET", "/admin/courts")).text()
    assert CLERK in listing

    blank = await world.call(
        "admin",
        "POST",
        f"/admin/courts/{court}",
        data={**form, "clerk_email": ""},
        allow_redirects=False,
    )
    assert blank.status == 303
    assert await world.conn.fetchval("SELECT clerk_email FROM courts WHERE id = $1", court) is None


# --------------------------------------------------------------------------- the emails


async def test_the_clerk_gets_one_email_when_a_bed_is_accepted_and_one_when_admitted(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    await _set_clerk(world, CLERK)
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await _fan_in_and_send(world, mailbox, pool)
    assert _clerk_mail(mailbox) == []  # a referral sent is not the court's news

    accepted = await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    assert accepted.status == 200, await accepted.text()
    await _fan_in_and_send(world, mailbox, pool)
    reference = placement["reference"]
    (mail,) = _clerk_mail(mailbox)
    assert mail["Subject"] == f"Placement {reference}: a bed was accepted"
    assert mail["X-Bedboard-Event"] == "court_update"
    body = mail.get_content()
    assert "Status: accepted" in body
    assert "Facility: Hillcrest Behavioral" in body
    deadline = datetime.fromisoformat(placement["deadline_at"])
    local = deadline.astimezone(CHICAGO)
    assert f"Legal deadline: {local.strftime('%b')} {local.day}, {local.year}" in body
    assert local.tzname() in ("CST", "CDT") and local.tzname() in body
    assert "https://bedboard.example.org/login?next=/court" in body

    for to in ("in_transit", "admitted"):
        resp = await world.call(
            "liaison", "POST", f"/api/v1/placements/{placement['id']}/transition", json={"to": to}
        )
        assert resp.status == 200, await resp.text()
    await _fan_in_and_send(world, mailbox, pool)
    subjects = [m["Subject"] for m in _clerk_mail(mailbox)]
    assert subjects == [  # nothing for in transit
        f"Placement {reference}: a bed was accepted",
        f"Placement {reference}: admitted",
    ]
    # A second run, and the same outbox rows read again, send nothing more.
    await _fan_in_and_send(world, mailbox, pool)
    await world.conn.execute("UPDATE notify_cursor SET seq = 0")
    await _fan_in_and_send(world, mailbox, pool)
    assert len(_clerk_mail(mailbox)) == 2
    for _, raw in mailbox.received:
        assert CANARY.encode() not in raw and b"Agitated" not in raw
        assert b"26P-CV-0042" not in raw  # not even the court's own case number


async def test_the_clerk_gets_one_email_when_a_placement_is_closed_without_the_facility(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    await _set_clerk(world, CLERK)
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    closed = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "closed", "outcome": "released"},
    )
    assert closed.status == 200, await closed.text()
    await _fan_in_and_send(world, mailbox, pool)
    # Both are sent in one batch: they may reach the server in either order.
    by_subject = {m["Subject"]: m for m in _clerk_mail(mailbox)}
    accepted_subject = f"Placement {placement['reference']}: a bed was accepted"
    closed_subject = f"Placement {placement['reference']}: closed"
    assert set(by_subject) == {accepted_subject, closed_subject}
    accepted, closing = by_subject[accepted_subject], by_subject[closed_subject]
    body = closing.get_content()
    assert "Status: closed" in body
    assert "Hillcrest" not in body  # the court's view names no facility once closed
    assert "Facility: Hillcrest Behavioral" in accepted.get_content()


async def test_the_clerk_gets_one_email_when_the_deadline_passes_before_admission(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    await _set_clerk(world, CLERK)
    start = datetime.now(UTC) - timedelta(hours=1)
    placement = await world.create(detention_start=start.isoformat())
    passed = start + timedelta(hours=96, minutes=1)
    for later in (timedelta(0), timedelta(minutes=5)):  # the clock runs again
        alerts = await placements.deadline_alerts(world.conn, passed + later, [24, 12, 4])
        await notify.occasions.deadline_alerts(world.conn, alerts, now=passed + later, zone=CHICAGO)
        await _fan_in_and_send(world, mailbox, pool)
    (mail,) = _clerk_mail(mailbox)  # the points before the deadline are not the court's
    assert mail["Subject"] == f"Placement {placement['reference']}: legal deadline passed"
    assert "Status: open" in mail.get_content()


async def test_a_court_without_a_clerk_address_gets_no_email(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    await _set_clerk(world, CLERK, court="other_court")  # another court's clerk
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    for to in ("in_transit", "admitted"):
        await world.call(
            "liaison", "POST", f"/api/v1/placements/{placement['id']}/transition", json={"to": to}
        )
    await _fan_in_and_send(world, mailbox, pool)
    assert _clerk_mail(mailbox) == []
    assert (
        await world.conn.fetchval("SELECT count(*) FROM deliveries WHERE event = 'court_update'")
        == 0
    )
