"""A synthetic program history for the directory that exists: census reports and
placements over the past days, the same for the same seed, so the demo and the reports
benchmark have months of data to show.

Everything is invented: people are initials, an age and a sex; no names, no clinical
text. The directory (facilities, units, courts, counties, order types, liaisons and
facility users) is read, never changed. The rows are what the use cases would have left
(``census.apply`` for every report; ``placements`` for every step, with the events
``placements/referrals.py``, ``record.py`` and ``clock.py`` write), but they are written
in bulk by the tables' owners (``census.import_history``, ``placements.load_history``),
with no outbox events and no NOTIFY: history is not news for open boards.

- **Census.** Each facility has a reporter: reliable (reports a little before each
  cadence), sloppy (often late, sometimes skips one) or lapsing (sloppy, and now and then
  silent for hours or days). Its units report together (the census form) or a few seconds
  apart (an API client, a feed), through ``form``, ``api``, or ``feed:<id>`` for units a
  feed maps. Counts stay within the licensed beds: staffing dips for weeks at a time,
  occupancy follows a weekly and a seasonal swing around the unit's own level (mostly
  75-98 %, a few units run full), a bed or two is sometimes blocked. The rows are
  computed in one SQL statement (``generate_series``; every random draw is
  ``hashint8extended`` of the seed and the row, so the plan does not change the result).
- **Placements.** Detentions spread over the days with a daily and weekly rhythm; the
  order types weighted (mostly 96-hour); a person whose age gives the age group and whose
  sex gives the unit genders; referrals to 1-6 nearby units that admit the person, in
  rounds, each answered after minutes to hours or never; declines with reasons (no bed
  the most common, more so at full units); then admitted (mostly within the deadline), or
  closed: released, order expired, withdrawn, diverted to outpatient, other. A few holds
  expire and the search starts again. A placement still under way at ``now`` is open,
  never holding a bed (a story that would leave a hold at ``now`` is moved earlier).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import census, matching, nobed
from bedboard.database import Connection
from bedboard.placements import PastEvent, PastPlacement, PastReferral, draw_waits, load_history

ZONE = ZoneInfo("America/Chicago")  # the rhythm of the day is local
ALERT_HOURS = (24, 12, 4)  # BEDBOARD_DEADLINE_ALERT_HOURS' default
HOLD_HOURS = 4.0  # BEDBOARD_HOLD_HOURS' default
CLOCK_EVERY_S = 30.0  # the scheduler's placement clock

# --------------------------------------------------------------------------- vocabularies

ORDER_WEIGHTS = {
    "emergency_96h": 52,
    "emergency_96h_application": 28,
    "petition_21_day": 9,
    "petition_90_day": 3,
    "petition_1_year": 1,
    "voluntary": 5,
}
OTHER_ORDER_WEIGHT = 1
POPULATION_WEIGHTS = {"adult": 62, "adolescent": 14, "child": 6, "geriatric": 18}
AGE_RANGES = {"child": (6, 12, 10), "adolescent": (13, 17, 15), "adult": (18, 64, 31)}
GERIATRIC_AGES = (65, 94, 71)
SEX_WEIGHTS = {"male": 54, "female": 44, "other": 1, "unknown": 1}
PAYER_WEIGHTS = {
    "adult": {
        "medicaid": 45, "commercial": 24, "uninsured": 15, "medicare": 7, "county_funded": 6,
        "tricare": 3,
    },
    "geriatric": {"medicare": 72, "medicaid": 14, "commercial": 10, "uninsured": 4},
    "adolescent": {"medicaid": 60, "commercial": 35, "tricare": 5},
    "child": {"medicaid": 62, "commercial": 34, "tricare": 4},
}  # fmt: skip
NEEDS = {
    "adult": (("co_occurring_substance_use", 0.14), ("developmental_disability", 0.03)),
    "geriatric": (("dementia", 0.25), ("medical_psychiatric", 0.08)),
    "adolescent": (("trauma", 0.08), ("co_occurring_substance_use", 0.05)),
    "child": (("autism_spectrum", 0.10),),
}
AGENCIES = {
    "County sheriff": 30,
    "Municipal police": 26,
    "Hospital emergency department": 20,
    "Mobile crisis team": 10,
    "Community mental health center": 8,
    "Jail medical unit": 4,
    "Family member (application)": 2,
}
OUTCOME_WEIGHTS = {
    "admitted": 72,
    "released": 8,
    "order_expired": 5,
    "withdrawn": 6,
    "diverted_outpatient": 7,
    "other": 2,
}
DECLINE_WEIGHTS = {
    "no_bed": 40,
    "acuity": 12,
    "aggression_safety": 10,
    "medical_complexity": 9,
    "staffing": 7,
    "legal_status": 4,
    "substance_use": 4,
    "payer": 3,
    "developmental_disability": 2,
    "age_gender_mismatch": 1,
    "other": 5,
}
UNANSWERED = 0.14  # referrals never answered (withdrawn when the placement moves on)
HOLD_EXPIRES = 0.04  # acceptances whose hold runs out before transport
CLOSED_AFTER_ACCEPT = 0.08  # of released / withdrawn / diverted: after a bed was found
ROUND_SIZES = {1: 35, 2: 35, 3: 30}
REFERRAL_COUNTS = {1: 25, 2: 25, 3: 20, 4: 14, 5: 10, 6: 6}
# Local rhythm: relative detentions per hour of the day (0-23) and per weekday (Mon-Sun).
HOUR_WEIGHTS = (
    0.5, 0.4, 0.35, 0.3, 0.3, 0.35, 0.45, 0.6, 0.8, 1.0, 1.1, 1.15,
    1.2, 1.25, 1.3, 1.3, 1.3, 1.25, 1.2, 1.15, 1.05, 0.95, 0.8, 0.65,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.12, 1.08, 1.04, 1.0, 1.02, 0.85, 0.8)
# Census reporters: (kind, share, interval as a share of the cadence, jitter either way as
# a share of the interval, skip chance, lapse chance per lapse window, lapse window hours).
REPORTERS = (
    ("reliable", 65, (0.72, 0.95), (0.03, 0.10), (0.0, 0.04), (0.0, 0.0), (1.0, 1.0)),
    ("sloppy", 25, (0.9, 1.25), (0.15, 0.30), (0.05, 0.15), (0.0, 0.02), (4.0, 12.0)),
    ("lapsing", 10, (0.85, 1.2), (0.15, 0.30), (0.05, 0.12), (0.04, 0.10), (12.0, 96.0)),
)
RECEIVED_WITHIN_S = {"form": 0.0, "api": 30.0, "feed": 300.0}  # received_at - as_of


@dataclass(frozen=True)
class HistoryCounts:
    """What ``generate_history`` wrote."""

    units: int  # units given a census history
    census_rows: int
    censuses: int  # units that had no census and now have their last history row
    placements: int
    referrals: int
    events: int
    alerts: int
    no_bed_records: int
    seconds: float


# --------------------------------------------------------------------------- the directory


@dataclass(frozen=True)
class _Unit:
    id: int
    facility_id: int
    population: str
    gender: str
    security: str
    specialties: frozenset[str]
    involuntary: bool
    court_ordered: bool
    payers: frozenset[str]
    beds: int
    cadence_min: int
    lat: float
    lon: float
    until: datetime  # its history ends before this: now, or its first real report


@dataclass
class _World:
    units: list[_Unit]
    feeds: dict[int, int]  # unit -> feed mapping it
    counties: list[tuple[str, float, float]]
    courts: list[tuple[int, str]]  # (id, county)
    orders: list[tuple[str, int | None, bool, bool]]  # code, hours, court_ordered, required
    liaisons: list[tuple[int, str]]  # (id, label)
    responders: dict[int, list[tuple[int, str]]]  # facility -> its facility users
    busy: dict[int, float] = field(default_factory=dict)  # unit -> usual occupancy


async def _read_world(conn: Connection, now: datetime) -> _World:
    units = await conn.fetch(
        """
        SELECT u.id, u.facility_id, u.population, u.gender, u.security_level, u.specialties,
               u.accepts_involuntary, u.accepts_court_ordered, u.payers, u.licensed_beds,
               f.report_cadence_minutes, f.latitude, f.longitude,
               LEAST($1::timestamptz, c.as_of,
                     (SELECT min(h.as_of) FROM census_history h WHERE h.unit_id = u.id)) AS until
          FROM units u JOIN facilities f ON f.id = u.facility_id
          LEFT JOIN unit_census c ON c.unit_id = u.id
         WHERE u.active AND f.active
         ORDER BY u.id
        """,
        now,
    )
    feeds = await conn.fetch(
        "SELECT m.unit_id, min(f.id) AS feed_id FROM feed_mappings m"
        " JOIN feeds f ON f.id = m.feed_id WHERE f.enabled GROUP BY m.unit_id"
    )
    counties = await conn.fetch("SELECT fips, latitude, longitude FROM counties ORDER BY fips")
    courts = await conn.fetch("SELECT id, county_fips FROM courts ORDER BY id")
    orders = await conn.fetch(
        "SELECT code, deadline_hours, court_ordered, court_required FROM order_types"
        " ORDER BY position, code"
    )
    people = await conn.fetch(
        "SELECT u.id, u.email, u.role, uf.facility_id FROM users u"
        " LEFT JOIN user_facilities uf ON uf.user_id = u.id"
        " WHERE NOT u.disabled AND u.role IN ('liaison', 'facility') ORDER BY u.id, uf.facility_id"
    )
    responders: dict[int, list[tuple[int, str]]] = {}
    for r in people:
        if r["role"] == "facility" and r["facility_id"] is not None:
            responders.setdefault(r["facility_id"], []).append((r["id"], r["email"]))
    return _World(
        units=[
            _Unit(
                r["id"],
                r["facility_id"],
                r["population"],
                r["gender"],
                r["security_level"],
                frozenset(r["specialties"]),
                r["accepts_involuntary"],
                r["accepts_court_ordered"],
                frozenset(r["payers"]),
                r["licensed_beds"],
                r["report_cadence_minutes"],
                r["latitude"],
                r["longitude"],
                r["until"],
            )
            for r in units
        ],
        feeds={r["unit_id"]: r["feed_id"] for r in feeds},
        counties=[(r["fips"], r["latitude"], r["longitude"]) for r in counties],
        courts=[(r["id"], r["county_fips"]) for r in courts],
        orders=[
            (r["code"], r["deadline_hours"], r["court_ordered"], r["court_required"])
            for r in orders
        ],
        liaisons=[(r["id"], r["email"]) for r in people if r["role"] == "liaison"],
        responders=responders,
    )


# --------------------------------------------------------------------------- census


# A uniform draw in [0, 1) from a key and a seed: the same for the same row, whatever plan
# PostgreSQL picks.
def _draw(key: str, seed: str) -> str:
    return f"((hashint8extended({key}, {seed}) & 2147483647)::float8 / 2147483648.0::float8)"


_UNIT_PARAMS = (
    ("unit_id", "bigint"), ("useed", "bigint"), ("fseed", "bigint"), ("start_s", "float8"),
    ("first_s", "float8"), ("until_s", "float8"), ("interval_s", "float8"), ("jitter", "float8"),
    ("skip_p", "float8"), ("lapse_s", "float8"), ("lapse_p", "float8"), ("base", "float8"),
    ("weekly", "float8"), ("weekly_phase", "float8"), ("season", "float8"),
    ("season_s", "float8"), ("season_phase", "float8"), ("noise", "float8"), ("beds", "int"),
    ("gap", "int"), ("block_p", "float8"), ("offset_s", "float8"), ("delay_s", "float8"),
    ("source", "text"), ("reported_by", "bigint"),
)  # fmt: skip

# One row per report: each unit's grid of report times (its facility's interval and
# jitter, below a third of the interval so reports stay in order; the facility's skips
# and lapses; the unit's offset),
# its counts at that time. $26 is now (received_at never after it).
_STAGE_SQL = f"""
    CREATE TEMP TABLE {census.IMPORT_TABLE} ON COMMIT DROP AS
    WITH u AS (
        SELECT * FROM unnest({", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(_UNIT_PARAMS, 1))})
          AS u({", ".join(name for name, _ in _UNIT_PARAMS)})
    ), grid AS (
        SELECT u.*, k,
               first_s + k * interval_s + offset_s
                 + ({_draw("k * 8 + 1", "fseed")} - 0.5::float8) * 2 * jitter * interval_s AS e
          FROM u CROSS JOIN LATERAL
               generate_series(0, floor((until_s - first_s) / interval_s)::int + 1) AS k
    ), kept AS (
        SELECT g.*,
               GREATEST(beds - floor({_draw("floor(e / 1209600)::bigint * 8 + 7", "useed")}
                                     * (gap + 1))::int, 0) AS staffed,
               {_draw("k * 8 + 5", "useed")} AS r_block
          FROM grid g
         WHERE e >= start_s AND e < until_s
           AND {_draw("k * 8 + 2", "fseed")} >= skip_p
           AND {_draw("floor(e / lapse_s)::bigint * 8 + 3", "fseed")} >= lapse_p
    ), counted AS (
        SELECT kept.*,
               LEAST(staffed, GREATEST(0, round(staffed * (
                   base + weekly * sin(2 * pi() * e / 604800.0::float8 + weekly_phase)
                        + season * sin(2 * pi() * e / season_s + season_phase)
                        + noise * 2 * ({_draw("k * 8 + 4", "useed")} - 0.5::float8)))::int))
                 AS occupied
          FROM kept
    )
    SELECT unit_id, staffed, occupied,
           CASE WHEN r_block < block_p
                THEN LEAST(1 + (r_block < block_p / 5)::int, staffed - occupied) ELSE 0 END
             AS blocked,
           to_timestamp(e) AS as_of,
           LEAST(to_timestamp(e + {_draw("k * 8 + 6", "useed")} * delay_s), $26::timestamptz)
             AS received_at,
           source, reported_by
      FROM counted
"""  # noqa: S608 -- composed only of constant fragments


def _weighted(rng: random.Random, weights: dict[str, float] | dict[str, int]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _census_params(
    world: _World, rng: random.Random, start: datetime, rate: float | None
) -> list[list[Any]]:
    """Per unit, the columns of ``_UNIT_PARAMS``; also fills ``world.busy``."""
    reporters: dict[int, tuple[Any, ...]] = {}
    rows: list[list[Any]] = []
    natural = []
    for unit in world.units:
        if unit.facility_id not in reporters:
            _, _, factor, jitter, skip, lapse, lapse_h = rng.choices(
                REPORTERS, weights=[r[1] for r in REPORTERS]
            )[0]
            responders = world.responders.get(unit.facility_id, [])
            reporters[unit.facility_id] = (
                rng.getrandbits(62),
                rng.uniform(*factor),
                rng.uniform(*jitter),
                rng.uniform(*skip),
                rng.uniform(*lapse),
                rng.uniform(*lapse_h) * 3600,
                "form" if rng.random() < 0.55 else "api",
                responders[0][0] if responders else None,
                rng.random(),
            )
        fseed, factor, jitter, skip_p, lapse_p, lapse_s, path, reporter, phase = reporters[
            unit.facility_id
        ]
        source = f"feed:{world.feeds[unit.id]}" if unit.id in world.feeds else path
        kind = "feed" if unit.id in world.feeds else path
        interval = unit.cadence_min * 60 * factor
        hot = rng.random() < 0.12
        base = rng.uniform(0.93, 0.99) if hot else rng.uniform(0.78, 0.92)
        world.busy[unit.id] = base
        gap = 3 if unit.beds >= 20 else 2 if unit.beds >= 10 else 1 if unit.beds >= 4 else 0
        rows.append(
            [
                unit.id, rng.getrandbits(62), fseed, start.timestamp(), 0.0,
                unit.until.timestamp(), interval, jitter, skip_p, lapse_s, lapse_p, base,
                rng.uniform(0.01, 0.035), rng.uniform(0, 2 * math.pi), rng.uniform(0.01, 0.04),
                rng.uniform(45, 120) * 86400, rng.uniform(0, 2 * math.pi),
                rng.uniform(0.02, 0.05), unit.beds, gap, rng.uniform(0.04, 0.18),
                0.0 if kind == "form" else rng.uniform(0, 90 if kind == "api" else 30),
                RECEIVED_WITHIN_S[kind], source, None if kind == "feed" else reporter, phase,
            ]
        )  # fmt: skip
        if unit.until > start:
            natural.append(86400 / interval * (1 - skip_p) * (1 - lapse_p))
    scale = rate / (sum(natural) / len(natural)) if rate is not None and natural else 1.0
    for row in rows:
        row[6] /= scale  # interval_s
        row[4] = row[3] - row.pop() * row[6]  # first_s: the facility's phase before start
    return [list(column) for column in zip(*rows, strict=True)] if rows else []


async def _stage_census(
    conn: Connection,
    world: _World,
    rng: random.Random,
    start: datetime,
    now: datetime,
    rate: float | None,
) -> None:
    columns = _census_params(world, rng, start, rate)
    if not columns:
        columns = [[] for _ in _UNIT_PARAMS]
    await conn.execute(_STAGE_SQL, *columns, now)


# --------------------------------------------------------------------------- placements


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, a)))


def _minutes(rng: random.Random, median: float, sigma: float, low: float, high: float) -> timedelta:
    """A log-normal duration in minutes, clipped to [low, high]."""
    return timedelta(minutes=min(high, max(low, median * math.exp(rng.gauss(0, sigma)))))


@dataclass
class _Person:
    initials: str
    age: int
    birth_year: int | None
    sex: str
    population: str
    gender: str
    needs: list[str]
    payer: str | None


@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    args: tuple[Any, ...] = field(compare=False, default=())


SYSTEM: tuple[int | None, str] = (None, "system")


@dataclass
class _Row:
    """A placement's own columns as its story moves it."""

    updated: datetime
    status: str = "open"
    version: int = 1


class _Placements:
    """Draws each placement and its story; the directory's indexes are built once."""

    def __init__(
        self, world: _World, seed: int, now: datetime, hold: timedelta, alert_hours: Sequence[int]
    ) -> None:
        self.world = world
        self.seed = seed
        self.now = now
        self.hold = hold
        self.points = [
            (f"{h}h", timedelta(hours=h)) for h in sorted(set(alert_hours), reverse=True)
        ]
        self.points.append(("passed", timedelta(0)))
        facilities_in: dict[str, int] = {}
        located = {u.facility_id: (u.lat, u.lon) for u in world.units}
        for lat, lon in located.values():
            nearest = min(world.counties, key=lambda c: _km(lat, lon, c[1], c[2]))
            facilities_in[nearest[0]] = facilities_in.get(nearest[0], 0) + 1
        # People come from where the beds are, and from everywhere else a little.
        self.county_weights = [1 + 3 * facilities_in.get(c[0], 0) for c in world.counties]
        self.populations = {u.population for u in world.units} or set(POPULATION_WEIGHTS)
        self.offered = {s for u in world.units for s in u.specialties}
        # Without courts, only the orders that need none.
        self.orders = [o for o in world.orders if world.courts or not o[3]]
        self._near: dict[tuple[str, str, str], list[_Unit]] = {}

    def _person(self, rng: random.Random, year: int) -> _Person:
        weights = {p: w for p, w in POPULATION_WEIGHTS.items() if p in self.populations}
        population = _weighted(rng, weights or POPULATION_WEIGHTS)
        low, high, mode = AGE_RANGES.get(population, GERIATRIC_AGES)
        age = round(rng.triangular(low, high, mode))
        sex = _weighted(rng, SEX_WEIGHTS)
        letters = "ABCDEFGHIJKLMNOPRSTVWY"
        initials = "".join(rng.choice(letters) for _ in range(3 if rng.random() < 0.3 else 2))
        needs = [n for n, p in NEEDS.get(population, ()) if n in self.offered and rng.random() < p]
        return _Person(
            initials=initials,
            age=age,
            birth_year=year - age - rng.randint(0, 1) if rng.random() < 0.4 else None,
            sex=sex,
            population=matching.population_for_age(age).value,
            gender=matching.unit_gender_for_sex(sex),  # type: ignore[arg-type]
            needs=needs,
            payer=None if rng.random() < 0.1 else _weighted(rng, PAYER_WEIGHTS[population]),
        )

    def _near_units(self, county: tuple[str, float, float], person: _Person) -> list[_Unit]:
        """Units of the person's age group and unit genders, nearest first; no forensic
        units (search offers them only for a forensic need)."""
        key = (county[0], person.population, person.gender)
        if key not in self._near:
            genders = matching.unit_genders(person.gender)  # type: ignore[arg-type]
            fits = [
                u
                for u in self.world.units
                if u.population == person.population
                and u.gender in genders
                and u.security != "forensic"
            ]
            fits.sort(key=lambda u: (_km(county[1], county[2], u.lat, u.lon), u.id))
            self._near[key] = fits
        return self._near[key]

    def _targets(
        self,
        rng: random.Random,
        near: list[_Unit],
        person: _Person,
        court_ordered: bool,
        involuntary: bool,
        count: int,
    ) -> list[tuple[_Unit, str | None]]:
        """Up to ``count`` units to refer to, nearer ones likelier, each with the reason it
        would decline for when it does not serve the person's needs or payer (else None).
        Such a unit is referred to now and then, as liaisons do when the fits run out."""
        pool: list[tuple[_Unit, str | None]] = []
        for unit in near:
            if (involuntary and not unit.involuntary) or (court_ordered and not unit.court_ordered):
                continue
            misfit = None
            if not set(person.needs) <= unit.specialties:
                misfit = (
                    "substance_use"
                    if "co_occurring_substance_use" in person.needs
                    else "developmental_disability"
                    if "developmental_disability" in person.needs
                    else "other"
                )
            elif person.payer is not None and person.payer not in unit.payers:
                misfit = "payer"
            if misfit is None or rng.random() < 0.25:
                pool.append((unit, misfit))
            if len(pool) >= 20:
                break
        chosen: list[tuple[_Unit, str | None]] = []
        while pool and len(chosen) < count:
            weights = [
                (3.0 if misfit is None else 1.0) / (1 + rank) ** 0.8
                for rank, (_, misfit) in enumerate(pool)
            ]
            chosen.append(pool.pop(rng.choices(range(len(pool)), weights=weights)[0]))
        return chosen

    def draw(self, index: int, detention: datetime) -> PastPlacement:
        """The ``index``-th placement, detained at ``detention``; its story moved earlier
        when it would leave a bed held at ``now``."""
        placement, late_by = self._draw(index, detention)
        if late_by is not None:
            placement, _ = self._draw(index, detention - late_by)
        return placement

    def _draw(self, index: int, detention: datetime) -> tuple[PastPlacement, timedelta | None]:
        rng = random.Random(self.seed * 1_000_003 + index)
        world = self.world
        code, hours, court_ordered, court_required = rng.choices(
            self.orders, weights=[ORDER_WEIGHTS.get(o[0], OTHER_ORDER_WEIGHT) for o in self.orders]
        )[0]
        county = rng.choices(world.counties, weights=self.county_weights)[0]
        person = self._person(rng, detention.year)
        court_id = None
        if world.courts and (court_required or (court_ordered and rng.random() < 0.5)):
            # The county's own court, else any.
            court_id = min(world.courts, key=lambda c: (c[1] != county[0], rng.random()))[0]
        involuntary = code != "voluntary"
        deadline = detention + timedelta(hours=hours) if hours is not None else None
        liaison = SYSTEM
        if world.liaisons:
            # Each liaison covers a part of the state, and helps out elsewhere.
            liaison = (
                world.liaisons[int(county[0]) % len(world.liaisons)]
                if rng.random() < 0.75
                else rng.choice(world.liaisons)
            )
        outcome = _weighted(rng, OUTCOME_WEIGHTS)
        count = int(_weighted(rng, {str(k): v for k, v in REFERRAL_COUNTS.items()}))
        targets = self._targets(
            rng, self._near_units(county, person), person, court_ordered, involuntary, count
        )
        if outcome == "admitted" and not targets:
            outcome = rng.choice(["released", "diverted_outpatient", "order_expired"])
        if outcome == "order_expired" and deadline is None:
            outcome = "released"
        story = _Story(self, rng, detention, deadline, liaison)
        story.run(outcome, targets)
        return story.fold(
            order_type=code,
            court_id=court_id,
            case_number=f"{detention.year % 100:02d}P-MH-{10_000 + index}" if court_id else "",
            county_fips=county[0],
            person=person,
            involuntary=involuntary,
            agency=_weighted(rng, AGENCIES),
        )


class _Story:
    """One placement's steps in time order (``run``), then what they leave at ``now``
    (``fold``): the row, its referrals, its timeline and its deadline alerts."""

    def __init__(
        self,
        owner: _Placements,
        rng: random.Random,
        detention: datetime,
        deadline: datetime | None,
        liaison: tuple[int | None, str],
    ) -> None:
        self.owner = owner
        self.rng = rng
        self.detention = detention
        self.deadline = deadline
        self.liaison = liaison
        self.actions: list[_Action] = []
        self.referrals: list[tuple[int, datetime]] = []  # (unit, sent at)
        self.created = detention + _minutes(rng, 40, 0.9, 3, 720)
        self.end: datetime | None = None  # admitted or closed

    def _add(self, at: datetime, kind: str, *args: Any) -> None:
        self.actions.append(_Action(at, len(self.actions), kind, args))

    def _responder(self, unit: _Unit) -> tuple[int | None, str]:
        people = self.owner.world.responders.get(unit.facility_id)
        if people:
            return self.rng.choice(people)
        return self.liaison  # a liaison answers on the facility's behalf

    def _decline_reason(self, unit: _Unit, misfit: str | None) -> str:
        if misfit is not None and self.rng.random() < 0.7:
            return misfit
        weights: dict[str, float] = dict(DECLINE_WEIGHTS)
        busy = self.owner.world.busy.get(unit.id, 0.85)
        weights["no_bed"] = weights["no_bed"] * (1 + 8 * max(0.0, busy - 0.85))
        return _weighted(self.rng, weights)

    def _close_at(self, outcome: str) -> datetime:
        rng, created = self.rng, self.created
        if outcome == "order_expired":
            assert self.deadline is not None
            return self.deadline + timedelta(hours=rng.uniform(0.1, 6))
        at = created + {
            "released": timedelta(hours=rng.uniform(4, 72)),
            "withdrawn": _minutes(rng, 480, 0.9, 30, 72 * 60),
            "diverted_outpatient": timedelta(hours=rng.uniform(2, 48)),
        }.get(outcome, timedelta(hours=rng.uniform(1, 72)))
        if self.deadline is not None:  # ended by someone, before the clock runs out
            at = min(at, self.deadline - timedelta(minutes=rng.uniform(5, 120)))
        return max(at, created + timedelta(minutes=20))

    def run(self, outcome: str, targets: list[tuple[_Unit, str | None]]) -> None:
        """Rounds of referrals until a unit accepts (an admission) or the placement is
        closed. A referral's answer counts only if it comes before the placement moves
        on (an acceptance elsewhere, or the close); otherwise it is withdrawn."""
        rng = self.rng
        hold_minutes = self.owner.hold.total_seconds() / 60
        self._add(self.created, "created")
        accept_then_close = outcome in ("released", "withdrawn", "diverted_outpatient") and (
            rng.random() < CLOSED_AFTER_ACCEPT and bool(targets)
        )
        close_at = None if outcome == "admitted" else self._close_at(outcome)
        # Acceptances still to come: the last is the bed; with an expiring hold, one more.
        need = 0
        if outcome == "admitted" or accept_then_close:
            need = 2 if len(targets) >= 2 and rng.random() < HOLD_EXPIRES else 1
        open_refs: list[tuple[int, datetime | None, tuple[Any, ...]]] = []
        remaining = list(targets)
        at = self.created + timedelta(minutes=rng.uniform(3, 40))
        accepted_at: datetime | None = None

        def settle(moment: datetime, withdraw: bool) -> None:
            for r, answer_at, answer in open_refs:
                if answer_at is not None and answer_at < moment:
                    self._add(answer_at, "declined", r, *answer)
                elif withdraw:
                    self._add(moment, "withdrawn_other", r)
            open_refs.clear()

        bed = need > 0
        while remaining and (need > 0 if bed else close_at is not None and at < close_at):
            size = min(
                len(remaining), int(_weighted(rng, {str(k): v for k, v in ROUND_SIZES.items()}))
            )
            if need == 2:
                size = min(size, len(remaining) - 1)  # one left for after the hold expires
            batch, remaining = remaining[:size], remaining[size:]
            sent: list[tuple[int, _Unit, str | None, datetime]] = []
            for unit, misfit in batch:
                r = len(self.referrals)
                self.referrals.append((unit.id, at))
                self._add(at, "sent", r)
                sent.append((r, unit, misfit, at + _minutes(rng, 75, 1.0, 2, 20 * 60)))
            acceptor = None
            if need and len(remaining) < need:
                weights = [
                    max(1.2 - self.owner.world.busy.get(u.id, 0.85), 0.05) for _, u, _, _ in sent
                ]
                acceptor = rng.choices(sent, weights=weights)[0]
            for r, unit, misfit, answer_at in sent:
                if acceptor is not None and r == acceptor[0]:
                    continue
                if rng.random() < UNANSWERED:
                    open_refs.append((r, None, ()))
                else:
                    reason = self._decline_reason(unit, misfit)
                    open_refs.append((r, answer_at, (reason, self._responder(unit))))
            if acceptor is None:
                answered = [a for _, _, _, a in sent]
                wait = timedelta(hours=rng.uniform(1.5, 6))
                at = min(max(answered), at + wait) + timedelta(minutes=rng.uniform(5, 40))
                continue
            accepted_at = acceptor[3]
            self._add(accepted_at, "accepted", acceptor[0], self._responder(acceptor[1]))
            settle(accepted_at, withdraw=True)
            need -= 1
            if need:
                expired = (
                    accepted_at + self.owner.hold + timedelta(seconds=rng.uniform(0, CLOCK_EVERY_S))
                )
                self._add(expired, "hold_expired", acceptor[0])
                at = expired + timedelta(minutes=rng.uniform(5, 40))
        if accepted_at is not None and not need:
            if accept_then_close:
                self.end = accepted_at + _minutes(rng, 60, 0.7, 15, hold_minutes * 0.9)
                self._add(self.end, "transition", "accepted", "closed", outcome)
            else:
                moving = accepted_at + _minutes(rng, 70, 0.6, 10, hold_minutes * 0.9)
                self._add(moving, "transition", "accepted", "in_transit", None)
                self.end = moving + _minutes(rng, 80, 0.6, 15, 480)
                self._add(self.end, "transition", "in_transit", "admitted", None)
        else:
            if close_at is None:  # no unit to refer to: released in the end
                close_at = self._close_at("released")
                outcome = "released"
            settle(close_at, withdraw=False)  # the close withdraws the rest
            self.end = close_at
            self._add(close_at, "transition", "open", "closed", outcome)
        self._alerts()

    def _alerts(self) -> None:
        """The placement clock's alerts: each point once, while under way, within 30 s of
        it; a point already past at creation is recorded without an announcement."""
        if self.deadline is None:
            return
        for point, before in self.owner.points:
            due = self.deadline - before
            raised = max(due, self.created) + timedelta(seconds=self.rng.uniform(1, CLOCK_EVERY_S))
            if self.end is not None and raised >= self.end:
                continue
            self._add(raised, "alert", point, due >= self.created or point == "passed")

    def fold(
        self,
        *,
        order_type: str,
        court_id: int | None,
        case_number: str,
        county_fips: str,
        person: _Person,
        involuntary: bool,
        agency: str,
    ) -> tuple[PastPlacement, timedelta | None]:
        """The records the steps up to ``now`` leave; and, when they would leave a bed
        held at ``now``, by how much to move the story earlier instead."""
        now = self.owner.now
        units = [u for u, _ in self.referrals]
        refs: list[dict[str, Any]] = [
            {"status": "pending", "by": None, "at": None, "reason": None} for _ in self.referrals
        ]
        events: list[PastEvent] = []
        alerts: list[tuple[str, datetime]] = []
        state = _Row(self.created)
        accepted_at: datetime | None = None
        accepted: int | None = None
        admitted_at = closed_at = None
        outcome = None

        def event(at: datetime, kind: str, actor: tuple[int | None, str], **kw: Any) -> None:
            events.append(PastEvent(at, kind, actor[0], actor[1], **kw))

        def moved(at: datetime, status: str) -> None:
            state.status, state.version, state.updated = status, state.version + 1, at

        for action in sorted(self.actions):
            at, args = action.at, action.args
            if at > now:
                break
            if action.kind == "created":
                event(at, "created", self.liaison, to_state="open",
                      data={"order_type": order_type, "override": []})  # fmt: skip
            elif action.kind == "sent":
                (r,) = args
                event(at, "referral_sent", self.liaison, data={"unit_id": units[r]}, referral=r)
            elif action.kind == "declined":
                r, reason, by = args
                refs[r].update(status="declined", reason=reason, by=by[0], at=at)
                event(at, "referral_declined", by,
                      data={"unit_id": units[r], "reason": reason}, referral=r)  # fmt: skip
            elif action.kind == "accepted":
                r, by = args
                refs[r].update(status="accepted", by=by[0], at=at)
                accepted_at, accepted = at, r
                moved(at, "accepted")
                event(at, "referral_accepted", by, from_state="open", to_state="accepted",
                      data={"unit_id": units[r]}, referral=r)  # fmt: skip
            elif action.kind == "withdrawn_other":
                (r,) = args
                refs[r].update(status="withdrawn", at=at)
                event(at, "referral_withdrawn", SYSTEM,
                      data={"reason": "another unit accepted"}, referral=r)  # fmt: skip
            elif action.kind == "hold_expired":
                (r,) = args
                refs[r]["status"] = "expired"
                accepted_at = accepted = None
                moved(at, "open")
                event(at, "hold_expired", SYSTEM, data={"unit_id": units[r]}, referral=r)
                event(at, "reopened", SYSTEM, from_state="accepted", to_state="open",
                      data={"because": "hold expired"}, referral=r)  # fmt: skip
            elif action.kind == "transition":
                before, after, result = args
                moved(at, after)
                if after == "admitted":
                    admitted_at = at
                elif after == "closed":
                    closed_at, outcome = at, result
                    for ref in refs:
                        if ref["status"] == "pending":
                            ref.update(status="withdrawn", at=at)
                event(at, "transition", self.liaison, from_state=before, to_state=after,
                      data={"outcome": result})  # fmt: skip
            elif action.kind == "alert":
                point, announce = args
                alerts.append((point, at))
                if announce:
                    event(at, "deadline_alert", SYSTEM, data={"point": point, "at": at.isoformat()})
        status = state.status
        late_by = None
        if status in ("accepted", "in_transit"):
            assert self.end is not None
            late_by = self.end - now + timedelta(minutes=self.rng.uniform(1, 60))
        placement = PastPlacement(
            order_type=order_type,
            court_id=court_id,
            case_number=case_number,
            detention_start=self.detention,
            deadline_at=self.deadline,
            county_fips=county_fips,
            person_initials=person.initials,
            person_birth_year=person.birth_year,
            person_age=person.age,
            person_sex=person.sex,
            population=person.population,
            gender=person.gender,
            specialties=sorted(person.needs),
            security_level=None,
            involuntary=involuntary,
            payer=person.payer,
            liaison_id=self.liaison[0],
            requesting_agency=agency,
            status=status,
            outcome=outcome,
            created_at=self.created,
            updated_at=state.updated,
            accepted_at=accepted_at,
            admitted_at=admitted_at,
            closed_at=closed_at,
            version=state.version,
            accepted_referral=accepted,
            referrals=[
                PastReferral(
                    unit_id=units[r],
                    status=ref["status"],
                    created_at=sent,
                    created_by=self.liaison[0],
                    decline_reason=ref["reason"],
                    responded_by=ref["by"],
                    responded_at=ref["at"],
                )
                for r, (ref, (_, sent)) in enumerate(zip(refs, self.referrals, strict=True))
                if sent <= now
            ],
            events=events,
            alerts=alerts,
        )
        return placement, late_by


def _detentions(rng: random.Random, count: int, start: datetime, now: datetime) -> list[datetime]:
    """``count`` moments in [start, now), more on weekdays and in the afternoon (local)."""
    top = max(HOUR_WEIGHTS) * max(WEEKDAY_WEIGHTS)
    span = (now - start).total_seconds()
    moments: list[datetime] = []
    while len(moments) < count:
        at = start + timedelta(seconds=rng.uniform(0, span))
        local = at.astimezone(ZONE)
        if rng.random() * top < HOUR_WEIGHTS[local.hour] * WEEKDAY_WEIGHTS[local.weekday()]:
            moments.append(at)
    return sorted(moments)


# --------------------------------------------------------------------------- the whole


async def generate_history(
    conn: Connection,
    *,
    days: int,
    placements: int,
    census_changes_per_unit_per_day: float | None,
    seed: int,
    now: datetime,
    hold_hours: float = HOLD_HOURS,
    alert_hours: Sequence[int] = ALERT_HOURS,
) -> HistoryCounts:
    """Fill ``census_history`` (and ``unit_census``, ``unit_freshness`` for units without
    a census), ``placements``, ``referrals``, ``placement_events`` and
    ``placement_alerts`` with ``days`` of history ending at ``now``, for the active
    units of the directory as it is. One transaction; the same rows for the same seed and
    directory.

    ``census_changes_per_unit_per_day``: history rows per unit per day, on average over
    the units; each unit's share follows its facility's cadence (hourly reporters report
    more often than daily ones). None: every unit reports at its own cadence (as a
    reliable, sloppy or lapsing reporter), which is what freshness expects.

    A unit that already has reports gets a history that ends before its first one, and
    keeps its census: the history goes before what is recorded, never over it.
    """
    if days < 1 or placements < 0:
        raise ValueError("days must be at least 1 and placements at least 0")
    if census_changes_per_unit_per_day is not None and census_changes_per_unit_per_day <= 0:
        raise ValueError("census_changes_per_unit_per_day must be positive")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = time.perf_counter()
    start = now - timedelta(days=days)
    rng = random.Random(seed)
    async with conn.transaction():
        world = await _read_world(conn, now)
        await _stage_census(conn, world, rng, start, now, census_changes_per_unit_per_day)
        imported = await census.import_history(conn, [u.id for u in world.units], now)
        drawer = _Placements(world, seed, now, timedelta(hours=hold_hours), alert_hours)
        if placements and not drawer.orders:
            raise ValueError(
                "no order type can be recorded: every one needs a court, and none exists"
            )
        past = [drawer.draw(i, at) for i, at in enumerate(_detentions(rng, placements, start, now))]
        loaded = await load_history(conn, past)
        await draw_waits(conn, start, now)
        no_bed = await _no_bed_records(conn, start, now)
    return HistoryCounts(
        units=sum(1 for u in world.units if u.until > start),
        census_rows=imported.rows,
        censuses=imported.censuses,
        placements=loaded.placements,
        referrals=loaded.referrals,
        events=loaded.events,
        alerts=loaded.alerts,
        no_bed_records=no_bed,
        seconds=time.perf_counter() - started,
    )


async def _no_bed_records(conn: Connection, start: datetime, now: datetime) -> int:
    """The no-bed records the real triggers would have made for the history's
    placements (``nobed.record`` decides each, as the clock and the closing do)."""
    candidates = await conn.fetch(
        """
        SELECT id FROM placements
         WHERE created_at >= $1
           AND ((admitted_at IS NULL AND outcome IN ('released', 'order_expired'))
                OR deadline_at < COALESCE(admitted_at, closed_at, $2))
         ORDER BY id
        """,
        start,
        now,
    )
    made = 0
    for row in candidates:
        for trigger in (nobed.Trigger.DEADLINE_PASSED, nobed.Trigger.CLOSED):
            if await nobed.record(conn, row["id"], trigger, now=now) is not None:
                made += 1
    return made
