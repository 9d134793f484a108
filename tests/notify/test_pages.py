"""Notification pages and API: preferences, the alert banner and its acknowledgement,
delivery history with retry, webhook endpoints, a facility's intake contact."""

from __future__ import annotations

from typing import Any

from bedboard import notify
from bedboard.auth import Role
from bedboard.notify import Channel, Recipient
from tests.notify.conftest import World, config, db_now

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _alert(world: World, pool: Any, who: str = "liaison", *, critical: bool = True) -> int:
    now = await db_now(world.conn)
    message = notify.Message(
        event=notify.Event.DEADLINE_APPROACHING,
        subject="Deadline in 4 hours for PL-2026-000123",
        body="Sign in to bedboard.",
        link_path="/placements/1",
        reference="PL-2026-000123",
        status="open",
    )
    (did,) = await notify.enqueue(
        world.conn,
        key=f"test:{who}",
        message=message,
        recipients=[Recipient(Channel.IN_APP, user_id=world.ids[f"user_{who}"])],
        critical=critical,
        now=now,
    )
    assert (await notify.dispatch_due(pool, config(), now=now)).sent == 1
    return did


async def test_the_preferences_page_saves_channels_and_quiet_hours(world: World) -> None:
    page = await world.call("liaison", "GET", "/account/notifications")
    assert page.status == 200
    html = await page.text()
    assert 'name="ch__deadline_passed" value="email" checked' in html  # the default
    assert "referral_arrived" not in html  # a facility's event
    resp = await world.call(
        "liaison",
        "POST",
        "/account/notifications",
        data={"ch__deadline_passed": "in_app", "quiet_start": "22:00", "quiet_end": "07:00"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/account/notifications?saved=1"
    prefs = await notify.preferences(world.conn, world.ids["user_liaison"], Role.LIAISON)
    assert prefs.channels[notify.Event.DEADLINE_PASSED] == [Channel.IN_APP]
    assert prefs.channels[notify.Event.HOLD_EXPIRING] == []  # unticked: none
    assert (prefs.quiet_start, prefs.quiet_end) == ("22:00", "07:00")


async def test_the_preferences_page_answers_bad_hours_with_a_sentence(world: World) -> None:
    resp = await world.call(
        "liaison", "POST", "/account/notifications", data={"quiet_start": "22:00"}
    )
    assert resp.status == 422
    assert "give both the start and the end of quiet hours" in await resp.text()
    resp = await world.call(
        "liaison",
        "POST",
        "/account/notifications",
        data={"quiet_start": "25:00", "quiet_end": "07:00"},
    )
    assert resp.status == 422
    assert "enter a time like 22:00" in await resp.text()
    assert await world.conn.fetchval("SELECT count(*) FROM notify_preferences") == 0


async def test_the_preferences_api_reads_and_replaces(world: World) -> None:
    got = await world.call("facility_a", "GET", "/api/v1/me/notification-preferences")
    assert got.status == 200
    assert await got.json() == {
        "channels": {
            "referral_arrived": ["email"],
            "referral_unanswered": ["in_app", "email"],
            "census_nudge": ["email"],
            "referral_message": ["in_app", "email"],
        },
        "quiet_start": None,
        "quiet_end": None,
    }
    put = await world.call(
        "facility_a",
        "PUT",
        "/api/v1/me/notification-preferences",
        json={"channels": {"referral_arrived": ["in_app", "email"]}, "quiet_start": None},
    )
    assert put.status == 200, await put.text()
    # The events left out return to their defaults.
    assert (await put.json())["channels"] == {
        "referral_arrived": ["email", "in_app"],
        "referral_unanswered": ["in_app", "email"],
        "census_nudge": ["email"],
        "referral_message": ["in_app", "email"],
    }
    bad = await world.call(
        "facility_a",
        "PUT",
        "/api/v1/me/notification-preferences",
        json={"channels": {"deadline_passed": ["webhook"]}},
    )
    assert bad.status == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    fields = {e["field"] for e in (await bad.json())["errors"]}
    assert fields == {"channels.deadline_passed"}
    junk = await world.call(
        "facility_a", "PUT", "/api/v1/me/notification-preferences", json={"channels": {"x": 1}}
    )
    assert junk.status == 422


async def test_the_banner_shows_an_alert_until_it_is_acknowledged(world: World, pool: Any) -> None:
    did = await _alert(world, pool)
    page = await (await world.call("liaison", "GET", "/placements")).text()
    assert "Deadline in 4 hours for PL-2026-000123" in page
    assert f'action="/alerts/{did}/acknowledge"' in page
    assert 'data-critical="true"' in page
    assert "alerts.js" in page
    # Someone else's banner is empty; their acknowledgement of it answers as missing.
    other = await (await world.call("liaison2", "GET", "/placements")).text()
    assert "PL-2026-000123" not in other
    stolen = await world.call("liaison2", "POST", f"/alerts/{did}/acknowledge", data={"next": "/"})
    assert stolen.status == 404
    resp = await world.call(
        "liaison",
        "POST",
        f"/alerts/{did}/acknowledge",
        data={"next": "/placements"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/placements"
    page = await (await world.call("liaison", "GET", "/placements")).text()
    assert "PL-2026-000123" not in page
    assert (
        await world.conn.fetchval("SELECT user_id FROM notify_acks WHERE delivery_id = $1", did)
        == world.ids["user_liaison"]
    )


async def test_the_alerts_api_lists_and_acknowledges(world: World, pool: Any) -> None:
    did = await _alert(world, pool, critical=False)
    listed = await (await world.call("liaison", "GET", "/api/v1/me/alerts")).json()
    assert [a["id"] for a in listed["items"]] == [did]
    assert listed["items"][0]["critical"] is False
    resp = await world.call("liaison", "POST", f"/api/v1/me/alerts/{did}/acknowledge")
    assert resp.status == 204
    assert (await (await world.call("liaison", "GET", "/api/v1/me/alerts")).json())["items"] == []
    missing = await world.call("liaison", "POST", "/api/v1/me/alerts/999999/acknowledge")
    assert missing.status == 404


async def test_dead_letters_are_highlighted_with_a_retry_button(
    world: World, pool: Any, make_user: Any
) -> None:
    user = await make_user(password=None)
    now = await db_now(world.conn)
    message = notify.referral_arrived(
        reference="PL-2026-000777", facility="Hillcrest", unit="Adult", deadline_at=None
    )
    (did,) = await notify.enqueue(
        world.conn,
        key="dead",
        message=message,
        recipients=[Recipient(Channel.EMAIL, user.email, user_id=user.id)],
        critical=False,
        now=now,
    )
    await notify.dispatch_due(pool, config(None, max_attempts=1), now=now)
    page = await world.call("admin", "GET", "/admin/deliveries?status=dead")
    html = await page.text()
    assert page.status == 200
    assert 'class="row--dead"' in html and "PL-2026-000777" in html
    assert f'action="/admin/deliveries/{did}/retry"' in html
    api = await (await world.call("admin", "GET", "/api/v1/deliveries?status=dead")).json()
    assert [d["id"] for d in api["items"]] == [did]
    assert api["items"][0]["last_error"] == "no SMTP server configured (BEDBOARD_SMTP_URL)"
    resp = await world.call(
        "admin", "POST", f"/admin/deliveries/{did}/retry", allow_redirects=False
    )
    assert resp.status == 303
    assert (
        await world.conn.fetchval("SELECT status FROM deliveries WHERE id = $1", did) == "pending"
    )
    again = await world.call("admin", "POST", f"/api/v1/deliveries/{did}/retry")
    assert again.status == 404  # only a dead one can be retried
    bad = await world.call("admin", "GET", "/api/v1/deliveries?status=lost")
    assert bad.status == 422


async def test_a_webhook_secret_is_shown_once_and_plain_http_is_refused(world: World) -> None:
    resp = await world.call(
        "admin",
        "POST",
        "/admin/webhooks",
        data={"url": "https://ehr.example.org/bedboard", "events": "referral_arrived"},
    )
    html = await resp.text()
    assert resp.status == 200
    secret = await world.conn.fetchval("SELECT secret FROM webhook_endpoints")
    assert secret.startswith("whsec_") and secret in html
    listing = await (await world.call("admin", "GET", "/admin/webhooks")).text()
    assert "https://ehr.example.org/bedboard" in listing and secret not in listing
    api = await (await world.call("admin", "GET", "/api/v1/webhooks")).text()
    assert secret not in api
    refused = await world.call(
        "admin",
        "POST",
        "/admin/webhooks",
        data={"url": "http://ehr.example.org/", "events": "referral_arrived"},
    )
    assert refused.status == 422
    assert "webhooks need https://" in await refused.text()
    made = await world.call(
        "admin",
        "POST",
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["referral_answered"]},
    )
    assert made.status == 201 and (await made.json())["secret"].startswith("whsec_")
    refused_api = await world.call(
        "admin", "POST", "/api/v1/webhooks", json={"url": "ftp://x", "events": []}
    )
    assert refused_api.status == 422


async def test_the_facility_page_keeps_its_intake_contact(world: World) -> None:
    fid = world.ids["facility_a"]
    resp = await world.call(
        "admin",
        "POST",
        f"/admin/facilities/{fid}/intake-contact",
        data={"intake_email": "Intake@Example.org", "intake_phone": "573-555-0100"},
        allow_redirects=False,
    )
    assert resp.status == 303
    page = await (await world.call("admin", "GET", f"/admin/facilities/{fid}")).text()
    assert 'value="intake@example.org"' in page
    bad = await world.call(
        "admin",
        "POST",
        f"/admin/facilities/{fid}/intake-contact",
        data={"intake_email": "not an address", "intake_phone": ""},
    )
    assert bad.status == 422
    assert "enter an email address like intake@example.org" in await bad.text()
    contact = await notify.intake_contact(world.conn, fid)
    assert contact.email == "intake@example.org"
    denied = await world.call(
        "facility_a",
        "POST",
        f"/admin/facilities/{fid}/intake-contact",
        data={"intake_email": "x@example.org"},
    )
    assert denied.status == 403
