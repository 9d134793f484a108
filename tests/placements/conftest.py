"""A small world for placement tests: two facilities, two courts, one user per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import census, regions
from bedboard.auth import Role
from bedboard.regions import RegionIn

CANARY = "CANARY-7f3e-clinical-note"


@dataclass
class World:
    client: Any
    conn: Any
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        extra = kwargs.pop("headers", {})
        return await self.client.request(
            method, path, headers={**self.headers[who], **extra}, **kwargs
        )

    def placement_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "order_type": "emergency_96h",
            "court_id": self.ids["court"],
            "case_number": "26P-CV-0042",
            "detention_start": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "county_fips": "29019",
            "person": {"initials": "jd", "age": 34, "sex": "male"},
            "needs": {
                "population": "adult",
                "gender": "male",
                "specialties": [],
                "involuntary": True,
            },
            "clinical_notes": f"Agitated, requires 1:1. {CANARY}",
            "requesting_agency": "Boone County Sheriff",
            "requesting_officer": "Deputy (demo)",
            "links": [
                {
                    "system": "CMHL case",
                    "external_id": "C-100",
                    "url": "https://cases.example.org/C-100",
                }
            ],
        }
        body.update(overrides)
        return body

    async def create(self, **overrides: Any) -> dict[str, Any]:
        resp = await self.call(
            "liaison", "POST", "/api/v1/placements", json=self.placement_body(**overrides)
        )
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body

    async def refer(self, placement_id: int, *unit_keys: str) -> list[int]:
        resp = await self.call(
            "liaison",
            "POST",
            f"/api/v1/placements/{placement_id}/referrals",
            json={"unit_ids": [self.ids[k] for k in unit_keys]},
        )
        assert resp.status == 201, await resp.text()
        ids: list[int] = (await resp.json())["ids"]
        return ids

    async def held(self, unit_key: str) -> int:
        value: int = await self.conn.fetchval(
            "SELECT held FROM unit_census WHERE unit_id = $1", self.ids[unit_key]
        )
        return value


@pytest.fixture
async def world(
    client: Any,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_court: Any,
    make_user: Any,
    make_token: Any,
) -> World:
    w = World(client, conn)
    a = await make_facility(name="Hillcrest Behavioral")
    b = await make_facility(name="Lakeside Psychiatric")
    a1 = await make_unit(a.id, name="Adult Acute", population="adult")
    b1 = await make_unit(b.id, name="Adult Unit", population="adult")
    court = await make_court(name="Boone Probate (test)")
    other_court = await make_court(name="Cole Probate (test)", county_fips="29051")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [
            (a1.id, census.CensusReport(as_of=now, staffed=10, occupied=8)),
            (b1.id, census.CensusReport(as_of=now, staffed=10, occupied=9)),
        ],
        census.Source("test"),
    )
    w.ids.update(
        facility_a=a.id,
        facility_b=b.id,
        a1=a1.id,
        b1=b1.id,
        court=court.id,
        other_court=other_court.id,
    )
    # Token-only accounts: no password hashing, so every test stays quick.
    accounts = {
        "admin": await make_user(Role.ADMIN, password=None),
        "liaison": await make_user(Role.LIAISON, password=None),
        "liaison2": await make_user(Role.LIAISON, password=None),
        "facility_a": await make_user(Role.FACILITY, facility_ids=[a.id], password=None),
        "facility_b": await make_user(Role.FACILITY, facility_ids=[b.id], password=None),
        "court": await make_user(Role.COURT, court_id=court.id, password=None),
        "other_court": await make_user(Role.COURT, court_id=other_court.id, password=None),
        "viewer": await make_user(Role.VIEWER, password=None),
    }
    for name, account in accounts.items():
        w.headers[name] = {"Authorization": f"Bearer {await make_token(account.id)}"}
        w.ids[f"user_{name}"] = account.id
    w.headers["anonymous"] = {}
    return w


async def add_supervisors(world: World, make_user: Any, make_token: Any) -> World:
    """Two regions and a supervisor for each: ``supervisor`` leads the region of Boone
    County (29019, where ``placement_body`` puts a placement), ``other_supervisor`` the
    region of Cole County (29051)."""
    for who, name, fips in (
        ("supervisor", "Boone region (test)", "29019"),
        ("other_supervisor", "Cole region (test)", "29051"),
    ):
        region = await regions.create_region(world.conn, RegionIn(name=name, counties=[fips]))
        account = await make_user(Role.SUPERVISOR, region_id=region.id, password=None)
        world.headers[who] = {"Authorization": f"Bearer {await make_token(account.id)}"}
        world.ids[f"user_{who}"] = account.id
        world.ids[f"region_{who}"] = region.id
    return world
