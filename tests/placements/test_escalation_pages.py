"""The escalation ladder on the placement page: the Escalations section in words, the
Acknowledge button (a form, no script), and the wider-search banner."""

from __future__ import annotations

import html as htmllib
from datetime import UTC, datetime, timedelta
from typing import Any

from bedboard import board
from bedboard.auth import Role
from bedboard.placements import escalation
from tests.conftest import login
from tests.placements.conftest import World

BANNER = "and no bed accepted: refer to every unit that fits, or search a wider radius"


async def _eleven_hours_left(world: World) -> dict[str, Any]:
    """A placement whose deadline is 11 hours away, with the T-24 and T-12 rungs raised."""
    start = datetime.now(UTC) - timedelta(hours=85)
    placement = await world.create(detention_start=start.isoformat())
    raised = await escalation.run(world.conn, await board.db_now(world.conn))
    assert [r.position for r in raised] == [1, 2]
    return placement


async def test_the_page_lists_raised_rungs_in_words_with_the_wider_search_banner(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await _eleven_hours_left(world)
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    page = htmllib.unescape(await (await client.get(f"/placements/{placement['id']}")).text())
    section = page.split('id="escalations-title"', 1)[1].split("</section>", 1)[0]
    words = " ".join(section.split())
    assert "to the region's supervisor" in words and "to the liaison · acknowledge by" in words
    assert section.count(">Acknowledge</button>") == 2
    assert "CST" in section or "CDT" in section  # Central time
    assert f"Deadline in 11 h {BANNER}" in page
    banner = page.split("data-wider-search", 1)[1].split("</div>", 1)[0]
    assert 'href="#refer-all"' in banner and 'id="refer-all"' in page
    assert 'href="/search?county=29019&population=adult&gender=male' in banner
    assert "include_stale=true" in banner
    # The banner is near the top: before the details.
    assert page.index(BANNER) < page.index('id="details-title"')


async def test_acknowledge_from_the_page_records_who_and_shows_it(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await _eleven_hours_left(world)
    first = (await escalation.escalations_of(world.conn, placement["id"]))[0]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    refused = await client.post(f"/escalations/{first.id}/acknowledge", allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    resp = await client.post(
        f"/escalations/{first.id}/acknowledge",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"].startswith(f"/placements/{placement['id']}?notice=Escalation")
    page = htmllib.unescape(await (await client.get(resp.headers["Location"])).text())
    section = page.split('id="escalations-title"', 1)[1].split("</section>", 1)[0]
    assert f"acknowledged by {liaison.email}" in section
    assert section.count(">Acknowledge</button>") == 1
    timeline = " ".join(page.split('id="timeline-title"', 1)[1].split())
    assert "escalation acknowledged</strong> (rung 1)" in timeline
    assert "escalation raised</strong> (rung 2)" in timeline
    row = await world.conn.fetchrow(
        "SELECT acknowledged_by FROM escalations WHERE id = $1", first.id
    )
    assert row["acknowledged_by"] == liaison.id


async def test_the_banner_goes_once_a_bed_is_accepted(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await _eleven_hours_left(world)
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    page = htmllib.unescape(await (await client.get(f"/placements/{placement['id']}")).text())
    assert BANNER not in page
    assert "to the region's supervisor" in page  # the record of what was raised stays


async def test_acknowledging_on_a_closed_placement_comes_back_as_a_sentence(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await _eleven_hours_left(world)
    first = (await escalation.escalations_of(world.conn, placement["id"]))[0]
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "closed", "outcome": "released"},
    )
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    page = htmllib.unescape(await (await client.get(f"/placements/{placement['id']}")).text())
    assert ">Acknowledge</button>" not in page and BANNER not in page
    resp = await client.post(
        f"/escalations/{first.id}/acknowledge", data={"csrf_token": session.csrf}
    )
    text = htmllib.unescape(await resp.text())
    assert resp.status == 200
    assert "Not done:" in text and "its escalations are over" in text


async def test_other_roles_cannot_acknowledge_from_the_page(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await _eleven_hours_left(world)
    first = (await escalation.escalations_of(world.conn, placement["id"]))[0]
    viewer = await make_user(Role.VIEWER)
    session = await login(client, viewer.email)
    resp = await client.post(
        f"/escalations/{first.id}/acknowledge", data={"csrf_token": session.csrf}
    )
    assert resp.status == 404
    row = await world.conn.fetchrow(
        "SELECT acknowledged_at FROM escalations WHERE id = $1", first.id
    )
    assert row["acknowledged_at"] is None
