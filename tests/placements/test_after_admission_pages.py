"""After admission on the pages: the discharge form (a confirmation, then the record), a
refusal named next to its field, follow-up tasks added and closed from the placement page
and from /tasks, the outpatient commitment with its default task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard.auth import Role
from tests.conftest import login
from tests.placements.conftest import World
from tests.placements.test_after_admission import admitted

CHICAGO = ZoneInfo("America/Chicago")


async def _liaison(world: World, client: Any, make_user: Any) -> tuple[Any, Any]:
    account = await make_user(Role.LIAISON)
    return account, await login(client, account.email)


async def test_the_discharge_form_confirms_then_records_and_shows_the_disposition(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    _, session = await _liaison(world, client, make_user)
    html = await (await client.get(f"/placements/{pid}")).text()
    assert f'action="/placements/{pid}/discharge"' in html
    assert "Outpatient commitment (RSMo 632.330 / 632.355)" in html
    form = {
        "csrf_token": session.csrf,
        "disposition": "left_ama",
        "discharged_at": "",
        "note": "Left before the psychiatrist saw him.",
    }
    confirm = await client.post(f"/placements/{pid}/discharge", data=form, allow_redirects=False)
    assert confirm.status == 200
    text = await confirm.text()
    assert "Yes, mark discharged" in text and "left against medical advice" in text
    assert await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", pid) == (
        "admitted"
    )
    done = await client.post(
        f"/placements/{pid}/discharge", data={**form, "confirmed": "1"}, allow_redirects=False
    )
    assert done.status == 303 and "Marked%20discharged." in done.headers["Location"]
    html = await (await client.get(f"/placements/{pid}")).text()
    assert 'data-status="discharged"' in html
    assert "Left against medical advice" in html
    assert "Left before the psychiatrist saw him." in html
    assert f'action="/placements/{pid}/discharge"' not in html  # final now
    again = await client.post(
        f"/placements/{pid}/discharge", data={**form, "confirmed": "1"}, allow_redirects=False
    )
    assert "Not%20done" in again.headers["Location"]


async def test_a_refused_discharge_time_is_named_next_to_its_field(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    _, session = await _liaison(world, client, make_user)
    before = datetime.fromisoformat(placement["admitted_at"]) - timedelta(hours=1)
    resp = await client.post(
        f"/placements/{pid}/discharge",
        data={
            "csrf_token": session.csrf,
            "disposition": "transfer",
            "discharged_at": before.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M"),
            "confirmed": "1",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"].endswith("?discharge_error=discharged_at#discharge-title")
    html = await (await client.get(resp.headers["Location"])).text()
    assert "Enter a time between the admission and now." in html
    assert 'aria-describedby="discharge-error"' in html
    missing = await client.post(
        f"/placements/{pid}/discharge",
        data={"csrf_token": session.csrf, "disposition": ""},
        allow_redirects=False,
    )
    assert missing.headers["Location"].endswith("?discharge_error=disposition#discharge-title")
    assert await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", pid) == (
        "admitted"
    )


async def test_a_task_added_on_the_placement_page_is_on_tasks_and_marked_done_there(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    me, session = await _liaison(world, client, make_user)
    tomorrow = (datetime.now(CHICAGO).date() + timedelta(days=1)).isoformat()
    added = await client.post(
        f"/placements/{pid}/follow-ups",
        data={
            "csrf_token": session.csrf,
            "title": "Call CMHC intake",
            "due_on": tomorrow,
            "due_time": "",
            "assignee_id": str(me.id),
        },
        allow_redirects=False,
    )
    assert added.status == 303 and "Follow-up%20task%20added." in added.headers["Location"]
    html = await (await client.get("/tasks")).text()
    assert "My follow-up tasks" in html and "Call CMHC intake" in html
    assert f'href="/placements/{pid}#follow-ups"' in html
    task_id = await world.conn.fetchval("SELECT id FROM placement_follow_ups")
    done = await client.post(
        f"/follow-ups/{task_id}/done",
        data={"csrf_token": session.csrf, "next": "tasks", "note": "Booked for Tuesday."},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"].startswith("/tasks?notice=")
    html = await (await client.get(done.headers["Location"])).text()
    assert "Follow-up marked done." in html and "Call CMHC intake" not in html
    html = await (await client.get("/tasks?show=done")).text()
    assert "Call CMHC intake" in html and "Booked for Tuesday." in html
    again = await client.post(
        f"/follow-ups/{task_id}/done",
        data={"csrf_token": session.csrf, "next": "tasks"},
        allow_redirects=False,
    )
    html = await (await client.get(again.headers["Location"])).text()
    assert "Not done: A follow-up that is done cannot be marked done" in html
    # The navigation leads a liaison there.
    assert 'href="/tasks"' in html


async def test_a_past_due_time_or_a_missing_title_is_named_next_to_the_task_form(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await world.create()
    pid = placement["id"]
    _, session = await _liaison(world, client, make_user)
    today = datetime.now(CHICAGO).date().isoformat()
    for data, field in (
        ({"title": "Call", "due_on": today, "due_time": "00:00"}, "due_at"),
        ({"title": "Call", "due_on": ""}, "due_on"),
        ({"title": "", "due_on": today}, "title"),
    ):
        resp = await client.post(
            f"/placements/{pid}/follow-ups",
            data={"csrf_token": session.csrf, **data},
            allow_redirects=False,
        )
        assert resp.headers["Location"].endswith(f"?task_error={field}#follow-ups-title"), data
    html = await (await client.get(f"/placements/{pid}?task_error=due_at")).text()
    assert "That time has passed: enter a later time, or leave the time empty." in html
    assert await world.conn.fetchval("SELECT count(*) FROM placement_follow_ups") == 0


async def test_the_commitment_form_records_it_with_the_default_task(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    _, session = await _liaison(world, client, make_user)
    html = await (await client.get(f"/placements/{pid}")).text()
    assert "Record the outpatient commitment" in html
    resp = await client.post(
        f"/placements/{pid}/commitment",
        data={
            "csrf_token": session.csrf,
            "court_date": "2027-01-12",
            "cmhc_name": "Burrell Behavioral Health (demo)",
            "add_follow_up": "1",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    html = await (await client.get(resp.headers["Location"])).text()
    assert "Outpatient commitment recorded, with the task" in html
    assert "Jan 12, 2027" in html and "Burrell Behavioral Health (demo)" in html
    assert "Check with the CMHC after the court date" in html and "Jan 13, 2027" in html
    bad = await client.post(
        f"/placements/{pid}/commitment",
        data={"csrf_token": session.csrf, "court_date": "", "cmhc_name": "X"},
        allow_redirects=False,
    )
    assert bad.headers["Location"].endswith("?commitment_error=court_date#commitment-title")
    html = await (await client.get(bad.headers["Location"])).text()
    assert "Enter the petition&#39;s court date." in html


async def test_facility_and_court_users_cannot_use_the_after_admission_pages(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    now = datetime.now(UTC) + timedelta(days=1)
    task = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/follow-ups",
        json={"title": "Call CMHC intake", "due_at": now.isoformat()},
    )
    task_id = (await task.json())["id"]
    for role, extra in (
        (Role.FACILITY, {"facility_ids": [world.ids["facility_a"]]}),
        (Role.FACILITY, {"facility_ids": [world.ids["facility_b"]]}),
        (Role.COURT, {"court_id": world.ids["court"]}),
    ):
        user = await make_user(role, **extra)
        client.session.cookie_jar.clear()
        session = await login(client, user.email)
        assert (await client.get("/tasks")).status == 403
        for path, data in (
            (f"/placements/{pid}/discharge", {"disposition": "transfer", "confirmed": "1"}),
            (f"/placements/{pid}/follow-ups", {"title": "x", "due_on": "2030-01-01"}),
            (f"/placements/{pid}/commitment", {"court_date": "2030-01-01", "cmhc_name": "x"}),
            (f"/follow-ups/{task_id}/done", {}),
        ):
            resp = await client.post(
                path, data={"csrf_token": session.csrf, **data}, allow_redirects=False
            )
            assert resp.status in (403, 404), (role, path, resp.status)
    assert await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", pid) == (
        "admitted"
    )
    assert await world.conn.fetchval("SELECT count(*) FROM placement_follow_ups") == 1
    assert await world.conn.fetchval("SELECT count(*) FROM placement_commitments") == 0
