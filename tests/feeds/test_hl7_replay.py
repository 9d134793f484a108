"""Replay a recorded-style ADT feed through the listener and compare the final census with
an oracle.

The feed (deterministic, seeded) has 400 bed events plus the usual trouble: 10 % sent
twice, 10 % out of order (held back up to 40 messages), 5 % dated in the future, 5 %
older than what is already known for their bed (a backlog replayed at the end), 5 %
malformed. The oracle is deliberately naive: a bed's status is the one
from the newest valid event naming it (ties: the later arrival), and a unit counts the
beds configured or named by a valid event.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.feeds.hl7_support import Site, adt, site_factory

__all__ = ["site_factory"]

SEED = 20240607
EVENTS = 400
DECLARED = {
    "4EAST": [f"{room}^{bed}" for room in (401, 402, 403) for bed in (1, 2)],
    "4WEST": [f"{room}^{bed}" for room in (411, 412) for bed in (1, 2)],
}
LEARNT = {"5NORTH": [f"5{n:02d}^1" for n in range(1, 6)]}  # beds only messages name


@dataclass
class Sent:
    raw: bytes
    ctrl: str  # what MSA-2 must echo
    expect: str  # AA / AE / AR
    at: datetime
    changes: tuple[tuple[str, str], ...]  # (bed, status) the message means; () if invalid


def all_beds() -> list[str]:
    return [f"{poc}^{rest}" for poc, rests in (DECLARED | LEARNT).items() for rest in rests]


def event(rng: random.Random, ctrl: str, at: datetime) -> Sent:
    beds = all_beds()
    trigger = rng.choice(["A01", "A01", "A02", "A03", "A03", "A11", "A12", "A13", "A20", "A20"])
    here = rng.choice(beds)
    prior = rng.choice([b for b in beds if b != here])
    if trigger == "A20":
        status = rng.choice("OUUCHIK")
        return Sent(
            adt("A20", ctrl, at, here=here, status=status), ctrl, "AA", at, ((here, status),)
        )
    if trigger in ("A02", "A12"):
        changes: tuple[tuple[str, str], ...] = ((prior, "U"), (here, "O"))
        return Sent(adt(trigger, ctrl, at, here=here, prior=prior), ctrl, "AA", at, changes)
    status = "O" if trigger in ("A01", "A13") else "U"
    return Sent(adt(trigger, ctrl, at, here=here), ctrl, "AA", at, ((here, status),))


def malformed(rng: random.Random, sent: Sent) -> Sent:
    kind = rng.choice(["no-location", "bad-time", "truncated", "garbage", "bad-status"])
    raw = sent.raw
    if kind == "no-location":
        raw = raw.replace(b"|I|", b"|I|^^", 1).replace(b"NPU|", b"NPU|^^", 1)
    elif kind == "bad-time":
        raw = raw.replace(b"EVN|", b"EVN|A99|2024\rZZZ|", 1)
    elif kind == "truncated":
        raw = raw[: raw.index(b"\rEVN")]
    elif kind == "bad-status":
        raw = adt("A20", sent.ctrl, sent.at, here=rng.choice(all_beds()), status="Z")
    else:
        return Sent(rng.randbytes(rng.randint(1, 300)), "", "AR", sent.at, ())
    return Sent(raw, sent.ctrl, "AR", sent.at, ())


def recorded_feed(now: datetime) -> list[Sent]:
    rng = random.Random(SEED)
    start = now - timedelta(hours=3)
    feed = [event(rng, f"R{i:05d}", start + timedelta(seconds=20 * i)) for i in range(EVENTS)]
    positions = list(range(EVENTS))
    rng.shuffle(positions)
    fifth = EVENTS // 20
    bad, future, old = (
        positions[:fifth],
        positions[fifth : 2 * fifth],
        positions[2 * fifth : 3 * fifth],
    )
    for i in bad:
        feed[i] = malformed(rng, feed[i])
    for i in future:
        at = now + timedelta(minutes=rng.randint(30, 600))
        redo = event(rng, feed[i].ctrl, at)
        feed[i] = Sent(redo.raw, redo.ctrl, "AE", at, ())
    for i in old:
        # Older than anything the feed says so far: a backlog replayed late (sent last).
        at = start - timedelta(minutes=rng.randint(1, 120))
        feed[i] = event(rng, feed[i].ctrl, at)
    backlog = [feed[i] for i in sorted(old)]
    feed = [sent for i, sent in enumerate(feed) if i not in set(old)]
    # 10 % out of order: held back and sent 1 to 40 messages later.
    for i in sorted(rng.sample(range(len(feed)), EVENTS // 10), reverse=True):
        feed.insert(min(len(feed), i + rng.randint(1, 40)), feed.pop(i))
    feed += backlog
    # 10 % duplicates: the same bytes again, a little later.
    for i in sorted(rng.sample(range(EVENTS), EVENTS // 10), reverse=True):
        feed.insert(min(len(feed), i + rng.randint(1, 30)), feed[i])
    return feed


def oracle(
    arrivals: Iterable[Sent], declared: dict[str, list[str]]
) -> tuple[dict[str, str], dict[str, tuple[int, int, int]]]:
    """Bed statuses and per-point-of-care (staffed, occupied, blocked) from the valid,
    newest events; the first arrival of a control id counts, later ones are duplicates."""
    seen: set[str] = set()
    newest: dict[str, tuple[tuple[datetime, int, int], str]] = {}
    for order, sent in enumerate(arrivals):
        if sent.expect != "AA" or sent.ctrl in seen:
            continue
        seen.add(sent.ctrl)
        for k, (bed, status) in enumerate(sent.changes):
            key = (sent.at, order, k)
            if bed not in newest or key > newest[bed][0]:
                newest[bed] = (key, status)
    statuses = {bed: status for bed, (_, status) in newest.items()}
    census: dict[str, tuple[int, int, int]] = {}
    for poc in sorted({b.split("^")[0] for b in statuses} | set(declared)):
        beds = {b for b in statuses if b.startswith(poc + "^")}
        beds |= {f"{poc}^{rest}" for rest in declared.get(poc, [])}
        occupied = sum(1 for b in beds if statuses.get(b) == "O")
        blocked = sum(1 for b in beds if statuses.get(b, "U") in "CHIK")
        census[poc] = (len(beds), occupied, blocked)
    return statuses, census


async def test_replay_matches_oracle(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST", "4WEST", "5NORTH"], config={"beds": DECLARED})
    now = datetime.now(UTC).replace(microsecond=0)
    feed = recorded_feed(now)
    assert len(feed) == EVENTS + EVENTS // 10
    assert sum(1 for s in feed if s.expect == "AR") >= EVENTS // 20
    peer = await site.peer()
    for sent in feed:
        ack = await peer.send(sent.raw)
        assert (ack.code, ack.control_id) == (sent.expect, sent.ctrl), (ack, sent.raw[:120])
    await peer.close()

    statuses, expected = oracle(feed, DECLARED)
    assert await site.beds() == statuses
    for poc in ("4EAST", "4WEST", "5NORTH"):
        assert await site.census(poc) == expected[poc], poc
        newest = max(
            s.at
            for s in feed
            if s.expect == "AA" and any(b.startswith(poc + "^") for b, _ in s.changes)
        )
        as_of = await site.as_of(poc)
        assert newest <= as_of < newest + timedelta(seconds=1)
    messages = await site.conn.fetchval("SELECT count(*) FROM hl7_messages")
    assert messages == len({s.ctrl for s in feed if s.expect == "AA"})
    assert await site.health() in ("ok", "failing")
