"""Who may see what, for live frames: the same home (access.py) as for HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bedboard import access, outbox
from bedboard.auth import Principal, Role
from bedboard.outbox import Change


def who(role: Role, **scope: Any) -> Principal:
    return Principal(user_id=7, email="x@example.org", display_name="", role=role, **scope)


def change(topic: str, **payload: Any) -> Change:
    return Change(seq=1, at=datetime.now(UTC), topic=topic, payload=payload)


@pytest.mark.parametrize(
    ("principal", "topics"),
    [
        (who(Role.VIEWER), {"board", "alerts"}),
        (who(Role.COURT, court_id=3), {"board", "court", "alerts"}),
        (who(Role.FACILITY, facility_ids=frozenset({5})), {"board", "referrals", "alerts"}),
        (who(Role.LIAISON), {"board", "placements", "referrals", "court", "alerts"}),
        (
            who(Role.SUPERVISOR, region_id=1, region_counties=frozenset({"29019"})),
            {"board", "placements", "referrals", "alerts"},
        ),
        (who(Role.ADMIN), {"board", "placements", "referrals", "court", "alerts"}),
    ],
)
def test_each_role_may_subscribe_to_its_topics_only(principal: Principal, topics: set[str]) -> None:
    assert access.live_topics(principal) == topics


def test_a_facility_sees_its_own_referrals_and_no_other_facilitys() -> None:
    mine = who(Role.FACILITY, facility_ids=frozenset({5}))
    assert access.sees_change(mine, change(outbox.REFERRALS, facility_id=5, status="pending"))
    assert not access.sees_change(mine, change(outbox.REFERRALS, facility_id=6, status="declined"))
    assert not access.sees_change(mine, change(outbox.PLACEMENTS, facility_ids=[5, 6]))


def test_a_court_sees_its_own_courts_status_changes_only() -> None:
    clerk = who(Role.COURT, court_id=3)
    assert access.sees_change(clerk, change(outbox.COURT, court_id=3, status="open"))
    assert not access.sees_change(clerk, change(outbox.COURT, court_id=4, status="open"))


def test_deadline_alerts_go_to_the_assigned_liaison_only() -> None:
    alert = change(outbox.PLACEMENTS, event="deadline_4h", liaison_id=7)
    assert access.sees_change(who(Role.LIAISON), alert)
    other = Principal(user_id=8, email="y@example.org", display_name="", role=Role.LIAISON)
    assert not access.sees_change(other, alert)


def test_a_supervisor_hears_of_their_regions_placements_and_referrals_only() -> None:
    lead = who(Role.SUPERVISOR, region_id=1, region_counties=frozenset({"29019"}))
    assert access.sees_change(
        lead, change(outbox.PLACEMENTS, event="referred", county_fips="29019")
    )
    assert access.sees_change(lead, change(outbox.REFERRALS, facility_id=5, county_fips="29019"))
    assert not access.sees_change(
        lead, change(outbox.PLACEMENTS, event="referred", county_fips="29051")
    )
    assert not access.sees_change(
        lead, change(outbox.REFERRALS, facility_id=5, county_fips="29051")
    )
    assert not access.sees_change(lead, change(outbox.PLACEMENTS, event="referred"))  # no county
    # A deadline alert: to the placement's liaison, who may be the supervisor.
    alert = change(outbox.PLACEMENTS, event="deadline_4h", liaison_id=7, county_fips="29019")
    assert access.sees_change(lead, alert)
    assert not access.sees_change(
        lead, change(outbox.PLACEMENTS, **{**alert.payload, "liaison_id": 8})
    )


@pytest.mark.parametrize("role", list(Role))
def test_an_in_app_alert_reaches_its_own_user_only_administrators_included(role: Role) -> None:
    scope: dict[str, Any] = {}
    if role is Role.FACILITY:
        scope["facility_ids"] = frozenset({5})
    if role is Role.COURT:
        scope["court_id"] = 3
    if role is Role.SUPERVISOR:
        scope["region_id"] = 1
    alert = change(
        outbox.ALERTS, kind="alert", delivery_id=1, user_id=7, reference="PL-2026-000001"
    )
    assert access.sees_change(who(role, **scope), alert)
    someone_else = Principal(user_id=8, email="y@example.org", display_name="", role=role, **scope)
    assert not access.sees_change(someone_else, alert)
