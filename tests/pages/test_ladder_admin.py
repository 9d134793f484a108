"""The escalation ladder's administration pages: the order types list, a ladder as form
rows (add, remove, save) and its sentences next to the fields."""

from __future__ import annotations

import html as htmllib
from typing import Any

from bedboard.auth import Role
from tests.conftest import login

URL = "/admin/order-types/emergency_96h/ladder"


def _row(i: int, hours: str, audiences: list[str], ack: str = "60", **flags: bool) -> list[Any]:
    fields: list[Any] = [(f"{i}-hours_before", hours), (f"{i}-ack_minutes", ack)]
    fields += [(f"{i}-audiences", a) for a in audiences]
    fields += [(f"{i}-{name}", "true") for name, on in flags.items() if on]
    return fields


async def _admin(client: Any, make_user: Any) -> Any:
    admin = await make_user(Role.ADMIN)
    return await login(client, admin.email)


async def test_the_order_types_page_links_each_ladder(client: Any, make_user: Any) -> None:
    await _admin(client, make_user)
    page = htmllib.unescape(await (await client.get("/admin/order-types")).text())
    assert f'href="{URL}"' in page
    assert "4 rungs: 24 h before, 12 h before, 4 h before, at the deadline" in page
    assert 'href="/admin/order-types"' in page  # in the navigation
    form = htmllib.unescape(await (await client.get(URL)).text())
    assert form.count("<legend>Rung ") == 4
    assert 'name="0-hours_before" type="number" value="24"' in form
    assert "the state hospital's intake" in form


async def test_the_ladder_form_saves_rows_in_the_order_of_their_hours(
    client: Any, make_user: Any, conn: Any
) -> None:
    session = await _admin(client, make_user)
    data = [
        ("csrf_token", session.csrf),
        ("rows", "2"),
        ("action", "save"),
        *_row(0, "0", ["court"], "240"),
        *_row(
            1,
            "30",
            ["supervisor", "liaison"],
            "90",
            only_without_acceptance=True,
            offer_wider_search=True,
        ),
    ]
    resp = await client.post(URL, data=data, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == URL + "?saved=1"
    rows = await conn.fetch(
        "SELECT position, hours_before, audiences, only_without_acceptance, offer_wider_search,"
        " ack_minutes FROM escalation_rungs WHERE order_type = 'emergency_96h' ORDER BY position"
    )
    assert [tuple(r) for r in rows] == [
        (1, 30, ["supervisor", "liaison"], True, True, 90),
        (2, 0, ["court"], False, False, 240),
    ]


async def test_add_and_remove_a_row_reshow_the_form_without_saving(
    client: Any, make_user: Any, conn: Any
) -> None:
    session = await _admin(client, make_user)
    base = [
        ("csrf_token", session.csrf),
        ("rows", "2"),
        *_row(0, "24", ["supervisor"]),
        *_row(1, "12", ["liaison"]),
    ]
    added = htmllib.unescape(await (await client.post(URL, data=[*base, ("action", "add")])).text())
    assert added.count("<legend>Rung ") == 3 and 'name="rows" value="3"' in added
    removed = htmllib.unescape(await (await client.post(URL, data=[*base, ("remove", "0")])).text())
    assert removed.count("<legend>Rung ") == 1
    assert 'name="0-hours_before" type="number" value="12"' in removed
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM escalation_rungs WHERE order_type = 'emergency_96h'"
        )
        == 4
    )


async def test_bad_rows_come_back_with_a_sentence_next_to_each_field(
    client: Any, make_user: Any, conn: Any
) -> None:
    session = await _admin(client, make_user)
    data = [
        ("csrf_token", session.csrf),
        ("rows", "4"),
        ("action", "save"),
        *_row(0, "400", ["court"]),
        *_row(1, "12", [], "0"),
        *_row(2, "twelve", ["liaison"]),
        *_row(3, "2", ["sheriff"]),
    ]
    resp = await client.post(URL, data=data)
    assert resp.status == 422
    page = htmllib.unescape(await resp.text())
    assert (
        '<p class="field__error" id="f-0-hours_before-error">Hours before must be a whole '
        "number from 0 to 336 (0 is at the deadline).</p>" in page
    )
    assert 'id="f-1-audiences-error">Choose at least one audience.</p>' in page
    assert 'id="f-1-ack_minutes-error">Minutes to acknowledge must be a whole number' in page
    assert 'id="f-2-hours_before-error">Hours before must be' in page
    assert 'id="f-3-audiences-error">Choose the audiences from the list.</p>' in page
    assert 'value="twelve"' in page  # what was typed stays
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM escalation_rungs WHERE order_type = 'emergency_96h'"
        )
        == 4
    )


async def test_two_rungs_at_one_hour_are_named_next_to_the_second(
    client: Any, make_user: Any
) -> None:
    session = await _admin(client, make_user)
    data = [
        ("csrf_token", session.csrf),
        ("rows", "2"),
        ("action", "save"),
        *_row(0, "12", ["liaison"]),
        *_row(1, "12", ["court"]),
    ]
    resp = await client.post(URL, data=data)
    assert resp.status == 422
    page = htmllib.unescape(await resp.text())
    assert (
        'id="f-1-hours_before-error">No two rungs at the same hour: rung 1 is also 12 '
        "hours before the deadline.</p>" in page
    )


async def test_only_administrators_open_the_ladder_pages(
    client: Any, make_user: Any, conn: Any
) -> None:
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    for path in ("/admin/order-types", URL):
        assert (await client.get(path)).status == 403
    resp = await client.post(
        URL, data=[("csrf_token", session.csrf), ("rows", "0"), ("action", "save")]
    )
    assert resp.status == 403
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM escalation_rungs WHERE order_type = 'emergency_96h'"
        )
        == 4
    )


async def test_an_unknown_order_type_has_no_ladder_page(client: Any, make_user: Any) -> None:
    await _admin(client, make_user)
    assert (await client.get("/admin/order-types/nope/ladder")).status == 404
