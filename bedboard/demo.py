"""Demo data: ~40 fictional facilities over real Missouri counties, courts, five regions
of counties, and one user per role.

Everything here is synthetic. Facility names, addresses and phone numbers are invented
(phone numbers use the 555-01xx range reserved for fiction).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bedboard import (
    auth,
    board,
    census,
    courts,
    matching,
    notify,
    placements,
    regions,
    search,
    synthetic,
    users,
)
from bedboard.auth import Role
from bedboard.database import Connection
from bedboard.errors import NotFound
from bedboard.facilities import (
    FacilityIn,
    FacilityKind,
    Gender,
    Population,
    SecurityLevel,
    UnitIn,
    create_facility,
    create_unit,
    list_facilities,
    list_units,
)
from bedboard.placements import calls, messages, packet, repeat
from bedboard.users import UserIn

log = logging.getLogger(__name__)

DEMO_DOMAIN = "demo.bedboard.test"
CREDENTIALS_FILE = "demo-credentials.json"
SIMULATOR_TOKEN_FILE = "demo-simulator-token"
DEMO_SEED = 20261129
FACILITY_COUNT = 40
# The synthetic history before the demo's own data: enough for every report to show.
HISTORY_DAYS = 90
HISTORY_PLACEMENTS = 300

_PLACE_WORDS = (
    "Cedar Bluff",
    "Prairie Rose",
    "Osage Hills",
    "Bluestem",
    "Meramec Valley",
    "Ozark Pines",
    "Riverbend",
    "Gasconade",
    "Hickory Ridge",
    "Sycamore",
    "Big Muddy",
    "Current River",
    "Shoal Creek",
    "Persimmon",
    "Redbud",
    "Limestone",
    "Clearwater",
    "Black Walnut",
    "Pawpaw",
    "Bonne Terre",
    "Table Rock",
    "Elk River",
    "Timber Lake",
    "Grand Prairie",
    "Harvest Moon",
    "Lone Elm",
    "Mill Creek",
    "Blue Heron",
    "Silver Maple",
    "Fox Hollow",
    "Stone Arch",
    "Whippoorwill",
    "Spring Valley",
    "Twin Oaks",
    "Cottonwood",
    "Bluff View",
    "Wildflower",
    "Sugar Creek",
    "Crooked Creek",
    "Quail Run",
)
_STREETS = ("Main", "Hospital", "College", "River", "Elm")
_SUFFIXES = (
    ("Behavioral Health Center", FacilityKind.PSYCHIATRIC_HOSPITAL),
    ("Psychiatric Hospital", FacilityKind.PSYCHIATRIC_HOSPITAL),
    ("Regional Medical Center", FacilityKind.GENERAL_HOSPITAL),
    ("Community Hospital", FacilityKind.GENERAL_HOSPITAL),
    ("Crisis Stabilization Center", FacilityKind.CRISIS_STABILIZATION),
)
# Larger counties get more facilities, as in life.
_WEIGHTED_COUNTIES = {
    "29189": 5,
    "29510": 4,
    "29095": 4,
    "29077": 3,
    "29019": 2,
    "29183": 2,
    "29047": 2,
    "29097": 2,
    "29031": 1,
    "29051": 1,
    "29021": 1,
    "29201": 1,
    "29161": 1,
    "29169": 1,
    "29001": 1,
    "29175": 1,
    "29083": 1,
    "29105": 1,
    "29223": 1,
    "29127": 1,
    "29099": 1,
    "29071": 1,
    "29113": 1,
    "29219": 1,
    "29009": 1,
    "29209": 1,
    "29215": 1,
    "29131": 1,
}
_UNIT_TEMPLATES: tuple[tuple[str, Population, Gender, SecurityLevel, tuple[str, ...]], ...] = (
    ("Adult Acute", Population.ADULT, Gender.ANY, SecurityLevel.SECURE, ()),
    (
        "Adult Co-Occurring",
        Population.ADULT,
        Gender.ANY,
        SecurityLevel.STANDARD,
        ("co_occurring_substance_use",),
    ),
    ("Adolescent", Population.ADOLESCENT, Gender.ANY, SecurityLevel.SECURE, ("trauma",)),
    ("Child", Population.CHILD, Gender.ANY, SecurityLevel.STANDARD, ("autism_spectrum",)),
    (
        "Senior Behavioral",
        Population.GERIATRIC,
        Gender.ANY,
        SecurityLevel.STANDARD,
        ("dementia", "medical_psychiatric"),
    ),
    (
        "Women's Unit",
        Population.ADULT,
        Gender.FEMALE,
        SecurityLevel.STANDARD,
        ("trauma", "eating_disorder"),
    ),
    ("Forensic", Population.ADULT, Gender.MALE, SecurityLevel.FORENSIC, ("forensic",)),
    (
        "Dual Diagnosis",
        Population.ADULT,
        Gender.ANY,
        SecurityLevel.STANDARD,
        ("developmental_disability",),
    ),
)
_COURTS = (
    ("Jackson County Probate Division (demo)", 16, "29095"),
    ("St. Louis County Probate Division (demo)", 21, "29189"),
    ("City of St. Louis Probate Division (demo)", 22, "29510"),
    ("Greene County Probate Division (demo)", 31, "29077"),
    ("Boone County Probate Division (demo)", 13, "29019"),
)

# Five regions in the manner of the Missouri Department of Mental Health's service areas
# (demo data: the names and the counties of each are illustrative, not the department's
# own). Every county of the reference data is in one of them.
_REGIONS = (
    (
        "Eastern (demo)",
        "St. Louis, St. Louis City, St. Charles, Jefferson, Franklin, Lincoln, Warren, "
        "Washington, St. Francois, Ste. Genevieve, Pike, Marion, Ralls, Lewis, Clark, Knox, "
        "Shelby, Monroe, Montgomery, Gasconade, Crawford, Scotland",
    ),
    (
        "Central (demo)",
        "Boone, Cole, Callaway, Audrain, Howard, Cooper, Moniteau, Miller, Morgan, Camden, "
        "Osage, Maries, Phelps, Pulaski, Laclede, Randolph, Chariton, Macon, Adair, Linn, "
        "Schuyler, Putnam, Sullivan",
    ),
    (
        "Northwest (demo)",
        "Jackson, Clay, Platte, Cass, Buchanan, Andrew, Atchison, Nodaway, Holt, Worth, "
        "Gentry, Harrison, Mercer, Grundy, Daviess, DeKalb, Clinton, Caldwell, Livingston, "
        "Carroll, Ray, Lafayette, Johnson, Saline, Pettis, Henry, Bates",
    ),
    (
        "Southwest (demo)",
        "Greene, Jasper, Newton, McDonald, Barry, Stone, Taney, Christian, Lawrence, Barton, "
        "Vernon, Cedar, Dade, Polk, Dallas, Webster, Douglas, Ozark, Wright, Hickory, "
        "St. Clair, Benton",
    ),
    (
        "Southeast (demo)",
        "Cape Girardeau, Scott, Mississippi, New Madrid, Pemiscot, Dunklin, Stoddard, Butler, "
        "Ripley, Wayne, Bollinger, Perry, Madison, Reynolds, Carter, Shannon, Oregon, Howell, "
        "Dent, Iron, Texas",
    ),
)


@dataclass(frozen=True)
class DemoCredential:
    role: str
    email: str
    password: str


async def demo_loaded(conn: Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)", f"admin@{DEMO_DOMAIN}"
        )
    )


async def load_facilities(conn: Connection, rng: random.Random) -> list[int]:
    counties = [fips for fips, weight in _WEIGHTED_COUNTIES.items() for _ in range(weight)]
    facility_ids: list[int] = []
    for index, place in enumerate(_PLACE_WORDS[:FACILITY_COUNT]):
        suffix, kind = _SUFFIXES[index % len(_SUFFIXES)]
        fips = counties[index % len(counties)]
        lat, lon = await conn.fetchrow(
            "SELECT latitude, longitude FROM counties WHERE fips = $1", fips
        ) or (0.0, 0.0)
        facility = await create_facility(
            conn,
            FacilityIn(
                name=f"{place} {suffix}",
                kind=kind,
                address=f"{100 + rng.randrange(9800)} {rng.choice(_STREETS)} St (fictional)",
                city="",
                county_fips=fips,
                latitude=round(float(lat) + rng.uniform(-0.08, 0.08), 5),
                longitude=round(float(lon) + rng.uniform(-0.08, 0.08), 5),
                phone_main=f"573-555-01{index:02d}",
                phone_intake=f"573-555-01{(index + 50) % 100:02d}",
                report_cadence_minutes=rng.choice([60, 240, 720, 720, 720]),
            ),
        )
        facility_ids.append(facility.id)
        unit_count = 1 if kind is FacilityKind.CRISIS_STABILIZATION else rng.randint(2, 4)
        templates = rng.sample(_UNIT_TEMPLATES, unit_count)
        for name, population, gender, security, specialties in templates:
            await create_unit(
                conn,
                UnitIn(
                    facility_id=facility.id,
                    name=name,
                    population=population,
                    gender=gender,
                    security_level=security,
                    specialties=list(specialties),
                    accepts_involuntary=kind is not FacilityKind.CRISIS_STABILIZATION,
                    accepts_court_ordered=rng.random() > 0.1,
                    payers=sorted(
                        rng.sample(
                            ["medicaid", "medicare", "commercial", "tricare", "uninsured"],
                            rng.randint(2, 5),
                        )
                    ),
                    licensed_beds=rng.choice([8, 10, 12, 16, 20, 24, 30]),
                ),
            )
    return facility_ids


def intake_address(name: str) -> str:
    """A demo facility's fictional intake desk (example.org is reserved for examples)."""
    slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
    return f"intake-{slug}@example.org"


async def load_intake_contacts(conn: Connection) -> None:
    """Every demo facility gets an intake email, so a referral in the demo sends mail."""
    for facility in await list_facilities(conn):
        current = await notify.intake_contact(conn, facility.id)
        if not current.email:
            await notify.set_intake_contact(
                conn, facility.id, email=intake_address(facility.name), phone=facility.phone_intake
            )


def clerk_address(name: str) -> str:
    """A demo court's fictional clerk's office (example.org is reserved for examples)."""
    slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
    return f"clerk-{slug}@example.org"


async def load_courts(conn: Connection) -> list[int]:
    """The demo courts, each with a fictional clerk's address (so a placement that moves
    on in the demo mails its court)."""
    ids = []
    for name, circuit, fips in _COURTS:
        court = await courts.create_court(
            conn,
            courts.CourtIn(
                name=name, circuit=circuit, county_fips=fips, clerk_email=clerk_address(name)
            ),
        )
        ids.append(court.id)
    return ids


async def load_regions(conn: Connection) -> list[int]:
    """The five demo regions, their counties named as in the reference data."""
    fips_of = {r["name"]: r["fips"] for r in await conn.fetch("SELECT name, fips FROM counties")}
    ids = []
    for name, counties in _REGIONS:
        data = regions.RegionIn(
            name=name, counties=[fips_of[c.strip()] for c in counties.split(",")]
        )
        ids.append((await regions.create_region(conn, data)).id)
    return ids


# The demo supervisor's region: Boone County (the demo's open placement) is in it.
SUPERVISOR_REGION = "Central (demo)"


async def _demo_user(
    conn: Connection, role: Role, facility_ids: list[int], court_ids: list[int]
) -> DemoCredential:
    password = "demo-" + secrets.token_urlsafe(12)
    email = f"{role.value}@{DEMO_DOMAIN}"
    region_id = None
    if role is Role.SUPERVISOR:
        region_id = await conn.fetchval("SELECT id FROM regions WHERE name = $1", SUPERVISOR_REGION)
    await users.create_user(
        conn,
        UserIn(
            email=email,
            display_name=f"Demo {role.value}",
            # Fictional (555) call-back numbers for the roles that send referrals.
            phone="573-555-0100" if role in (Role.LIAISON, Role.SUPERVISOR) else "",
            role=role,
            password=password,
            facility_ids=facility_ids[:1] if role is Role.FACILITY else [],
            court_id=court_ids[0] if role is Role.COURT else None,
            region_id=region_id,
        ),
    )
    return DemoCredential(role.value, email, password)


async def load_users(
    conn: Connection, facility_ids: list[int], court_ids: list[int]
) -> list[DemoCredential]:
    """One demo account per role (the supervisor's region: ``SUPERVISOR_REGION``)."""
    return [await _demo_user(conn, role, facility_ids, court_ids) for role in Role]


async def load_missing_users(conn: Connection) -> list[DemoCredential]:
    """Accounts of roles added since the demo was loaded (the supervisor), if their
    region is there; the credentials of those made."""
    creds = []
    for role in Role:
        exists = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)", f"{role.value}@{DEMO_DOMAIN}"
        )
        if exists or role is not Role.SUPERVISOR:
            continue
        if await conn.fetchval("SELECT id FROM regions WHERE name = $1", SUPERVISOR_REGION):
            creds.append(await _demo_user(conn, role, [], []))
    return creds


async def reset_passwords(conn: Connection) -> list[DemoCredential]:
    """New passwords for the demo users (when the credentials file was lost)."""
    creds = []
    for role in Role:
        email = f"{role.value}@{DEMO_DOMAIN}"
        try:
            user = await users.get_user_by_email(conn, email)
        except NotFound:  # a role the demo could not add (its region was deleted)
            continue
        password = "demo-" + secrets.token_urlsafe(12)
        await users.update_user(conn, user.id, users.UserPatch(password=password))
        creds.append(DemoCredential(role.value, email, password))
    return creds


def _write_credentials(data_dir: Path, creds: list[DemoCredential]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump([c.__dict__ for c in creds], fh, indent=2)


def _read_credentials(data_dir: Path) -> list[DemoCredential] | None:
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        return None
    return [DemoCredential(**item) for item in json.loads(path.read_text(encoding="utf-8"))]


async def ensure_demo(
    conn: Connection, data_dir: Path, person_link_key: bytes | None = None
) -> list[DemoCredential]:
    """Load the demo data once; return the demo credentials (kept in the data dir).
    With ``person_link_key`` (the service's), two demo cases are one fictional person."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('bedboard-demo'))")
        if not await demo_loaded(conn):
            rng = random.Random(DEMO_SEED)
            facility_ids = await load_facilities(conn, rng)
            court_ids = await load_courts(conn)
            await load_regions(conn)
            creds = await load_users(conn, facility_ids, court_ids)
            await load_census(conn, rng, facility_ids)
            await load_placements(conn, rng)
            await placements.spread_demo_history(conn)
            await messages.align_demo_times(conn)
            if person_link_key is not None:
                await load_repeat_case(conn, person_link_key)
            await load_history(conn)
            await load_intake_contacts(conn)
            # The seeded referrals mail nobody; the ones made in the demo do.
            await notify.skip_to_head(conn)
            _write_credentials(data_dir, creds)
            return creds
        await load_intake_contacts(conn)
        added = await load_missing_users(conn)
        existing = _read_credentials(data_dir)
        if existing is not None:
            if added:
                made = {c.email for c in added}
                existing = [c for c in existing if c.email not in made] + added
                _write_credentials(data_dir, existing)
            return existing
        creds = await reset_passwords(conn)
        _write_credentials(data_dir, creds)
        return creds


# Facilities (by position) whose reports are left to go stale, so the board shows it.
_NEGLECTED = frozenset({3, 17, 29})


async def load_census(conn: Connection, rng: random.Random, facility_ids: list[int]) -> None:
    """A first census for every unit, through the same path as every report."""
    now = await board.db_now(conn)
    reports: list[tuple[int, census.CensusReport]] = []
    for index, facility_id in enumerate(facility_ids):
        age = (
            timedelta(hours=rng.uniform(30, 60))
            if index in _NEGLECTED
            else timedelta(minutes=rng.uniform(1, 90))
        )
        for unit in await list_units(conn, facility_id):
            staffed = max(4, unit.licensed_beds - rng.randint(0, 4))
            occupied = rng.randint(max(0, staffed - 4), staffed)
            blocked = rng.randint(0, min(1, staffed - occupied))
            report = census.CensusReport(
                as_of=now - age, staffed=staffed, occupied=occupied, blocked=blocked
            )
            reports.append((unit.id, report))
    await census.apply(conn, reports, census.Source("demo"))


async def load_history(conn: Connection) -> synthetic.HistoryCounts:
    """Months of synthetic history before the demo's own records (``synthetic.py``):
    census reports at each facility's cadence, and placements that ended (or a few still
    open). It comes after ``spread_demo_history``, which moves every timeline it finds,
    and each unit's history ends before the demo's first census of it."""
    counts = await synthetic.generate_history(
        conn,
        days=HISTORY_DAYS,
        placements=HISTORY_PLACEMENTS,
        census_changes_per_unit_per_day=None,
        seed=DEMO_SEED,
        now=await board.db_now(conn),
    )
    log.info(
        "demo history: %d census reports, %d placements over %d days (%.1f s)",
        counts.census_rows,
        counts.placements,
        HISTORY_DAYS,
        counts.seconds,
    )
    return counts


_DEMO_CASES = (
    # (initials, age, sex, order type, county, hours since detention, what happens). The age
    # group and unit genders follow the person, as they do for a liaison.
    ("JR", 34, "male", "emergency_96h_application", "29019", 5, "open"),
    ("MK", 16, "female", "emergency_96h", "29095", 30, "declined_then_open"),
    ("TL", 52, "female", "emergency_96h", "29189", 20, "accepted"),
    ("DW", 71, "male", "emergency_96h", "29077", 40, "in_transit"),
    ("AS", 28, "female", "emergency_96h", "29510", 60, "admitted"),
    ("BC", 45, "male", "emergency_96h_application", "29183", 80, "closed"),
    ("EH", 39, "male", "emergency_96h", "29019", 90, "discharged"),
)
# The demo's outpatient commitment: its court date, days from loading, and its CMHC.
_DEMO_COMMITMENT = (5, "Burrell Behavioral Health (fictional demo CMHC)")
# The default zone (BEDBOARD_TIMEZONE's): the commitment's task is due on a local day.
_DEMO_ZONE = ZoneInfo("America/Chicago")


async def load_placements(conn: Connection, rng: random.Random) -> None:
    """A few placements in different states, through the same functions as the API."""
    liaison = await auth.principal_for_user(
        conn, (await users.get_user_by_email(conn, f"liaison@{DEMO_DOMAIN}")).id
    )
    admin = await auth.principal_for_user(
        conn, (await users.get_user_by_email(conn, f"admin@{DEMO_DOMAIN}")).id
    )
    assert liaison is not None and admin is not None
    court_ids = [r["id"] for r in await conn.fetch("SELECT id FROM courts ORDER BY id")]
    now = await board.db_now(conn)
    for index, (initials, age, sex, order_type, county, hours, story) in enumerate(_DEMO_CASES):
        on_application = order_type == "emergency_96h_application"
        data = placements.PlacementIn(
            order_type=order_type,
            # The demo court account's court: it can look all of them up.
            court_id=None if on_application else court_ids[0],
            case_number="" if on_application else f"26P-MH-{1001 + index}",
            detention_start=now - timedelta(hours=hours),
            county_fips=county,
            person=placements.PersonIn(initials=initials, age=age, sex=sex),  # type: ignore[arg-type]
            needs=placements.NeedsIn(involuntary=True),
            clinical_notes="Demo record (fictional): presenting with psychosis; no medical holds.",
            requesting_agency="Demo County Sheriff (fictional)",
            links=[
                placements.LinkIn(
                    system="CMHL case (demo)",
                    external_id=f"C-{2200 + index}",
                    url=f"https://cmhl.example.org/cases/C-{2200 + index}",
                )
            ],
        )
        placement_id = await placements.create(conn, data, liaison)
        needs = (await placements.get_placement(conn, placement_id)).needs
        if story == "open":
            # Waiting on the demo facility account, so its referrals page has work on it: a
            # unit this person can be admitted to.
            unit_id = await conn.fetchval(
                "SELECT u.id FROM units u JOIN user_facilities uf ON uf.facility_id = u.facility_id"
                " JOIN users us ON us.id = uf.user_id WHERE us.email = $1 AND u.population = $2"
                " AND u.gender = ANY($3::text[]) AND u.security_level <> 'forensic'"
                " ORDER BY u.id LIMIT 1",
                f"facility@{DEMO_DOMAIN}",
                needs.population.value,
                sorted(matching.unit_genders(needs.gender)),
            )
            if unit_id is not None:
                (referral_id,) = await placements.refer(conn, placement_id, [unit_id], liaison)
                await _demo_thread(conn, referral_id, liaison)
            await packet.save(conn, placement_id, _demo_packet(now), liaison)
            continue
        results = await search.search(
            conn,
            search.SearchQuery(
                county=county,
                population=needs.population,
                gender=needs.gender,
                involuntary=True,
                court_ordered=not on_application,
                limit=3,
            ),
        )
        unit_ids = [r.unit_id for r in results.results][:2]
        if not unit_ids:
            continue
        referral_ids = await placements.refer(conn, placement_id, unit_ids, liaison)
        if story == "declined_then_open":
            await placements.decline(
                conn,
                referral_ids[0],
                placements.DeclineReason.NO_BED,
                "Last bed went to a walk-in.",
                admin,
            )
            await _demo_calls(conn, placement_id, results.results, liaison, now)
            continue
        await placements.accept(conn, referral_ids[0], admin, timedelta(hours=4))
        steps = {
            "in_transit": ["in_transit"],
            "admitted": ["in_transit", "admitted"],
            "discharged": ["in_transit", "admitted", "discharged"],
            "closed": ["closed"],
        }
        for step in steps.get(story, []):
            change = placements.TransitionIn.model_validate(
                {
                    "to": step,
                    "outcome": "withdrawn" if step == "closed" else None,
                    "disposition": "outpatient_commitment" if step == "discharged" else None,
                }
            )
            await placements.transition(conn, placement_id, change, liaison, None)
        if story == "discharged":
            # Discharged on an outpatient commitment, with its open follow-up task.
            days, cmhc = _DEMO_COMMITMENT
            court_date = (now + timedelta(days=days)).astimezone(_DEMO_ZONE).date()
            commitment = placements.followups.CommitmentIn(court_date=court_date, cmhc_name=cmhc)
            await placements.followups.record_commitment(
                conn, placement_id, commitment, liaison, _DEMO_ZONE
            )


async def _demo_calls(
    conn: Connection,
    placement_id: int,
    results: list[search.SearchResult],
    liaison: auth.Principal,
    now: datetime,
) -> None:
    """The liaison's phone calls on the declined case: the declining unit confirms "no bed"
    by phone (the board says so), and the next one asks to be called back in two hours."""
    outcomes = [
        calls.CallIn(
            facility_id=results[0].facility_id,
            unit_id=results[0].unit_id,
            outcome=calls.Outcome.NO_BED,
        )
    ]
    if len(results) > 1:
        outcomes.append(
            calls.CallIn(
                facility_id=results[1].facility_id,
                unit_id=results[1].unit_id,
                outcome=calls.Outcome.CALL_BACK,
                call_back_at=now + timedelta(hours=2),
            )
        )
    for call in outcomes:
        await calls.record(conn, placement_id, call, liaison, hold=timedelta(hours=4))


def _demo_packet(now: datetime) -> packet.PacketIn:
    """The open case's referral packet (fictional), as its thread says: cleared earlier today."""
    return packet.PacketIn(
        medical_clearance=True,
        medical_clearance_at=now - timedelta(hours=3),
        toxicology="Demo (fictional): urine drug screen negative.",
        recent_aggression=False,
        medications_given="Demo (fictional): none given at the ED.",
        order_copy_received=False,
        pregnancy=packet.Pregnancy.NOT_APPLICABLE,  # the open demo case is a man
    )


# The open case's short thread with the demo facility (fictional): (who, text).
_DEMO_THREAD = (
    ("facility", "Demo message (fictional): has the person had a medical clearance yet?"),
    ("liaison", "Demo reply (fictional): yes, cleared at the ED earlier today; labs normal."),
)


async def _demo_thread(conn: Connection, referral_id: int, liaison: auth.Principal) -> None:
    """The demo facility asks about the open referral on its thread; the liaison replies
    (the formal question-and-answer flow stays as it is)."""
    account = await users.get_user_by_email(conn, f"facility@{DEMO_DOMAIN}")
    facility = await auth.principal_for_user(conn, account.id)
    assert facility is not None
    for who, text in _DEMO_THREAD:
        await messages.send(conn, referral_id, text, facility if who == "facility" else liaison)


# A repeat case: the closed "BC" case and the open "JR" case are one fictional person (the
# name below exists only here, in the demo's source; only its fingerprint is stored).
_REPEAT_PERSON = ("Demo Repeat Person", date(1991, 3, 14))
_REPEAT_CASES = ("BC", "JR")  # earlier, later


async def load_repeat_case(conn: Connection, key: bytes) -> None:
    """Fingerprint both cases as one person and link the later to the earlier, through the
    liaison's own functions."""
    liaison = await auth.principal_for_user(
        conn, (await users.get_user_by_email(conn, f"liaison@{DEMO_DOMAIN}")).id
    )
    assert liaison is not None
    fingerprint = repeat.person_key(
        key, repeat.PersonIn(full_name=_REPEAT_PERSON[0], birth_date=_REPEAT_PERSON[1])
    )
    ids = []
    for initials in _REPEAT_CASES:
        ids.append(
            await conn.fetchval(
                "SELECT id FROM placements WHERE person_initials = $1 ORDER BY id LIMIT 1",
                initials,
            )
        )
    if None in ids:
        return
    earlier_id, later_id = ids
    await repeat.remember(conn, earlier_id, fingerprint, liaison)
    await repeat.remember(conn, later_id, fingerprint, liaison)
    await repeat.link(conn, later_id, earlier_id, liaison)


async def simulator_token(conn: Connection, data_dir: Path) -> str:
    """The token the simulated reporter uses (a facility account for every demo facility)."""
    path = data_dir / SIMULATOR_TOKEN_FILE
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if await auth.load_token(conn, token) is not None:
            return token
    email = f"simulator@{DEMO_DOMAIN}"
    facility_ids = [f.id for f in await list_facilities(conn)]
    try:
        user = await users.get_user_by_email(conn, email)
    except NotFound:
        user = await users.create_user(
            conn,
            UserIn(
                email=email,
                display_name="Demo census simulator",
                role=Role.FACILITY,
                facility_ids=facility_ids,
            ),
        )
        # A robot: it reports census everywhere and reads no facility's notifications.
        await notify.save_preferences(
            conn,
            user.id,
            Role.FACILITY,
            notify.Preferences(channels={e: [] for e in notify.events_for(Role.FACILITY)}),
        )
    token = (await auth.create_token(conn, user.id, "demo simulator")).token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


async def _first_board(session: aiohttp.ClientSession) -> dict[str, Any]:
    """The board, once the server (started right after this task) answers."""
    while True:
        try:
            async with session.get("/api/v1/board") as resp:
                if resp.status == 200:
                    board_: dict[str, Any] = await resp.json()
                    return board_
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)


async def simulate(
    base_url: str,
    token: str,
    *,
    interval_s: float = 3.0,
    skip_facility_ids: frozenset[int] = frozenset(),
) -> None:
    """Until cancelled: post realistic census changes through the HTTP API.

    Every few seconds one unit admits or discharges a patient (or a bed is blocked or
    freed). Neglected facilities are left alone so the board keeps showing stale data.
    """
    rng = random.Random()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers) as session:
        snapshot = await _first_board(session)
        units = [
            unit
            for facility in snapshot["facilities"]
            if facility["freshness"] not in ("stale", "never")  # the neglected ones stay neglected
            and facility["id"] not in skip_facility_ids  # fed by a demo feed instead
            for unit in facility["units"]
            if unit["staffed"] is not None
        ]
        while units:
            await asyncio.sleep(interval_s * rng.uniform(0.5, 1.5))
            unit = rng.choice(units)
            staffed, occupied, blocked = unit["staffed"], unit["occupied"], unit["blocked"]
            move = rng.random()
            if move < 0.45 and occupied + blocked < staffed:
                occupied += 1  # an admission
            elif move < 0.9 and occupied > 0:
                occupied -= 1  # a discharge
            elif blocked > 0:
                blocked -= 1
            elif occupied + blocked < staffed:
                blocked += 1
            body = {
                "as_of": datetime.now(UTC).isoformat(),
                "staffed": staffed,
                "occupied": occupied,
                "blocked": blocked,
            }
            try:
                async with session.put(f"/api/v1/units/{unit['id']}/census", json=body) as resp:
                    outcome = (
                        (await resp.json())["results"][0]["outcome"] if resp.status == 200 else None
                    )
                    if outcome == "applied":
                        unit.update(occupied=occupied, blocked=blocked)
                    elif outcome is None:
                        log.warning("demo simulator: report refused (HTTP %s)", resp.status)
                    else:
                        # e.g. "conflict": a bed is held there; re-read the unit next time.
                        log.debug("demo simulator: report not applied (%s)", outcome)
                        units.remove(unit)
            except aiohttp.ClientError as exc:
                log.warning("demo simulator: %s", exc)


def credentials_banner(creds: list[DemoCredential], url: str) -> str:
    width = max(len(c.email) for c in creds)
    lines = [
        "",
        f"bedboard demo is running at {url}",
        "Demo accounts (fictional data; these passwords are for this demo only):",
    ]
    lines += [f"  {c.role:<10} {c.email:<{width}}  {c.password}" for c in creds]
    lines.append("Demo court case numbers to look up: 26P-MH-1002 to 26P-MH-1005.")
    lines.append("")
    return "\n".join(lines)
