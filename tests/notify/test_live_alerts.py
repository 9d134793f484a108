"""In-app alerts travel the live connection to their own user only, ids and the
reference on the wire."""

from __future__ import annotations

from typing import Any

from bedboard import notify
from bedboard.notify import Channel, Recipient
from tests.notify.conftest import World, config, db_now
from tests.placements.test_live_topics import frames, subscribe


async def test_an_alert_frame_reaches_only_its_user(world: World, pool: Any) -> None:
    sockets = {
        who: await subscribe(world, who, ["alerts"]) for who in ("liaison", "liaison2", "admin")
    }
    now = await db_now(world.conn)
    message = notify.referral_answered(
        reference="PL-2026-000042",
        placement_id=1,
        status="accepted",
        facility="Hillcrest Behavioral",
        unit="Adult Acute",
        deadline_at=None,
    )
    (did,) = await notify.enqueue(
        world.conn,
        key="live",
        message=message,
        recipients=[Recipient(Channel.IN_APP, user_id=world.ids["user_liaison"])],
        critical=False,
        now=now,
    )
    await notify.dispatch_due(pool, config(), now=now)
    got = {who: await frames(ws) for who, ws in sockets.items()}
    for ws in sockets.values():
        await ws.close()
    assert [f["data"] for f in got["liaison"]] == [
        {
            "kind": "alert",
            "delivery_id": did,
            "user_id": world.ids["user_liaison"],
            "event": "referral_answered",
            "reference": "PL-2026-000042",
            "critical": False,
        }
    ]
    assert got["liaison2"] == [] and got["admin"] == []
