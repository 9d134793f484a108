"""Deterministic seed data: facilities in real Missouri counties, their units and census.

Everything is drawn from ``random.Random(seed)``, so two runs with the same sizes write
the same rows (census times are relative to the database clock at seeding). Rows go in
with COPY; identity sequences are moved past the copied ids afterwards. ``unit_freshness``
is filled with the state each unit is in, as a running service would have recorded it,
so the freshness job publishes only the changes that happen during the run.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bedboard import auth, database, users
from bedboard.auth import Role
from bedboard.facilities import PAYERS, SPECIALTIES, FacilityKind

SEED = 20240601
CADENCES_MIN = (60, 240, 720, 1440)
POPULATIONS = (("adult", 50), ("adolescent", 20), ("child", 10), ("geriatric", 20))
GENDERS = (("any", 60), ("male", 20), ("female", 20))
SECURITY = (("open", 15), ("standard", 55), ("secure", 20), ("forensic", 10))
KINDS = tuple(kind.value for kind in FacilityKind)


@dataclass(frozen=True)
class Seeded:
    facilities: int
    units: int
    census_rows: int
    seeded_at: datetime  # database clock; every seeded as_of is before it
    seconds: float


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _census(
    rng: random.Random, unit_id: int, beds: int, cadence: int, now: datetime
) -> tuple[Any, ...]:
    staffed = max(beds - rng.randrange(0, 5), 1)
    occupied = rng.randrange(0, staffed + 1)
    if rng.random() < 0.3:  # a third of units run full: "no beds" must be explained too
        occupied = staffed
    blocked = min(rng.randrange(0, 2), staffed - occupied)
    available = staffed - occupied - blocked
    roll = rng.random()
    if roll < 0.80:  # fresh
        age = rng.uniform(0, cadence * 0.8)
    elif roll < 0.92:  # late
        age = rng.uniform(cadence * 1.05, cadence * 1.9)
    else:  # stale
        age = rng.uniform(cadence * 2.2, cadence * 6)
    as_of = now - timedelta(minutes=age)
    received = as_of + timedelta(seconds=rng.uniform(1, 90))
    if received > now:
        received = now
    return (unit_id, staffed, occupied, blocked, available, 0, as_of, received, "bench", None)


async def seed_directory(
    conn: database.Connection,
    facilities: int,
    units: int,
    *,
    census: bool = True,
    cadences_min: Sequence[int] = CADENCES_MIN,
) -> Seeded:
    """Facilities (``units`` spread evenly over them) with census for about 95% of units
    (none with ``census=False``: every unit ``never`` reported, for a history to fill);
    each facility's reporting cadence drawn from ``cadences_min``."""
    import time

    started = time.perf_counter()
    rng = random.Random(SEED)
    counties = await conn.fetch("SELECT fips, latitude, longitude FROM counties ORDER BY fips")
    now: datetime = await conn.fetchval("SELECT now()")
    facility_rows: list[tuple[Any, ...]] = []
    cadence_of: dict[int, int] = {}
    for fid in range(1, facilities + 1):
        county = counties[rng.randrange(len(counties))]
        cadence = rng.choice(cadences_min)
        cadence_of[fid] = cadence
        facility_rows.append(
            (
                fid,
                f"Bench Facility {fid:05d}",
                rng.choice(KINDS),
                f"{rng.randrange(1, 9999)} Main St",
                f"Town {fid % 700:03d}",
                county["fips"],
                round(county["latitude"] + rng.uniform(-0.2, 0.2), 6),
                round(county["longitude"] + rng.uniform(-0.2, 0.2), 6),
                "573-555-0100",
                "573-555-0199",
                rng.random() < 0.98,
                cadence,
            )
        )
    unit_rows: list[tuple[Any, ...]] = []
    census_rows: list[tuple[Any, ...]] = []
    per_facility, extra = divmod(units, facilities)
    uid = 0
    for fid in range(1, facilities + 1):
        for j in range(per_facility + (1 if fid <= extra else 0)):
            uid += 1
            population = _weighted(rng, POPULATIONS)
            specialties = sorted(rng.sample(SPECIALTIES, rng.choice((0, 0, 1, 1, 2, 3))))
            if population == "geriatric" and rng.random() < 0.6 and "dementia" not in specialties:
                specialties = sorted([*specialties, "dementia"])
            payers = sorted(rng.sample(PAYERS, rng.randrange(1, 6)))
            beds = rng.randrange(6, 41)
            unit_rows.append(
                (
                    uid,
                    fid,
                    f"Unit {j + 1:02d}",
                    population,
                    _weighted(rng, GENDERS),
                    _weighted(rng, SECURITY),
                    specialties,
                    rng.random() < 0.85,
                    rng.random() < 0.70,
                    payers,
                    beds,
                    rng.random() < 0.97,
                )
            )
            if rng.random() < 0.95 and census:
                census_rows.append(_census(rng, uid, beds, cadence_of[fid], now))
    async with conn.transaction():
        await conn.copy_records_to_table(
            "facilities",
            records=facility_rows,
            columns=[
                "id", "name", "kind", "address", "city", "county_fips", "latitude",
                "longitude", "phone_main", "phone_intake", "active", "report_cadence_minutes",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "units",
            records=unit_rows,
            columns=[
                "id", "facility_id", "name", "population", "gender", "security_level",
                "specialties", "accepts_involuntary", "accepts_court_ordered", "payers",
                "licensed_beds", "active",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "unit_census",
            records=census_rows,
            columns=[
                "unit_id", "staffed", "occupied", "blocked", "available", "held", "as_of",
                "received_at", "source", "reported_by",
            ],
        )  # fmt: skip
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('facilities', 'id'),"
            " (SELECT max(id) FROM facilities))"
        )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('units', 'id'), (SELECT max(id) FROM units))"
        )
        await conn.execute(
            """
            INSERT INTO unit_freshness (unit_id, state)
            SELECT u.id,
                   CASE WHEN c.as_of IS NULL THEN 'never'
                        WHEN now() - c.as_of <= make_interval(mins => f.report_cadence_minutes)
                          THEN 'fresh'
                        WHEN now() - c.as_of <= make_interval(mins => 2 * f.report_cadence_minutes)
                          THEN 'late'
                        ELSE 'stale' END
              FROM units u JOIN facilities f ON f.id = u.facility_id
              LEFT JOIN unit_census c ON c.unit_id = u.id
            """
        )
    await conn.execute("ANALYZE")
    return Seeded(
        facilities=facilities,
        units=units,
        census_rows=len(census_rows),
        seeded_at=now,
        seconds=time.perf_counter() - started,
    )


async def make_user(
    conn: database.Connection, email: str, role: Role, facility_ids: list[int] | None = None
) -> int:
    async with conn.transaction():
        user = await users.create_user(
            conn, users.UserIn(email=email, role=role, facility_ids=facility_ids or [])
        )
    return user.id


async def make_tokens(conn: database.Connection, user_id: int, count: int) -> list[str]:
    """``count`` API tokens of one user (one per simulated browser)."""
    async with conn.transaction():
        return [(await auth.create_token(conn, user_id, f"bench {i}")).token for i in range(count)]


async def reporting_units(
    conn: database.Connection, facilities: int, per_facility: int
) -> list[tuple[int, int]]:
    """(unit id, facility id) of active units in the first active facilities, for updates."""
    rows = await conn.fetch(
        """
        SELECT u.id, u.facility_id FROM units u JOIN facilities f ON f.id = u.facility_id
         WHERE u.active AND f.active AND f.id IN (
               SELECT id FROM facilities WHERE active ORDER BY id LIMIT $1)
         ORDER BY u.facility_id, u.id
        """,
        facilities,
    )
    picked: dict[int, list[int]] = {}
    for row in rows:
        members = picked.setdefault(row["facility_id"], [])
        if len(members) < per_facility:
            members.append(row["id"])
    return [(uid, fid) for fid, ids in picked.items() for uid in ids]
