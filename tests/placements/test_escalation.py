"""The escalation ladder before the legal deadline, rung by rung, with frozen time (``now``
is passed in, never slept). The seeded 96-hour ladder: T-24 h supervisor (ack 120 min),
T-12 h liaison with a wider search (ack 60), T-4 h the state's on-call and the state
hospital (ack 60), the deadline itself the court clerk (ack 240, also after acceptance)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import auth, placements
from bedboard.errors import Invalid, NotFound
from bedboard.placements import escalation
from bedboard.placements.errors import PlacementOver
from bedboard.placements.escalation import Audience, RungIn
from tests.placements.conftest import CANARY, World

H = timedelta(hours=1)
M = timedelta(minutes=1)


async def _placement(world: World, **overrides: Any) -> tuple[dict[str, Any], datetime]:
    """A 96-hour placement whose detention started an hour ago, and its deadline."""
    start = datetime.now(UTC).replace(microsecond=0) - H
    placement = await world.create(detention_start=start.isoformat(), **overrides)
    return placement, start + 96 * H


async def _principal(world: World, who: str = "liaison") -> auth.Principal:
    row = await world.conn.fetchrow(
        "SELECT email, role FROM users WHERE id = $1", world.ids[f"user_{who}"]
    )
    return auth.Principal(
        user_id=world.ids[f"user_{who}"],
        email=row["email"],
        display_name="",
        role=auth.Role(row["role"]),
    )


async def _positions(world: World, now: datetime) -> list[tuple[int, int | None]]:
    return [(r.position, r.escalated_from) for r in await escalation.run(world.conn, now)]


async def _kinds(world: World, placement_id: int) -> list[str]:
    return [
        e.kind
        for e in await placements.timeline(world.conn, placement_id)
        if e.kind.startswith("escalation_")
    ]


async def test_the_96_hour_orders_are_seeded_with_the_four_rung_ladder(world: World) -> None:
    for code in ("emergency_96h", "emergency_96h_application"):
        ladder = await escalation.ladder(world.conn, code)
        assert [
            (r.position, r.hours_before, r.audiences, r.only_without_acceptance, r.ack_minutes)
            for r in ladder.rungs
        ] == [
            (1, 24, [Audience.SUPERVISOR], True, 120),
            (2, 12, [Audience.LIAISON], True, 60),
            (3, 4, [Audience.STATE_ON_CALL, Audience.STATE_HOSPITAL], True, 60),
            (4, 0, [Audience.COURT], False, 240),
        ]
        assert [r.offer_wider_search for r in ladder.rungs] == [False, True, False, False]
    assert (await escalation.ladder(world.conn, "petition_90_day")).rungs == []
    with pytest.raises(NotFound):
        await escalation.ladder(world.conn, "no_such_order")


async def test_nothing_is_raised_before_t_minus_24(world: World) -> None:
    placement, deadline = await _placement(world)
    assert await escalation.run(world.conn, deadline - 24 * H - M) == []
    assert await escalation.escalations_of(world.conn, placement["id"]) == []


async def test_t_minus_24_raises_the_supervisor_rung_once(world: World) -> None:
    placement, deadline = await _placement(world)
    (raised,) = await escalation.run(world.conn, deadline - 24 * H)
    assert raised.placement_id == placement["id"]
    assert raised.reference == placement["reference"]
    assert raised.position == 1
    assert raised.audiences == [Audience.SUPERVISOR]
    assert raised.deadline == deadline
    assert raised.offer_wider_search is False
    assert raised.escalated_from is None
    assert raised.ack_due_at == deadline - 24 * H + 120 * M
    # Run twice (and again later within the window): still once.
    assert await escalation.run(world.conn, deadline - 24 * H) == []
    assert await escalation.run(world.conn, deadline - 23 * H) == []
    (row,) = await escalation.escalations_of(world.conn, placement["id"])
    assert (row.position, row.raised_at, row.acknowledged_at) == (1, deadline - 24 * H, None)
    assert await _kinds(world, placement["id"]) == ["escalation_raised"]
    audit = await world.conn.fetch(
        "SELECT actor, object_id, detail FROM audit_log WHERE action = 'escalation.raise'"
    )
    assert [(a["actor"], a["object_id"]) for a in audit] == [("system", str(placement["id"]))]
    assert audit[0]["detail"]["audiences"] == ["supervisor"]
    (event,) = await world.conn.fetch(
        "SELECT topic, payload FROM board_outbox WHERE payload->>'event' = 'escalation_raised'"
    )
    assert event["topic"] == "placements"
    assert event["payload"]["escalation_id"] == raised.escalation_id
    assert event["payload"]["placement_id"] == placement["id"]


async def test_the_raised_record_carries_nothing_personal_or_clinical(world: World) -> None:
    _placement_row, deadline = await _placement(world)
    (raised,) = await escalation.run(world.conn, deadline - 24 * H)
    text = raised.model_dump_json()
    for secret in (CANARY, "Agitated", "26P-CV-0042", "Boone County Sheriff", '"jd"', "JD"):
        assert secret not in text
    assert set(raised.model_dump()) == {
        "escalation_id",
        "placement_id",
        "reference",
        "position",
        "audiences",
        "deadline",
        "offer_wider_search",
        "escalated_from",
        "ack_due_at",
    }
    payloads = await world.conn.fetch("SELECT payload::text AS p FROM board_outbox")
    assert all(CANARY not in r["p"] for r in payloads)


async def test_each_rung_is_raised_at_its_time_when_each_is_acknowledged(world: World) -> None:
    placement, deadline = await _placement(world)
    liaison = await _principal(world)

    async def raise_and_acknowledge(now: datetime) -> list[tuple[int, int | None]]:
        raised = await escalation.run(world.conn, now)
        for r in raised:
            await escalation.acknowledge(world.conn, r.escalation_id, liaison, now + M)
        return [(r.position, r.escalated_from) for r in raised]

    assert await raise_and_acknowledge(deadline - 24 * H) == [(1, None)]
    assert await raise_and_acknowledge(deadline - 13 * H) == []
    assert await raise_and_acknowledge(deadline - 12 * H) == [(2, None)]
    assert await raise_and_acknowledge(deadline - 5 * H) == []
    assert await raise_and_acknowledge(deadline - 4 * H) == [(3, None)]
    assert await raise_and_acknowledge(deadline - M) == []
    assert await raise_and_acknowledge(deadline) == [(4, None)]
    rows = await escalation.escalations_of(world.conn, placement["id"])
    assert [r.audiences for r in rows] == [
        [Audience.SUPERVISOR],
        [Audience.LIAISON],
        [Audience.STATE_ON_CALL, Audience.STATE_HOSPITAL],
        [Audience.COURT],
    ]
    assert [r.offer_wider_search for r in rows] == [False, True, False, False]
    assert all(r.escalated_at is None for r in rows)


async def test_acceptance_stops_the_no_acceptance_rungs_but_not_the_deadline_rung(
    world: World,
) -> None:
    placement, deadline = await _placement(world)
    (ref,) = await world.refer(placement["id"], "a1")
    accepted = await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    assert accepted.status == 200
    for now in (deadline - 24 * H, deadline - 12 * H, deadline - 4 * H, deadline - M):
        assert await _positions(world, now) == []
    assert await _positions(world, deadline) == [(4, None)]
    assert await _positions(world, deadline + 5 * H) == []  # the last rung: nowhere to climb


async def test_an_acceptance_after_a_rung_was_raised_stops_it_climbing(world: World) -> None:
    placement, deadline = await _placement(world)
    assert await _positions(world, deadline - 24 * H) == [(1, None)]
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    assert await _positions(world, deadline - 20 * H) == []
    (row,) = await escalation.escalations_of(world.conn, placement["id"])
    assert row.escalated_at is None


async def test_an_unacknowledged_rung_climbs_to_the_next_after_its_window(world: World) -> None:
    placement, deadline = await _placement(world)
    t = deadline - 24 * H
    assert await _positions(world, t) == [(1, None)]
    assert await _positions(world, t + 119 * M) == []
    # 120 minutes without an acknowledgement: passed on, rung 2 raised at once (T-22,
    # ten hours before its own time).
    assert await _positions(world, t + 120 * M) == [(2, 1)]
    assert await _positions(world, t + 120 * M) == []
    assert await _positions(world, t + 180 * M) == [(3, 2)]
    # Even the deadline rung comes early when nobody answers the state's rung.
    assert await _positions(world, t + 240 * M) == [(4, 3)]
    assert await _positions(world, deadline + 10 * H) == []  # the last rung waits
    rows = await escalation.escalations_of(world.conn, placement["id"])
    assert [(r.position, r.escalated_from) for r in rows] == [(1, None), (2, 1), (3, 2), (4, 3)]
    assert [r.escalated_at for r in rows] == [t + 120 * M, t + 180 * M, t + 240 * M, None]
    assert [r.raised_at for r in rows] == [t, t + 120 * M, t + 180 * M, t + 240 * M]
    assert await _kinds(world, placement["id"]) == [
        "escalation_raised",
        "escalation_passed_on",
        "escalation_raised",
        "escalation_passed_on",
        "escalation_raised",
        "escalation_passed_on",
        "escalation_raised",
    ]
    passed = await world.conn.fetch(
        "SELECT detail FROM audit_log WHERE action = 'escalation.pass_on' ORDER BY id"
    )
    assert [(p["detail"]["position"], p["detail"]["to"]) for p in passed] == [
        (1, 2),
        (2, 3),
        (3, 4),
    ]


async def test_acknowledgement_stops_the_climb_for_that_rung(world: World) -> None:
    placement, deadline = await _placement(world)
    liaison = await _principal(world)
    t = deadline - 24 * H
    (raised,) = await escalation.run(world.conn, t)
    acknowledged = await escalation.acknowledge(
        world.conn, raised.escalation_id, liaison, t + 30 * M
    )
    assert acknowledged.acknowledged_at == t + 30 * M
    assert acknowledged.acknowledged_by == liaison.user_id
    assert acknowledged.acknowledged_by_email == liaison.email
    assert await _positions(world, t + 5 * H) == []  # well past its window: no climb
    assert await _positions(world, deadline - 12 * H) == [(2, None)]  # the next at its time
    assert await _kinds(world, placement["id"]) == [
        "escalation_raised",
        "escalation_acknowledged",
        "escalation_raised",
    ]
    (audit,) = await world.conn.fetch(
        "SELECT actor_id, detail FROM audit_log WHERE action = 'escalation.acknowledge'"
    )
    assert audit["actor_id"] == liaison.user_id
    assert audit["detail"] == {"escalation_id": raised.escalation_id, "position": 1}


async def test_acknowledging_twice_is_a_no_op(world: World) -> None:
    placement, deadline = await _placement(world)
    liaison, admin = await _principal(world), await _principal(world, "admin")
    (raised,) = await escalation.run(world.conn, deadline - 24 * H)
    first = await escalation.acknowledge(
        world.conn, raised.escalation_id, liaison, deadline - 23 * H
    )
    again = await escalation.acknowledge(world.conn, raised.escalation_id, admin, deadline - 22 * H)
    assert again == first
    assert await _kinds(world, placement["id"]) == ["escalation_raised", "escalation_acknowledged"]


async def test_a_rung_acknowledged_late_after_it_passed_on_keeps_who_and_when(
    world: World,
) -> None:
    _placement_row, deadline = await _placement(world)
    t = deadline - 24 * H
    (first,) = await escalation.run(world.conn, t)
    await escalation.run(world.conn, t + 3 * H)  # passed on to rung 2
    late = await escalation.acknowledge(
        world.conn, first.escalation_id, await _principal(world), t + 4 * H
    )
    assert late.escalated_at == t + 3 * H and late.acknowledged_at == t + 4 * H


@pytest.mark.parametrize("end", ["closed", "admitted"])
async def test_admitted_and_closed_placements_raise_nothing(world: World, end: str) -> None:
    placement, deadline = await _placement(world)
    pid = placement["id"]
    if end == "closed":
        resp = await world.call(
            "liaison",
            "POST",
            f"/api/v1/placements/{pid}/transition",
            json={"to": "closed", "outcome": "released"},
        )
        assert resp.status == 200
    else:
        (ref,) = await world.refer(pid, "a1")
        await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
        for to in ("in_transit", "admitted"):
            resp = await world.call(
                "liaison", "POST", f"/api/v1/placements/{pid}/transition", json={"to": to}
            )
            assert resp.status == 200, await resp.text()
    for now in (deadline - 24 * H, deadline - 4 * H, deadline, deadline + 24 * H):
        assert await escalation.run(world.conn, now) == []
    assert await escalation.escalations_of(world.conn, pid) == []


async def test_a_raised_rung_on_a_closed_placement_neither_climbs_nor_takes_acknowledgement(
    world: World,
) -> None:
    placement, deadline = await _placement(world)
    (raised,) = await escalation.run(world.conn, deadline - 24 * H)
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "closed", "outcome": "withdrawn"},
    )
    assert await escalation.run(world.conn, deadline - 20 * H) == []
    with pytest.raises(PlacementOver) as refused:
        await escalation.acknowledge(
            world.conn, raised.escalation_id, await _principal(world), deadline - 20 * H
        )
    assert "closed" in refused.value.detail and placement["reference"] in refused.value.detail
    (row,) = await escalation.escalations_of(world.conn, placement["id"])
    assert row.acknowledged_at is None


async def test_a_placement_without_a_legal_clock_never_escalates(world: World) -> None:
    placement = await world.create(order_type="voluntary", court_id=None, case_number="")
    assert placement["deadline_at"] is None
    far = datetime.now(UTC) + timedelta(days=30)
    assert await escalation.run(world.conn, far) == []


async def test_another_instance_running_the_ladder_makes_this_round_skip(
    world: World, db_dsn: str
) -> None:
    from bedboard import database

    _placement_row, deadline = await _placement(world)
    other = await database.connect(db_dsn)
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock($1)", escalation.ESCALATION_LOCK_KEY)
            assert await escalation.run(world.conn, deadline - 24 * H) == []
        assert await _positions(world, deadline - 24 * H) == [(1, None)]
    finally:
        await other.close()


async def test_set_ladder_orders_rungs_by_hours_and_refuses_two_at_one_hour(
    world: World,
) -> None:
    admin = await _principal(world, "admin")
    saved = await escalation.set_ladder(
        world.conn,
        "petition_90_day",
        [
            RungIn(hours_before=0, audiences=[Audience.COURT], ack_minutes=60),
            RungIn(
                hours_before=48, audiences=[Audience.SUPERVISOR, Audience.LIAISON], ack_minutes=90
            ),
        ],
        admin,
    )
    assert [(r.position, r.hours_before) for r in saved.rungs] == [(1, 48), (2, 0)]
    with pytest.raises(Invalid) as refused:
        await escalation.set_ladder(
            world.conn,
            "petition_90_day",
            [
                RungIn(hours_before=12, audiences=[Audience.LIAISON], ack_minutes=60),
                RungIn(hours_before=12, audiences=[Audience.COURT], ack_minutes=60),
            ],
            admin,
        )
    (problem,) = refused.value.fields
    assert problem.field == "rungs.1.hours_before"
    assert "No two rungs at the same hour" in problem.message
    ladder = await escalation.ladder(world.conn, "petition_90_day")
    assert [r.hours_before for r in ladder.rungs] == [48, 0]  # unchanged by the refusal
    (audit,) = await world.conn.fetch(
        "SELECT detail FROM audit_log WHERE action = 'order_type.ladder'"
    )
    assert audit["detail"] == {"rungs": [48, 0]}


async def test_the_scheduler_job_logs_one_line_per_rung_with_the_reference_only(
    world: World, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from bedboard import scheduler
    from bedboard.context import POOL, SETTINGS

    placement, _deadline = await _placement(world)
    # Move the deadline so the supervisor's rung is due now by the database's clock.
    await world.conn.execute(
        "UPDATE placements SET deadline_at = now() + interval '23 hours' WHERE id = $1",
        placement["id"],
    )
    caplog.set_level(logging.INFO, logger="bedboard.scheduler")
    raised = await scheduler.escalation_ladder(client.app[POOL], client.app[SETTINGS])
    assert [(r.placement_id, r.position) for r in raised] == [(placement["id"], 1)]
    lines = [r.getMessage() for r in caplog.records if r.name == "bedboard.scheduler"]
    assert lines == [f"escalation: {placement['reference']} rung 1 raised"]
    assert CANARY not in caplog.text
