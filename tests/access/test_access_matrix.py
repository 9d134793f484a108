"""The access matrix: every directory and admin endpoint, by role, by own or other scope.

Each row of ``MATRIX`` is one endpoint (or one variant of it, such as a PATCH that
touches only contact fields) and the status each caller must get. Every caller
is a bearer token, so one test client can act as every role. Columns:

* ``admin``, ``liaison``, ``supervisor``, ``viewer``: scope does not apply to them (a
  supervisor's region scopes placements only, which are below and in
  tests/placements/test_access.py).
* ``fac_own`` / ``fac_other``: a facility user acting on their own facility (or a unit
  of it) / on another facility. Where the endpoint is not facility-scoped only
  ``fac_own`` is filled and the case is simply called ``facility``.
* ``court_own`` / ``court_other``: likewise for a court user and courts.
* ``anon``: no credentials at all.

``None`` means "not applicable" (no test case). 2xx means allowed; 403 denied; 404
denied without revealing that the object exists; 401 not signed in.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bedboard import access, auth, courts, database, facilities, regions, users
from bedboard.api.registry import ENDPOINTS
from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.courts import CourtIn
from bedboard.facilities import FacilityIn, FacilityKind, Population, UnitIn
from bedboard.regions import RegionIn
from bedboard.reports import FIGURES, report_resource
from bedboard.settings import Settings
from bedboard.users import UserIn
from tests.conftest import TEMPLATE_DB, TEST_SECRET, Account, drop_database

Column = Literal[
    "admin",
    "liaison",
    "supervisor",
    "fac_own",
    "fac_other",
    "court_own",
    "court_other",
    "viewer",
    "anon",
    # The placement tables below: the supervisor of the placement's region, of another.
    "sup_own",
    "sup_other",
]
COLUMNS: tuple[Column, ...] = (
    "admin",
    "liaison",
    "supervisor",
    "fac_own",
    "fac_other",
    "court_own",
    "court_other",
    "viewer",
    "anon",
)
ROLE_OF_COLUMN: dict[Column, str] = {
    "admin": "admin",
    "liaison": "liaison",
    "supervisor": "supervisor",
    "sup_own": "supervisor",
    "sup_other": "supervisor",
    "fac_own": "facility",
    "fac_other": "facility",
    "court_own": "court",
    "court_other": "court",
    "viewer": "viewer",
    "anon": "anonymous",
}


@dataclass(frozen=True)
class Targets:
    """The ids one request resolves its path and body placeholders with."""

    facility: int
    unit: int
    court: int
    user: int
    token: int
    region: int
    doomed_region: int  # the one DELETE removes (every other case keeps ``region``)


Body = Callable[[Targets], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    route: str  # the registered route, e.g. /api/v1/facilities/{id}
    target: (
        Literal["facility", "unit", "court", "user", "token", "region", "doomed_region"] | None
    ) = None
    suffix: str = ""
    body: Body | None = None
    scope: Literal["facility", "court"] | None = None
    object_type: str = ""

    def path(self, targets: Targets) -> str:
        if self.target is None:
            return self.route
        return self.route.replace("{id}", str(getattr(targets, self.target)))

    def object_id(self, targets: Targets) -> str:
        return "" if self.target is None else str(getattr(targets, self.target))


FACILITY_CONTACT = {
    "phone_main": "573-555-0100",
    "phone_intake": "573-555-0199",
    "address": "1 Hospital Drive",
}
UNIT_PROFILE = {
    "gender": "female",
    "security_level": "secure",
    "specialties": ["trauma", "co_occurring_substance_use"],
    "accepts_involuntary": False,
    "accepts_court_ordered": False,
    "payers": ["medicaid", "tricare"],
}


# Names of created objects are unique per request, so no case can collide with another.
_serial = itertools.count(1)


def _new_facility(_: Targets) -> dict[str, Any]:
    return {
        "name": f"New Facility {next(_serial)}",
        "kind": "general_hospital",
        "county_fips": "29019",
    }


def _new_unit(t: Targets) -> dict[str, Any]:
    return {
        "facility_id": t.facility,
        "name": f"New Unit {next(_serial)}",
        "population": "adult",
        "licensed_beds": 8,
    }


def _new_court(_: Targets) -> dict[str, Any]:
    return {"name": f"New Court {next(_serial)}", "circuit": 7, "county_fips": "29019"}


def _new_user(_: Targets) -> dict[str, Any]:
    return {"email": f"new-{next(_serial)}@example.org", "role": "viewer"}


def _new_supervisor(t: Targets) -> dict[str, Any]:
    return {
        "email": f"lead-{next(_serial)}@example.org",
        "role": "supervisor",
        "region_id": t.region,
    }


def _supervisor_without_region(_: Targets) -> dict[str, Any]:
    return {"email": f"lead-{next(_serial)}@example.org", "role": "supervisor"}


def _new_token(t: Targets) -> dict[str, Any]:
    return {"user_id": t.user, "name": f"new {next(_serial)}"}


def _new_region(_: Targets) -> dict[str, Any]:
    return {"name": f"New Region {next(_serial)}", "counties": []}


def _renamed_region(_: Targets) -> dict[str, Any]:
    return {"name": f"Renamed Region {next(_serial)}", "counties": ["29019"]}


def _const(value: dict[str, Any]) -> Body:
    return lambda _: dict(value)


F, U, C = "/api/v1/facilities", "/api/v1/units", "/api/v1/courts"
R = "/api/v1/regions"

# fmt: off
MATRIX: list[tuple[Endpoint, tuple[int | None, ...]]] = [
    # (endpoint,
    #  (admin, liaison, supervisor, fac_own, fac_other, court_own, court_other, viewer, anon)),
    (Endpoint("counties.list", "GET", "/api/v1/counties", object_type="county"),
     (200, 200, 200, 200, None, 200, None, 200, 401)),
    (Endpoint("facilities.list", "GET", F, object_type="facility"),
     (200, 200, 200, 200, None, 200, None, 200, 401)),
    (Endpoint("facilities.create", "POST", F, body=_new_facility, object_type="facility"),
     (201, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("facilities.get", "GET", F + "/{id}", "facility", scope="facility",
              object_type="facility"),
     (200, 200, 200, 200, 200, 200, None, 200, 401)),
    (Endpoint("facilities.patch_contact", "PATCH", F + "/{id}", "facility",
              body=_const(FACILITY_CONTACT), scope="facility", object_type="facility"),
     (200, 403, 403, 200, 403, 403, None, 403, 401)),
    (Endpoint("facilities.patch_name", "PATCH", F + "/{id}", "facility",
              body=_const({"name": "Renamed Facility"}), scope="facility", object_type="facility"),
     (200, 403, 403, 403, 403, 403, None, 403, 401)),
    (Endpoint("facilities.patch_contact_and_cadence", "PATCH", F + "/{id}", "facility",
              body=_const({"phone_main": "573-555-0111", "report_cadence_minutes": 60}),
              scope="facility", object_type="facility"),
     (200, 403, 403, 403, 403, 403, None, 403, 401)),
    (Endpoint("facilities.units", "GET", F + "/{id}/units", "facility", scope="facility",
              object_type="facility"),
     (200, 200, 200, 200, 200, 200, None, 200, 401)),
    (Endpoint("units.list", "GET", U, object_type="unit"),
     (200, 200, 200, 200, None, 200, None, 200, 401)),
    (Endpoint("units.create", "POST", U, body=_new_unit, scope="facility", object_type="unit"),
     (201, 403, 403, 403, 403, 403, None, 403, 401)),
    (Endpoint("units.get", "GET", U + "/{id}", "unit", scope="facility", object_type="unit"),
     (200, 200, 200, 200, 200, 200, None, 200, 401)),
    (Endpoint("units.patch_profile", "PATCH", U + "/{id}", "unit", body=_const(UNIT_PROFILE),
              scope="facility", object_type="unit"),
     (200, 403, 403, 200, 403, 403, None, 403, 401)),
    (Endpoint("units.patch_licensed_beds", "PATCH", U + "/{id}", "unit",
              body=_const({"licensed_beds": 40}), scope="facility", object_type="unit"),
     (200, 403, 403, 403, 403, 403, None, 403, 401)),
    (Endpoint("units.patch_name", "PATCH", U + "/{id}", "unit",
              body=_const({"name": "Renamed Unit"}), scope="facility", object_type="unit"),
     (200, 403, 403, 403, 403, 403, None, 403, 401)),
    (Endpoint("courts.list", "GET", C, object_type="court"),
     (200, 200, 200, 403, None, 200, None, 403, 401)),
    (Endpoint("courts.create", "POST", C, body=_new_court, object_type="court"),
     (201, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("courts.get", "GET", C + "/{id}", "court", scope="court", object_type="court"),
     (200, 200, 200, 403, None, 200, 404, 403, 401)),
    (Endpoint("courts.patch", "PATCH", C + "/{id}", "court",
              body=_const({"name": "Renamed Court"}), scope="court", object_type="court"),
     (200, 403, 403, 403, None, 403, 403, 403, 401)),
    (Endpoint("regions.list", "GET", R, object_type="region"),
     (200, 200, 200, 200, None, 200, None, 200, 401)),
    (Endpoint("regions.create", "POST", R, body=_new_region, object_type="region"),
     (201, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("regions.put", "PUT", R + "/{id}", "region", body=_renamed_region,
              object_type="region"),
     (200, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("regions.delete", "DELETE", R + "/{id}", "doomed_region", object_type="region"),
     (204, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("users.list", "GET", "/api/v1/users", object_type="user"),
     (200, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("users.create", "POST", "/api/v1/users", body=_new_user, object_type="user"),
     (201, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("users.create_supervisor", "POST", "/api/v1/users", body=_new_supervisor,
              object_type="user"),
     (201, 403, 403, 403, None, 403, None, 403, 401)),
    # A supervisor needs a region: the administrator is told so (422), nothing is made.
    # (The body is read before the role is, so only the administrator's case says more.)
    (Endpoint("users.create_supervisor_without_region", "POST", "/api/v1/users",
              body=_supervisor_without_region, object_type="user"),
     (422, None, None, None, None, None, None, None, 401)),
    (Endpoint("users.get", "GET", "/api/v1/users/{id}", "user", object_type="user"),
     (200, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("users.patch", "PATCH", "/api/v1/users/{id}", "user",
              body=_const({"display_name": "Renamed Person"}), object_type="user"),
     (200, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("tokens.list", "GET", "/api/v1/tokens", object_type="token"),
     (200, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("tokens.create", "POST", "/api/v1/tokens", body=_new_token, object_type="token"),
     (201, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("tokens.delete", "DELETE", "/api/v1/tokens/{id}", "token", object_type="token"),
     (204, 403, 403, 403, None, 403, None, 403, 401)),
    (Endpoint("audit.list", "GET", "/api/v1/audit", object_type="audit"),
     (200, 403, 403, 403, None, 403, None, 403, 401)),
]
# fmt: on


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    column: Column
    expected: int

    @property
    def role(self) -> str:
        return ROLE_OF_COLUMN[self.column]

    @property
    def is_write(self) -> bool:
        return self.endpoint.method != "GET"

    @property
    def is_denial(self) -> bool:
        return self.expected in (403, 404)

    @property
    def label(self) -> str:
        scoped = (self.column.startswith("fac_") and self.endpoint.scope == "facility") or (
            self.column.startswith("court_") and self.endpoint.scope == "court"
        )
        if scoped:
            return self.role + ("_own" if self.column.endswith("_own") else "_other")
        return self.role


def _cases() -> list[Case]:
    cases = []
    for endpoint, row in MATRIX:
        assert len(row) == len(COLUMNS), endpoint.name
        for column, expected in zip(COLUMNS, row, strict=True):
            if expected is not None:
                cases.append(Case(endpoint, column, expected))
    return cases


CASES = _cases()


def _params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=f"{c.endpoint.name}-{c.label}") for c in cases]


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    facility_own: int
    facility_other: int
    unit_own: int
    unit_other: int
    court_own: int
    court_other: int
    subject_user: int
    subject_token: int
    region: int
    doomed_region: int
    actors: dict[str, Account]
    tokens: dict[str, str]

    def targets(self, column: Column) -> Targets:
        fac_other = column == "fac_other"
        court_other = column == "court_other"
        return Targets(
            facility=self.facility_other if fac_other else self.facility_own,
            unit=self.unit_other if fac_other else self.unit_own,
            court=self.court_other if court_other else self.court_own,
            user=self.subject_user,
            token=self.subject_token,
            region=self.region,
            doomed_region=self.doomed_region,
        )

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def build_world(conn: database.Connection) -> World:
    """Two facilities with a unit each, two courts, one token-only account per role."""

    async def facility(name: str) -> int:
        data = FacilityIn(name=name, kind=FacilityKind.PSYCHIATRIC_HOSPITAL, county_fips="29019")
        return (await facilities.create_facility(conn, data)).id

    async def unit(facility_id: int) -> int:
        data = UnitIn(
            facility_id=facility_id,
            name="Adult Acute",
            population=Population.ADULT,
            licensed_beds=12,
        )
        return (await facilities.create_unit(conn, data)).id

    async def court(name: str) -> int:
        return (
            await courts.create_court(conn, CourtIn(name=name, circuit=13, county_fips="29019"))
        ).id

    async def account(role: Role, **scope: Any) -> Account:
        # Token-only accounts (no password): no Argon2 work, so building the world is quick.
        data = UserIn(email=f"{role.value}@example.org", role=role, **scope)
        return Account(await users.create_user(conn, data), None)

    own, other = await facility("Own Facility"), await facility("Other Facility")
    court_own, court_other = await court("Own Court"), await court("Other Court")
    region = await regions.create_region(conn, RegionIn(name="Own Region", counties=["29019"]))
    actors = {
        "admin": await account(Role.ADMIN),
        "liaison": await account(Role.LIAISON),
        "supervisor": await account(Role.SUPERVISOR, region_id=region.id),
        "facility": await account(Role.FACILITY, facility_ids=[own]),
        "court": await account(Role.COURT, court_id=court_own),
        "viewer": await account(Role.VIEWER),
    }
    tokens = {
        role: (await auth.create_token(conn, actor.id, role)).token
        for role, actor in actors.items()
    }
    subject = await users.create_user(conn, UserIn(email="subject@example.org", role=Role.VIEWER))
    subject_token = await auth.create_token(conn, subject.id, "subject's token")
    doomed = await regions.create_region(conn, RegionIn(name="Doomed Region"))
    return World(
        facility_own=own,
        facility_other=other,
        unit_own=await unit(own),
        unit_other=await unit(other),
        court_own=court_own,
        court_other=court_other,
        subject_user=subject.id,
        subject_token=subject_token.id,
        region=region.id,
        doomed_region=doomed.id,
        actors=actors,
        tokens=tokens,
    )


@pytest.fixture
async def world(conn: database.Connection) -> World:
    """A fresh world in this test's own database (for the spot checks)."""
    return await build_world(conn)


@dataclass
class Shared:
    client: TestClient[Any, Any]
    conn: database.Connection
    world: World


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    pg_dsn: str, template_dsn: str, empty_db_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shared]:
    """One database, app and world for every matrix case.

    A fresh database per case would cost ~0.4 s each (hundreds of cases). Sharing is
    safe because each case compares the database just before and just after its own
    request, and the writes the matrix allows never change who may do what.
    """
    dsn = await empty_db_factory(TEMPLATE_DB)
    conn = await database.connect(dsn)
    settings = Settings(
        database_url=dsn, data_dir=tmp_path_factory.mktemp("matrix"), secret_key=TEST_SECRET
    )
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Shared(client, conn, await build_world(conn))
    finally:
        await client.close()
        await conn.close()
        await drop_database(pg_dsn, dsn)


SNAPSHOT_QUERIES: Mapping[str, str] = {
    "facilities": "SELECT * FROM facilities ORDER BY id",
    "units": "SELECT * FROM units ORDER BY id",
    "courts": "SELECT * FROM courts ORDER BY id",
    "users": "SELECT * FROM users ORDER BY id",
    "user_facilities": "SELECT * FROM user_facilities ORDER BY user_id, facility_id",
    # last_used_at moves on every bearer request, which is not a change by the caller.
    "api_tokens": "SELECT id, user_id, name, prefix, token_hash, created_at, revoked_at"
    " FROM api_tokens ORDER BY id",
    "sessions": "SELECT * FROM sessions ORDER BY token_hash",
    "regions": "SELECT * FROM regions ORDER BY id",
    "region_counties": "SELECT * FROM region_counties ORDER BY county_fips",
}


async def snapshot(conn: database.Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(r) for r in await conn.fetch(sql)] for table, sql in SNAPSHOT_QUERIES.items()
    }


async def max_audit_id(conn: database.Connection) -> int:
    return int(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM audit_log"))


async def perform(
    client: TestClient[Any, Any], world: World, case: Case
) -> tuple[int, Any, Targets]:
    targets = world.targets(case.column)
    endpoint = case.endpoint
    kwargs: dict[str, Any] = {"headers": world.headers(case.role)}
    if endpoint.body is not None:
        kwargs["json"] = endpoint.body(targets)
    resp = await client.request(endpoint.method, endpoint.path(targets), **kwargs)
    body: Any = None
    if resp.status != 204:
        body = await resp.json(content_type=None)
    return resp.status, body, targets


# --------------------------------------------------------------------------- the matrix


MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@MODULE_LOOP
@pytest.mark.parametrize("case", _params(CASES))
async def test_each_caller_gets_exactly_the_status_its_role_and_scope_allow(
    shared: Shared, case: Case
) -> None:
    client, conn, world = shared.client, shared.conn, shared.world
    before = await snapshot(conn)
    status, body, targets = await perform(client, world, case)
    assert status == case.expected, body
    after = await snapshot(conn)

    if 200 <= status < 300:
        if case.is_write:
            assert after != before, "an allowed write must change something"
        else:
            assert after == before
        if status == 200 and "items" in body:
            assert isinstance(body["items"], list)
        elif status == 200 and case.endpoint.target is not None:
            assert body["id"] == getattr(targets, case.endpoint.target)
    else:
        assert body["status"] == status
        assert after == before


@MODULE_LOOP
@pytest.mark.parametrize("case", _params([c for c in CASES if c.is_denial]))
async def test_every_denial_is_written_to_the_audit_trail(shared: Shared, case: Case) -> None:
    client, conn, world = shared.client, shared.conn, shared.world
    last = await max_audit_id(conn)
    status, _, targets = await perform(client, world, case)
    assert status == case.expected
    rows = await conn.fetch(
        "SELECT actor_id, outcome, object_type, object_id, detail FROM audit_log WHERE id > $1",
        last,
    )
    assert len(rows) == 1, [dict(r) for r in rows]
    row = rows[0]
    assert row["outcome"] == "denied"
    assert row["actor_id"] == world.actors[case.role].id
    assert row["object_type"] == case.endpoint.object_type
    assert row["object_id"] == case.endpoint.object_id(targets)
    assert row["detail"]["reason"]


@MODULE_LOOP
@pytest.mark.parametrize(
    "case", _params([c for c in CASES if c.is_write and c.expected in (401, 403, 404)])
)
async def test_a_refused_write_changes_nothing_in_the_database(shared: Shared, case: Case) -> None:
    client, conn, world = shared.client, shared.conn, shared.world
    before = await snapshot(conn)
    status, _, _ = await perform(client, world, case)
    assert status == case.expected
    assert await snapshot(conn) == before


def test_the_matrix_covers_every_directory_and_admin_route() -> None:
    registered = {(e.method, e.path) for e in ENDPOINTS if e.tag in ("directory", "admin")}
    covered = {(endpoint.method, endpoint.route) for endpoint, _ in MATRIX}
    assert registered == covered


# --------------------------------------------------------------------------- placement actions
# ``decide`` is pure, so the placement actions outside the directory's HTTP matrix are a
# table too: (role, the placement is referred to one of their facilities / their court's)
# -> allowed, concealed. Every placement endpoint over HTTP, for every role, is
# tests/placements/test_access.py.

PLACEMENT_ID, OWN_FACILITY, OWN_COURT = 41, 7, 3
PLACEMENT_COUNTY, OTHER_COUNTY = "29019", "29051"

# (column, expected for placement.no_bed): "allow", 403 (deny) or 404 (conceal).
NO_BED_MATRIX: list[tuple[Column, Literal["allow", 403, 404]]] = [
    ("admin", "allow"),
    ("liaison", "allow"),
    ("sup_own", "allow"),  # the supervisor of the placement's region does what a liaison does
    ("sup_other", 404),  # another region's placement answers like a missing one
    ("fac_own", 403),  # a receiving facility answers referrals; it does not declare
    ("fac_other", 404),
    ("court_own", 404),
    ("court_other", 404),
    ("viewer", 404),  # an existing placement answers like a missing one
]


def _principal(column: Column) -> auth.Principal:
    role = Role(ROLE_OF_COLUMN[column])
    return auth.Principal(
        user_id=1,
        email="someone@example.org",
        display_name="Someone",
        role=role,
        facility_ids=frozenset({OWN_FACILITY if column == "fac_own" else OWN_FACILITY + 1})
        if role is Role.FACILITY
        else frozenset(),
        court_id=(OWN_COURT if column == "court_own" else OWN_COURT + 1)
        if role is Role.COURT
        else None,
        region_id=(1 if column == "sup_own" else 2) if role is Role.SUPERVISOR else None,
        region_counties=frozenset({PLACEMENT_COUNTY if column == "sup_own" else OTHER_COUNTY})
        if role is Role.SUPERVISOR
        else frozenset(),
    )


REFERRED = access.Resource(
    "placement",
    PLACEMENT_ID,
    court_id=OWN_COURT,
    facility_ids=frozenset({OWN_FACILITY}),
    county_fips=PLACEMENT_COUNTY,
)


@pytest.mark.parametrize(("column", "expected"), NO_BED_MATRIX, ids=[c for c, _ in NO_BED_MATRIX])
def test_only_liaisons_regional_supervisors_and_admins_declare_no_bed_others_get_the_write_answer(
    column: Column, expected: Literal["allow", 403, 404]
) -> None:
    principal = _principal(column)
    decision = access.decide(principal, access.Action.PLACEMENT_NO_BED, REFERRED)
    got = "allow" if decision.allowed else (404 if decision.conceal else 403)
    assert got == expected, decision
    # The same answer as any other write to the placement (edit, refer, move on).
    write = access.decide(principal, access.Action.PLACEMENT_WRITE, REFERRED)
    assert (decision.allowed, decision.conceal) == (write.allowed, write.conceal)


@pytest.mark.parametrize(("column", "expected"), NO_BED_MATRIX, ids=[c for c, _ in NO_BED_MATRIX])
def test_only_liaisons_regional_supervisors_and_admins_may_correct_a_no_bed_record(
    column: Column, expected: Literal["allow", 403, 404]
) -> None:
    """Correcting a no-bed record (a new correction row) is refused to facility and court
    users, and to viewers, with the answer of any other write to the placement."""
    principal = _principal(column)
    decision = access.decide(principal, access.Action.PLACEMENT_NO_BED_CORRECT, REFERRED)
    got = "allow" if decision.allowed else (404 if decision.conceal else 403)
    assert got == expected, decision
    write = access.decide(principal, access.Action.PLACEMENT_WRITE, REFERRED)
    assert (decision.allowed, decision.conceal) == (write.allowed, write.conceal)


# (column, expected for reading and acknowledging a placement's escalations).
ESCALATION_MATRIX: list[tuple[Column, Literal["allow", 403, 404]]] = [
    ("admin", "allow"),
    ("liaison", "allow"),
    ("sup_own", "allow"),
    ("sup_other", 404),
    ("fac_own", 403),  # a receiving facility answers referrals; the ladder is the liaisons'
    ("fac_other", 404),
    ("court_own", 404),
    ("court_other", 404),
    ("viewer", 404),
]


@pytest.mark.parametrize(
    ("column", "expected"), ESCALATION_MATRIX, ids=[c for c, _ in ESCALATION_MATRIX]
)
@pytest.mark.parametrize(
    "action", [access.Action.ESCALATION_READ, access.Action.ESCALATION_ACKNOWLEDGE]
)
def test_only_the_escalation_roles_read_and_acknowledge_escalations(
    column: Column, expected: Literal["allow", 403, 404], action: access.Action
) -> None:
    principal = _principal(column)
    decision = access.decide(principal, action, REFERRED)
    got = "allow" if decision.allowed else (404 if decision.conceal else 403)
    assert got == expected, decision
    # A supervisor is one of the escalation roles for their own region's placements only.
    assert decision.allowed == (principal.role in access.ESCALATION_ROLES and column != "sup_other")


@pytest.mark.parametrize(("column", "expected"), NO_BED_MATRIX, ids=[c for c, _ in NO_BED_MATRIX])
def test_court_status_links_are_managed_by_coordinators_with_the_write_answer(
    column: Column, expected: Literal["allow", 403, 404]
) -> None:
    """Issuing, listing and revoking a placement's court links (court_link.manage): the
    same answers as any write to the placement; the court itself opens the link, not
    the list."""
    principal = _principal(column)
    decision = access.decide(principal, access.Action.COURT_LINK_MANAGE, REFERRED)
    got = "allow" if decision.allowed else (404 if decision.conceal else 403)
    assert got == expected, decision


@pytest.mark.parametrize(("column", "expected"), NO_BED_MATRIX, ids=[c for c, _ in NO_BED_MATRIX])
@pytest.mark.parametrize("action", [access.Action.FOLLOW_UP_READ, access.Action.FOLLOW_UP_WRITE])
def test_follow_ups_and_commitments_are_the_liaisons_with_the_write_answer(
    column: Column, expected: Literal["allow", 403, 404], action: access.Action
) -> None:
    """A placement's follow-up tasks and outpatient commitment, read or written: liaisons
    and admins; the receiving facility is refused (403), courts and everyone else are
    answered as if the placement did not exist (404), as for any write."""
    principal = _principal(column)
    decision = access.decide(principal, action, REFERRED)
    got = "allow" if decision.allowed else (404 if decision.conceal else 403)
    if column.startswith("sup_"):
        # Not yet a supervisor's: their region's placements answer as if missing.
        assert got == 404, decision
        return
    assert got == expected, decision
    write = access.decide(principal, access.Action.PLACEMENT_WRITE, REFERRED)
    assert (decision.allowed, decision.conceal) == (write.allowed, write.conceal)


@pytest.mark.parametrize("column", [c for c, _ in NO_BED_MATRIX])
def test_only_liaisons_and_admins_list_follow_up_tasks(column: Column) -> None:
    principal = _principal(column)
    decision = access.decide(principal, access.Action.FOLLOW_UP_LIST, access.Resource("follow_up"))
    assert decision.allowed == (column in ("admin", "liaison"))
    assert not decision.conceal


# The supervisor's scope over every placement action: the placement's county in their
# region, or not.
SUPERVISED_ACTIONS = [
    access.Action.PLACEMENT_READ,
    access.Action.PLACEMENT_TIMELINE,
    access.Action.PLACEMENT_WRITE,
    access.Action.PLACEMENT_NO_BED,
    access.Action.PLACEMENT_NO_BED_CORRECT,
    access.Action.COURT_LINK_MANAGE,
    access.Action.ESCALATION_READ,
    access.Action.ESCALATION_ACKNOWLEDGE,
]


@pytest.mark.parametrize("action", SUPERVISED_ACTIONS, ids=[a.value for a in SUPERVISED_ACTIONS])
def test_a_supervisor_acts_on_their_regions_placements_and_cannot_tell_others_exist(
    action: access.Action,
) -> None:
    assert access.decide(_principal("sup_own"), action, REFERRED).allowed
    other = access.decide(_principal("sup_other"), action, REFERRED)
    assert not other.allowed and other.conceal
    missing = access.decide(
        _principal("sup_other"), action, access.Resource("placement", PLACEMENT_ID + 1)
    )
    assert (missing.allowed, missing.conceal) == (other.allowed, other.conceal)


def test_a_supervisor_records_placements_in_their_regions_counties_only() -> None:
    def create(column: Column, county: str | None) -> access.Decision:
        resource = access.Resource("placement", county_fips=county)
        return access.decide(_principal(column), access.Action.PLACEMENT_CREATE, resource)

    assert create("sup_own", PLACEMENT_COUNTY).allowed
    for refused in (create("sup_own", OTHER_COUNTY), create("sup_own", None)):
        assert not refused.allowed and not refused.conceal  # 403: the county is named
    assert access.moved_to(OTHER_COUNTY) == access.Resource("placement", county_fips=OTHER_COUNTY)
    assert create("liaison", OTHER_COUNTY).allowed and create("admin", None).allowed


def test_a_supervisor_answers_a_referral_of_their_regions_placement_only() -> None:
    """What a liaison may do on a receiving facility's behalf (the API's accept, decline,
    acknowledge, question), scoped by the placement's county."""
    referral = access.Resource(
        "referral", 9, facility_id=OWN_FACILITY, county_fips=PLACEMENT_COUNTY
    )
    respond = access.Action.REFERRAL_RESPOND
    assert access.decide(_principal("sup_own"), respond, referral).allowed
    other = access.decide(_principal("sup_other"), respond, referral)
    assert not other.allowed and other.conceal


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (access.Action.SEARCH, True),
        (access.Action.PLACEMENT_LIST, True),  # the list itself keeps to their region
        (access.Action.COURT_LIST, True),
        (access.Action.COURT_READ, True),
        (access.Action.REFERRAL_LIST, False),  # the receiving facilities' list, every region's
        (access.Action.COURT_LOOKUP, False),  # by case number across every region
        (access.Action.ORDER_TYPE_UPDATE, False),
        (access.Action.USER_MANAGE, False),
        (access.Action.REGION_UPDATE, False),
    ],
)
def test_a_supervisor_has_the_liaisons_tools_that_keep_to_their_region(
    action: access.Action, allowed: bool
) -> None:
    resource = access.Resource(action.value.split(".", 1)[0])
    assert access.decide(_principal("sup_own"), action, resource).allowed is allowed


def test_a_supervisor_reads_every_report_a_liaison_reads() -> None:
    for slug in FIGURES:
        liaison = access.decide(
            _principal("liaison"), access.Action.REPORT_READ, report_resource(slug)
        )
        supervisor = access.decide(
            _principal("sup_own"), access.Action.REPORT_READ, report_resource(slug)
        )
        assert supervisor.allowed == liaison.allowed is True, slug


def test_a_supervisors_placement_list_keeps_to_their_regions_counties() -> None:
    assert access.region_scope(_principal("sup_own")) == {PLACEMENT_COUNTY}
    assert access.region_scope(_principal("liaison")) is None
    assert access.region_scope(_principal("admin")) is None


# --------------------------------------------------------------------------- spot checks


async def test_facility_user_cannot_change_another_facilitys_units(
    client: TestClient[Any, Any], conn: database.Connection, world: World
) -> None:
    headers = world.headers("facility")
    for patch in (UNIT_PROFILE, {"licensed_beds": 99}):
        resp = await client.patch(f"/api/v1/units/{world.unit_other}", json=patch, headers=headers)
        assert resp.status == 403
    row = await conn.fetchrow("SELECT * FROM units WHERE id = $1", world.unit_other)
    assert row is not None
    assert row["gender"] == "any"
    assert row["licensed_beds"] == 12
    assert row["version"] == 1


async def test_facility_user_keeps_own_units_profile_current_but_not_their_bed_count(
    client: TestClient[Any, Any], conn: database.Connection, world: World
) -> None:
    headers = world.headers("facility")
    resp = await client.patch(f"/api/v1/units/{world.unit_own}", json=UNIT_PROFILE, headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["gender"] == "female"
    assert body["security_level"] == "secure"
    assert body["accepts_involuntary"] is False
    assert body["payers"] == ["medicaid", "tricare"]

    resp = await client.patch(
        f"/api/v1/units/{world.unit_own}", json={"licensed_beds": 99}, headers=headers
    )
    assert resp.status == 403
    assert (
        await conn.fetchval("SELECT licensed_beds FROM units WHERE id = $1", world.unit_own) == 12
    )


async def test_facility_user_keeps_own_contact_details_current_but_cannot_rename(
    client: TestClient[Any, Any], conn: database.Connection, world: World
) -> None:
    headers = world.headers("facility")
    url = f"/api/v1/facilities/{world.facility_own}"
    resp = await client.patch(url, json=FACILITY_CONTACT, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["phone_intake"] == "573-555-0199"

    resp = await client.patch(url, json={"name": "Hijacked"}, headers=headers)
    assert resp.status == 403
    assert (
        await conn.fetchval("SELECT name FROM facilities WHERE id = $1", world.facility_own)
        == "Own Facility"
    )


async def test_court_user_cannot_tell_another_court_from_a_missing_one(
    client: TestClient[Any, Any], world: World
) -> None:
    headers = world.headers("court")
    other = await client.get(f"/api/v1/courts/{world.court_other}", headers=headers)
    missing = await client.get("/api/v1/courts/987654", headers=headers)
    assert other.status == missing.status == 404
    other_body, missing_body = await other.json(), await missing.json()
    for key in ("type", "title", "detail"):
        assert other_body[key] == missing_body[key]
    assert "Other Court" not in await other.text()


async def test_court_user_lists_only_their_own_court(
    client: TestClient[Any, Any], world: World
) -> None:
    resp = await client.get("/api/v1/courts", headers=world.headers("court"))
    assert resp.status == 200
    assert [c["id"] for c in (await resp.json())["items"]] == [world.court_own]

    resp = await client.get("/api/v1/courts", headers=world.headers("liaison"))
    ids = {c["id"] for c in (await resp.json())["items"]}
    assert ids == {world.court_own, world.court_other}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/api/v1/units/987654", None, id="missing-unit"),
        pytest.param("GET", "/api/v1/facilities/987654/units", None, id="missing-facility-units"),
        pytest.param(
            "PATCH", "/api/v1/facilities/987654", {"phone_main": "1"}, id="patch-missing-facility"
        ),
        pytest.param("PATCH", "/api/v1/units/987654", {"gender": "male"}, id="patch-missing-unit"),
        pytest.param("POST", "/api/v1/facilities", {"name": ""}, id="invalid-body"),
        pytest.param("POST", "/api/v1/users", None, id="no-body"),
    ],
)
async def test_anonymous_caller_learns_nothing_before_signing_in(
    client: TestClient[Any, Any], world: World, method: str, path: str, body: Any
) -> None:
    resp = await client.request(method, path, json=body)
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
