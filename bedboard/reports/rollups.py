# ruff: noqa: S608 -- every statement here is composed only of constant fragments
"""Roll-ups of the census history for the compliance and capacity figures (daily and by
hour of the week).

These figures read every report of every unit in their period: at a year of state
history (5,000 units, 3.5 million reports) each took 5 to 7 s. ``refresh`` keeps, per
group (a facility's active units of one age group) and local day, what the figures sum:
capacity in force at the end of the day, the seconds fresh / late / stale and every
overdue episode; and per group, the change in the beds in force at each top of the hour
where they changed. The figures then read these small rows (``figures.COMPLIANCE``,
``CAPACITY`` and ``CAPACITY_BY_HOUR``, their ``rollup_body``) and give the same numbers
the live statements give as of the refresh (tests/reports/test_rollups.py).

A refresh recomputes, for each group, the days from the last refresh's day (the units'
latest reports are still running) or from the earliest report received since, whichever
is earlier; a group whose units, activity or cadence changed is recomputed from its first
report, and one with no active units left is dropped. One instance refreshes at a time
(an advisory lock); the scheduler calls it every ``INTERVAL_S``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bedboard.database import Connection
from bedboard.freshness import STALE_AFTER_CADENCES
from bedboard.reports.figures import EFFECTIVE_HOUR

INTERVAL_S = 300
# Census writes stamp received_at with their transaction's start, which may be a little
# before the refresh that cannot yet see them commit: look back this far.
RECEIVED_MARGIN = timedelta(minutes=5)
LOCK_KEY = 0x62656462_00000012  # "bedb" + rollups
_FIRST_DAY = date(1970, 1, 1)


# A group: (facility id, age group, need: '' for all its units, or a specialty code).
Group = tuple[int, str, str]


@dataclass(frozen=True)
class State:
    zone: str
    refreshed_at: datetime
    took_ms: int


@dataclass(frozen=True)
class Refreshed:
    refreshed_at: datetime
    groups: int  # groups recomputed
    rebuilt: int  # of which from their first report
    dropped: int
    took_ms: int


async def state(conn: Connection) -> State | None:
    row = await conn.fetchrow("SELECT zone, refreshed_at, took_ms FROM report_rollup_state")
    return State(row["zone"], row["refreshed_at"], row["took_ms"]) if row else None


# The groups: a facility's active units of one age group (need ''), and of those, the ones
# that serve each need (a specialty code) one of them serves.
_GROUPS_SQL = """
    SELECT u.facility_id, u.population, g.need,
           md5(string_agg(u.id::text, ',' ORDER BY u.id) || '/'
               || min(fac.report_cadence_minutes)) AS digest
      FROM units u JOIN facilities fac ON fac.id = u.facility_id
     CROSS JOIN LATERAL (
         SELECT '' AS need UNION SELECT s FROM unnest(u.specialties) AS s) g
     WHERE u.active AND fac.active
     GROUP BY u.facility_id, u.population, g.need
"""

# The earliest local day of the reports each group received since the last refresh.
_CHANGED_SQL = """
    SELECT u.facility_id, u.population, min((h.as_of AT TIME ZONE $3)::date) AS day
      FROM census_history h JOIN units u ON u.id = h.unit_id
     WHERE h.received_at >= $1 OR h.id > $2
     GROUP BY u.facility_id, u.population
"""

# The groups to recompute ($1 facility ids, $2 populations, $3 needs, $4 first days), with
# each group's active units (of a need's group, those that serve it); $5 is the zone.
_TODO = """
    todo AS (
        SELECT t.facility_id, t.population, t.need, t.from_day,
               (t.from_day::timestamp AT TIME ZONE $5) AS from_at
          FROM unnest($1::bigint[], $2::text[], $3::text[], $4::date[])
               AS t(facility_id, population, need, from_day)
    ), units_in AS (
        SELECT u.id AS unit_id, t.facility_id, t.population, t.need, t.from_day, t.from_at,
               make_interval(mins => fac.report_cadence_minutes) AS cadence
          FROM todo t
          JOIN units u ON u.facility_id = t.facility_id AND u.population = t.population
           AND (t.need = '' OR t.need = ANY(u.specialties))
          JOIN facilities fac ON fac.id = u.facility_id
         WHERE u.active AND fac.active
    )"""

_DELETE_SQL = f"""
    WITH {_TODO.strip()}
    , capacity AS (
        DELETE FROM capacity_daily c USING todo t
         WHERE c.facility_id = t.facility_id AND c.population = t.population AND c.need = t.need
           AND c.day >= t.from_day
    ), hourly AS (
        DELETE FROM capacity_hourly c USING todo t
         WHERE c.facility_id = t.facility_id AND c.population = t.population AND c.need = t.need
           AND c.at >= t.from_at
    ), compliance AS (
        DELETE FROM compliance_daily c USING todo t
         WHERE c.facility_id = t.facility_id AND c.population = t.population AND c.need = t.need
           AND c.day >= t.from_day
    )
    DELETE FROM compliance_overdue o USING todo t
     WHERE o.facility_id = t.facility_id AND o.population = t.population AND o.need = t.need
       AND (o.as_of >= t.from_at OR o.ended_at IS NULL OR o.ended_at >= t.from_at)
"""

# Capacity: each unit's last report of each day from the group's first day (the one in
# force at its start counts on it), in force until its successor's day; summed per group
# as running totals over the days. $6 is the refresh instant.
_CAPACITY_SQL = f"""
    WITH {_TODO.strip()},
    reports AS (
        SELECT ui.facility_id, ui.population, ui.need, ui.unit_id, ui.from_day AS day, b.as_of,
               b.staffed, b.occupied, b.blocked, b.available
          FROM units_in ui CROSS JOIN LATERAL (
              SELECT h.as_of, h.staffed, h.occupied, h.blocked, h.available
                FROM census_history h WHERE h.unit_id = ui.unit_id AND h.as_of < ui.from_at
               ORDER BY h.as_of DESC LIMIT 1) b
        UNION ALL
        SELECT ui.facility_id, ui.population, ui.need, ui.unit_id, (h.as_of AT TIME ZONE $5)::date,
               h.as_of, h.staffed, h.occupied, h.blocked, h.available
          FROM units_in ui JOIN census_history h ON h.unit_id = ui.unit_id
           AND h.as_of >= ui.from_at
    ), daily_last AS (
        SELECT DISTINCT ON (need, unit_id, day) * FROM reports
         ORDER BY need, unit_id, day, as_of DESC
    ), spans AS (
        SELECT d.*, lead(d.day) OVER (PARTITION BY d.need, d.unit_id ORDER BY d.day) AS next_day
          FROM daily_last d
    ), deltas AS (
        SELECT facility_id, population, need, day, 1 AS units, staffed, occupied, blocked,
               available
          FROM spans
        UNION ALL
        SELECT facility_id, population, need, next_day, -1, -staffed, -occupied, -blocked,
               -available
          FROM spans WHERE next_day IS NOT NULL
    ), per_day AS (
        SELECT facility_id, population, need, day, sum(units) AS units,
               sum(staffed) AS staffed, sum(occupied) AS occupied, sum(blocked) AS blocked,
               sum(available) AS available
          FROM deltas GROUP BY facility_id, population, need, day
    ), grid AS (
        SELECT t.facility_id, t.population, t.need, d::date AS day
          FROM todo t CROSS JOIN generate_series(
                 t.from_day::timestamp, ($6::timestamptz AT TIME ZONE $5)::date::timestamp,
                 interval '1 day') AS d
    ), running AS (
        SELECT g.day, g.facility_id, g.population, g.need,
               sum(p.units) OVER w AS units, sum(p.staffed) OVER w AS staffed,
               sum(p.occupied) OVER w AS occupied, sum(p.blocked) OVER w AS blocked,
               sum(p.available) OVER w AS available
          FROM grid g LEFT JOIN per_day p USING (facility_id, population, need, day)
        WINDOW w AS (PARTITION BY g.facility_id, g.population, g.need ORDER BY g.day)
    )
    INSERT INTO capacity_daily (day, facility_id, population, need, units, staffed, occupied,
                                blocked, available)
    SELECT day, facility_id, population, need, units, staffed, occupied, blocked, available
      FROM running WHERE units > 0
"""

# Capacity by hour: each unit's reports from the group's first instant (and the last one
# taking effect before it, the baseline), each taking effect at the first top of the hour
# at or after its as_of (in the zone: $5); of several in one hour, the last. The change at
# each instant is the report's beds less those of the unit's previous one (none for its
# first: it also adds the unit); summed per group and instant, kept where not all zero.
# (A baseline report has as_of <= from_at - 1 h: from_at is a local midnight, on the hour.)
_HOURLY_SQL = f"""
    WITH {_TODO.strip()},
    reports AS (
        SELECT ui.facility_id, ui.population, ui.need, ui.unit_id, ui.from_at, b.as_of,
               b.staffed, b.occupied, b.blocked, b.available
          FROM units_in ui CROSS JOIN LATERAL (
              SELECT h.as_of, h.staffed, h.occupied, h.blocked, h.available
                FROM census_history h
               WHERE h.unit_id = ui.unit_id AND h.as_of <= ui.from_at - interval '1 hour'
               ORDER BY h.as_of DESC LIMIT 1) b
        UNION ALL
        SELECT ui.facility_id, ui.population, ui.need, ui.unit_id, ui.from_at, h.as_of,
               h.staffed, h.occupied, h.blocked, h.available
          FROM units_in ui JOIN census_history h ON h.unit_id = ui.unit_id
           AND h.as_of > ui.from_at - interval '1 hour'
    ), effective AS (
        SELECT DISTINCT ON (r.need, r.unit_id, e.at) r.*, e.at
          FROM reports r
          CROSS JOIN LATERAL (SELECT {EFFECTIVE_HOUR.format(as_of="r.as_of", zone="$5")} AS at) e
         ORDER BY r.need, r.unit_id, e.at, r.as_of DESC
    ), changes AS (
        SELECT facility_id, population, need, from_at, at,
               CASE WHEN lag(at) OVER w IS NULL THEN 1 ELSE 0 END AS units,
               COALESCE(staffed, 0) - COALESCE(lag(staffed) OVER w, 0) AS staffed,
               COALESCE(occupied, 0) - COALESCE(lag(occupied) OVER w, 0) AS occupied,
               blocked - COALESCE(lag(blocked) OVER w, 0) AS blocked,
               available - COALESCE(lag(available) OVER w, 0) AS available
          FROM effective
        WINDOW w AS (PARTITION BY need, unit_id ORDER BY at)
    )
    INSERT INTO capacity_hourly (facility_id, population, need, at, units, staffed, occupied,
                                 blocked, available)
    SELECT facility_id, population, need, at, sum(units), sum(staffed), sum(occupied),
           sum(blocked), sum(available)
      FROM changes WHERE at >= from_at
     GROUP BY facility_id, population, need, at
    HAVING sum(units) <> 0 OR sum(staffed) <> 0 OR sum(occupied) <> 0
        OR sum(blocked) <> 0 OR sum(available) <> 0
"""

# Compliance: each report's interval, from it (or the group's first instant) to the next
# report or the refresh instant, cut at local midnights; of each piece, the part within
# one cadence of the report is fresh, within STALE_AFTER_CADENCES late, after it stale.
# Every interval that outlived its cadence is an overdue episode.
_INTERVALS = f"""
    WITH {_TODO.strip()},
    reports AS (
        SELECT ui.unit_id, ui.facility_id, ui.population, ui.need, ui.from_at, ui.cadence,
               b.as_of, b.source
          FROM units_in ui CROSS JOIN LATERAL (
              SELECT h.as_of, h.source FROM census_history h
               WHERE h.unit_id = ui.unit_id AND h.as_of < ui.from_at
               ORDER BY h.as_of DESC LIMIT 1) b
        UNION ALL
        SELECT ui.unit_id, ui.facility_id, ui.population, ui.need, ui.from_at, ui.cadence,
               h.as_of, h.source
          FROM units_in ui JOIN census_history h ON h.unit_id = ui.unit_id
           AND h.as_of >= ui.from_at
    ), intervals AS (
        SELECT r.*, lead(r.as_of) OVER w AS next_as_of,
               GREATEST(r.as_of, r.from_at) AS start_at,
               LEAST(COALESCE(lead(r.as_of) OVER w, $6::timestamptz), $6::timestamptz) AS to_at
          FROM reports r
        WINDOW w AS (PARTITION BY r.need, r.unit_id ORDER BY r.as_of)
    )"""

_COMPLIANCE_SQL = f"""
    {_INTERVALS.strip()},
    pieces AS (
        SELECT i.facility_id, i.population, i.need, d::date AS day, i.as_of, i.cadence,
               CASE WHEN i.source LIKE 'feed:%' THEN 'feed' ELSE i.source END AS path,
               GREATEST(i.start_at, d::timestamp AT TIME ZONE $5) AS a,
               LEAST(i.to_at, (d + interval '1 day')::timestamp AT TIME ZONE $5) AS b
          FROM intervals i CROSS JOIN generate_series(
                 (i.start_at AT TIME ZONE $5)::date::timestamp,
                 ((i.to_at - interval '1 microsecond') AT TIME ZONE $5)::date::timestamp,
                 interval '1 day') AS d
         WHERE i.to_at > i.start_at
    )
    INSERT INTO compliance_daily (day, facility_id, population, need, fresh_s, late_s, stale_s,
                                  paths)
    SELECT day, facility_id, population, need,
           sum(extract(epoch FROM GREATEST(LEAST(b, as_of + cadence) - a, interval '0'))),
           sum(extract(epoch FROM GREATEST(
               LEAST(b, as_of + cadence * {STALE_AFTER_CADENCES}) - GREATEST(a, as_of + cadence),
               interval '0'))),
           sum(extract(epoch FROM GREATEST(
               b - GREATEST(a, as_of + cadence * {STALE_AFTER_CADENCES}), interval '0'))),
           array_agg(DISTINCT path ORDER BY path)
      FROM pieces WHERE b > a
     GROUP BY day, facility_id, population, need
"""

_OVERDUE_SQL = f"""
    {_INTERVALS.strip()}
    INSERT INTO compliance_overdue (need, unit_id, as_of, facility_id, population, began_at,
                                    ended_at)
    SELECT need, unit_id, as_of, facility_id, population, as_of + cadence, next_as_of
      FROM intervals
     WHERE COALESCE(next_as_of, $6::timestamptz) > as_of + cadence
    ON CONFLICT (need, unit_id, as_of) DO UPDATE
       SET facility_id = EXCLUDED.facility_id, population = EXCLUDED.population,
           began_at = EXCLUDED.began_at, ended_at = EXCLUDED.ended_at
"""

_FIRST_REPORT_SQL = """
    SELECT g.facility_id, g.population, g.need, min((h.as_of AT TIME ZONE $4)::date) AS day
      FROM unnest($1::bigint[], $2::text[], $3::text[]) AS g(facility_id, population, need)
      JOIN units u ON u.facility_id = g.facility_id AND u.population = g.population
       AND (g.need = '' OR g.need = ANY(u.specialties))
      JOIN census_history h ON h.unit_id = u.id
     GROUP BY g.facility_id, g.population, g.need
"""


async def refresh(conn: Connection, zone: str) -> Refreshed | None:
    """Bring the roll-ups up to now, in one transaction; None when another instance is
    refreshing them."""
    started = time.monotonic()
    async with conn.transaction(isolation="repeatable_read"):
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
            return None
        now: datetime = await conn.fetchval("SELECT now()")
        last_id: int = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM census_history")
        before = await conn.fetchrow(
            "SELECT zone, refreshed_at, last_history_id FROM report_rollup_state"
        )
        stored = {
            (r["facility_id"], r["population"], r["need"]): r["digest"]
            for r in await conn.fetch(
                "SELECT facility_id, population, need, digest FROM report_rollup_groups"
            )
        }
        current = {
            (r["facility_id"], r["population"], r["need"]): r["digest"]
            for r in await conn.fetch(_GROUPS_SQL)
        }
        rebuild = before is None or before["zone"] != zone
        from_day: dict[Group, date] = {}
        if not rebuild:
            assert before is not None
            running_day: date = await conn.fetchval(
                "SELECT ($1::timestamptz AT TIME ZONE $2)::date", before["refreshed_at"], zone
            )
            changed = {
                (r["facility_id"], r["population"]): r["day"]
                for r in await conn.fetch(
                    _CHANGED_SQL,
                    before["refreshed_at"] - RECEIVED_MARGIN,
                    before["last_history_id"],
                    zone,
                )
            }
            for group, digest in current.items():
                if stored.get(group) == digest:
                    first = changed.get(group[:2], running_day)
                    from_day[group] = min(running_day, first)
        full = [group for group in current if group not in from_day]
        if full:
            for r in await conn.fetch(
                _FIRST_REPORT_SQL,
                [g[0] for g in full],
                [g[1] for g in full],
                [g[2] for g in full],
                zone,
            ):
                from_day[(r["facility_id"], r["population"], r["need"])] = r["day"]
            for group in full:  # a group none of whose units ever reported
                from_day.setdefault(group, _FIRST_DAY)
        dropped = [group for group in stored if group not in current]
        # A dropped group's rows go too: recompute it from the start with no units.
        todo = {**from_day, **dict.fromkeys(dropped, _FIRST_DAY)}
        if rebuild:
            await conn.execute("DELETE FROM capacity_daily")
            await conn.execute("DELETE FROM capacity_hourly")
            await conn.execute("DELETE FROM compliance_daily")
            await conn.execute("DELETE FROM compliance_overdue")
        args: list[Any] = [
            [g[0] for g in todo],
            [g[1] for g in todo],
            [g[2] for g in todo],
            list(todo.values()),
            zone,
        ]
        await conn.execute(_DELETE_SQL, *args)
        await conn.execute(_HOURLY_SQL, *args)
        for statement in (_CAPACITY_SQL, _COMPLIANCE_SQL, _OVERDUE_SQL):
            await conn.execute(statement, *args, now)
        await conn.execute(
            """
            DELETE FROM report_rollup_groups g
             WHERE NOT EXISTS (
                 SELECT 1 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS c(f, p, n)
                  WHERE c.f = g.facility_id AND c.p = g.population AND c.n = g.need)
            """,
            [g[0] for g in current],
            [g[1] for g in current],
            [g[2] for g in current],
        )
        await conn.execute(
            """
            INSERT INTO report_rollup_groups (facility_id, population, need, digest)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
            ON CONFLICT (facility_id, population, need) DO UPDATE SET digest = EXCLUDED.digest
            """,
            [g[0] for g in current],
            [g[1] for g in current],
            [g[2] for g in current],
            list(current.values()),
        )
        took_ms = round((time.monotonic() - started) * 1000)
        await conn.execute(
            """
            INSERT INTO report_rollup_state (zone, refreshed_at, last_history_id, took_ms)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (only_row) DO UPDATE
               SET zone = EXCLUDED.zone, refreshed_at = EXCLUDED.refreshed_at,
                   last_history_id = EXCLUDED.last_history_id, took_ms = EXCLUDED.took_ms
            """,
            zone,
            now,
            last_id,
            took_ms,
        )
    return Refreshed(now, len(todo), len(full), len(dropped), took_ms)
