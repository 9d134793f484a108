"""The reports benchmark's data: a year of program history over a 5,000-unit directory.

``build_reports_year(conn)`` seeds the directory (``seed.seed_directory``, without a
current census: the history gives every unit its last report as its census), the people
the history names (liaisons, a probate court per circuit, facility users who answer
referrals), then ``synthetic.generate_history`` for the year ending at the database
clock: about 2 census reports per unit per day (3.6 million rows) and 20,000 placements.
The same sizes and seed give the same rows. The timing scenario is written elsewhere.

Run it alone to see the sizes and the time: ``python -m bench.reports_data`` (its own
embedded PostgreSQL in a temporary directory).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime

from bedboard import courts, database, synthetic, users
from bedboard.auth import Role
from bench import seed

SEED = 20261202
FACILITIES = 500
UNITS = 5_000
DAYS = 365
PLACEMENTS = 20_000
CENSUS_PER_UNIT_PER_DAY = 2.0
# Twice-daily and daily reporters: two reports a unit a day is then about each one's own
# cadence, so the compliance figures look like a program's and not like a backlog.
CADENCES_MIN = (720, 720, 720, 1440)
LIAISONS = 30
CIRCUITS = 46  # Missouri's judicial circuits: one probate division each
FACILITY_USER_SHARE = 0.6  # facilities whose referrals a facility user answers


@dataclass(frozen=True)
class ReportsYear:
    directory: seed.Seeded
    history: synthetic.HistoryCounts
    now: datetime  # the history ends here (the database clock when it was built)
    liaison_ids: list[int]
    court_ids: list[int]
    seconds: float  # everything, directory included


async def _people(
    conn: database.Connection, rng: random.Random, facility_ids: list[int]
) -> tuple[list[int], list[int]]:
    """Liaisons, courts and facility users (no passwords: nobody signs in as them)."""
    counties = [r["fips"] for r in await conn.fetch("SELECT fips FROM counties ORDER BY fips")]
    async with conn.transaction():
        liaisons = [
            (
                await users.create_user(
                    conn,
                    users.UserIn(
                        email=f"liaison{i:02d}@reports.bench.example",
                        display_name=f"Liaison {i:02d}",
                        role=Role.LIAISON,
                    ),
                )
            ).id
            for i in range(1, LIAISONS + 1)
        ]
        court_ids = [
            (
                await courts.create_court(
                    conn,
                    courts.CourtIn(
                        name=f"Circuit {circuit} Probate Division (bench)",
                        circuit=circuit,
                        county_fips=county,
                    ),
                )
            ).id
            for circuit, county in enumerate(rng.sample(counties, CIRCUITS), 1)
        ]
        for facility_id in facility_ids:
            if rng.random() < FACILITY_USER_SHARE:
                await users.create_user(
                    conn,
                    users.UserIn(
                        email=f"intake{facility_id:05d}@reports.bench.example",
                        role=Role.FACILITY,
                        facility_ids=[facility_id],
                    ),
                )
    return liaisons, court_ids


async def build_reports_year(
    conn: database.Connection,
    *,
    facilities: int = FACILITIES,
    units: int = UNITS,
    days: int = DAYS,
    placements: int = PLACEMENTS,
    census_per_unit_per_day: float = CENSUS_PER_UNIT_PER_DAY,
    seed_value: int = SEED,
) -> ReportsYear:
    """Seed an empty, migrated database with the benchmark's year. ``conn`` should be a
    plain connection (``database.connect``): the pool's 15 s statement timeout is shorter
    than the history's census statements."""
    started = time.perf_counter()
    directory = await seed.seed_directory(
        conn, facilities, units, census=False, cadences_min=CADENCES_MIN
    )
    facility_ids = [r["id"] for r in await conn.fetch("SELECT id FROM facilities ORDER BY id")]
    liaison_ids, court_ids = await _people(conn, random.Random(seed_value), facility_ids)
    now: datetime = await conn.fetchval("SELECT now()")
    history = await synthetic.generate_history(
        conn,
        days=days,
        placements=placements,
        census_changes_per_unit_per_day=census_per_unit_per_day,
        seed=seed_value,
        now=now,
    )
    await conn.execute("ANALYZE")
    return ReportsYear(
        directory, history, now, liaison_ids, court_ids, time.perf_counter() - started
    )


async def _main() -> None:
    from bench.pg import EmbeddedServer, create_database

    server = EmbeddedServer()
    try:
        dsn = await create_database(await asyncio.to_thread(server.start), "reports")
        conn = await database.connect(dsn)
        try:
            year = await build_reports_year(conn)
        finally:
            await conn.close()
    finally:
        server.stop()
    print(year.history)
    print(f"directory {year.directory.seconds:.1f} s, everything {year.seconds:.1f} s")


if __name__ == "__main__":
    asyncio.run(_main())
