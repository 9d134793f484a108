"""Repeat involvement: the same person's earlier placements found by a keyed fingerprint
of name and date of birth, never by the raw values, which are stored nowhere."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest

from bedboard.auth import Role
from bedboard.errors import Invalid
from bedboard.placements import repeat
from tests.conftest import login
from tests.placements.conftest import World

KEY = b"k" * 32
NAME = "Zebulon Quackenbush-Oyelaran"  # a canary: must appear in no table, log or frame
BORN = "1987-04-09"


def test_spellings_of_one_name_give_one_fingerprint() -> None:
    born = date(1987, 4, 9)
    same = [
        "José Smith",
        "SMITH, Jose",
        "  jose   smith ",
        "Smith José",
        "José\u0301 Smith".replace("\u0301", ""),
        "Jose\u0301 Smith",  # combining accent
    ]
    keys = {repeat.person_key(KEY, repeat.PersonIn(full_name=n, birth_date=born)) for n in same}
    assert len(keys) == 1
    other_day = repeat.person_key(
        KEY, repeat.PersonIn(full_name="Jose Smith", birth_date=date(1987, 4, 10))
    )
    other_key = repeat.person_key(
        b"x" * 32, repeat.PersonIn(full_name="Jose Smith", birth_date=born)
    )
    assert other_day not in keys and other_key not in keys
    assert repeat.normalize_name("O'Brien-Smith, Mary Ann") == "ann brien mary o smith"


@pytest.mark.parametrize("name", ["J S", "Smith", "   ", "J. S."])
def test_initials_or_one_word_are_not_a_full_name(name: str) -> None:
    with pytest.raises(Invalid):
        repeat.person_key(KEY, repeat.PersonIn(full_name=name, birth_date=date(1990, 1, 1)))


async def _person(world: World, session: Any, placement_id: int, name: str = NAME) -> Any:
    return await world.client.post(
        f"/placements/{placement_id}/person",
        data={"csrf_token": session.csrf, "full_name": name, "birth_date": BORN},
        allow_redirects=False,
    )


async def test_a_liaison_finds_links_and_unlinks_an_earlier_placement_of_the_person(
    world: World, make_user: Any, conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    first = await world.create()
    unrelated = await world.create()
    second = await world.create()
    assert (await _person(world, session, first["id"])).status == 303
    assert (await _person(world, session, unrelated["id"], "Someone Else")).status == 303
    resp = await _person(world, session, second["id"], "quackenbush oyelaran, zebulon")
    assert resp.status == 303 and "1%20earlier%20placement" in resp.headers["Location"]

    html = await (await world.client.get(f"/placements/{second['id']}")).text()
    assert "1 earlier placement in the last 90 days" in html
    assert first["reference"] in html and unrelated["reference"] not in html
    assert "cases.example.org/C-100" in html  # the earlier case's case-manager link
    assert 'name="full_name"' not in html  # entered once

    link = f"/placements/{second['id']}/person-links/{first['id']}"
    resp = await world.client.post(link, data={"csrf_token": session.csrf}, allow_redirects=False)
    assert resp.status == 303
    html = await (await world.client.get(f"/placements/{second['id']}")).text()
    assert "Unlink " + first["reference"] in html
    resp = await world.client.post(
        link + "/delete", data={"csrf_token": session.csrf}, allow_redirects=False
    )
    assert resp.status == 303
    kinds = [
        r["kind"]
        for r in await conn.fetch(
            "SELECT kind FROM placement_events WHERE placement_id = $1 ORDER BY id", second["id"]
        )
    ]
    assert kinds[-3:] == ["person_identified", "person_linked", "person_unlinked"]
    actions = {
        r["action"]
        for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE object_id = $1", str(second["id"])
        )
    }
    assert {"placement.person_key", "placement.person_link", "placement.person_unlink"} <= actions

    # The raw name and date of birth are nowhere: not in any table, log or outbox frame.
    dump = await conn.fetchval(
        """
        SELECT string_agg(t::text, ' ') FROM (
            SELECT row_to_json(x)::text AS t FROM placement_events x
            UNION ALL SELECT row_to_json(x)::text FROM audit_log x
            UNION ALL SELECT row_to_json(x)::text FROM board_outbox x
            UNION ALL SELECT row_to_json(x)::text FROM person_keys x
            UNION ALL SELECT row_to_json(x)::text FROM person_links x
            UNION ALL SELECT row_to_json(x)::text FROM placements x
        ) s
        """
    )
    for needle in ("Zebulon", "zebulon", "Quackenbush", "quackenbush", BORN, "04-09-1987"):
        assert needle not in dump
        assert needle not in caplog.text


async def test_a_name_that_is_not_a_full_name_is_refused_next_to_the_field(
    world: World, make_user: Any, conn: Any
) -> None:
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    placement = await world.create()
    resp = await _person(world, session, placement["id"], "J D")
    assert resp.status == 303 and "person_error=full_name" in resp.headers["Location"]
    assert "J" not in resp.headers["Location"].split("?")[1].replace("person_error", "")
    html = await (await world.client.get(resp.headers["Location"])).text()
    assert "Enter the person&#39;s full name (first and last), not initials." in html
    resp = await world.client.post(
        f"/placements/{placement['id']}/person",
        data={"csrf_token": session.csrf, "full_name": NAME, "birth_date": "09/04/1987"},
        allow_redirects=False,
    )
    assert "person_error=birth_date" in resp.headers["Location"]
    assert await conn.fetchval("SELECT count(*) FROM person_keys") == 0


async def test_an_unrelated_placement_cannot_be_linked(world: World, make_user: Any) -> None:
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    a, b = await world.create(), await world.create()
    await _person(world, session, a["id"])
    await _person(world, session, b["id"], "Another Person")
    resp = await world.client.post(
        f"/placements/{b['id']}/person-links/{a['id']}",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert resp.status == 404


async def test_facility_and_court_users_cannot_use_the_person_lookup(
    world: World, make_user: Any, make_facility: Any
) -> None:
    placement = await world.create()
    for role, extra in ((Role.FACILITY, {"facility_ids": [world.ids["facility_a"]]}),
                        (Role.COURT, {"court_id": world.ids["court"]})):  # fmt: skip
        user = await make_user(role, **extra)
        session = await login(world.client, user.email)
        resp = await _person(world, session, placement["id"])
        # a facility not referred is not told the placement exists; a court is refused
        assert resp.status in (403, 404), role
    assert await world.conn.fetchval("SELECT count(*) FROM person_keys") == 0


async def test_the_demo_has_a_linked_repeat_case(conn: Any, tmp_path: Any) -> None:
    from bedboard import demo

    await demo.ensure_demo(conn, tmp_path, KEY)
    later = await conn.fetchval(
        "SELECT id FROM placements WHERE person_initials = 'JR' ORDER BY id LIMIT 1"
    )
    found = await repeat.earlier(conn, later)
    assert [e.linked for e in found] == [True]
    assert found[0].status == "closed" and found[0].case_links
