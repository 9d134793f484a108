"""The access matrix of the notification routes (API and pages), by role.

Columns: admin, liaison, facility, court, viewer, anonymous (pages send an anonymous
caller to sign in: 303). Every caller is a bearer
token (pages accept them too), so one world serves every case. A person's own
preferences and alerts are open to every signed-in role; delivery history, retries,
webhooks and intake contacts are for administrators."""

from __future__ import annotations

from typing import Any

import pytest

from bedboard.api.registry import ENDPOINTS
from tests.placements.conftest import World, world  # noqa: F401 -- fixture

WHO = ("admin", "liaison", "facility_a", "court", "viewer", "anonymous")

# (method, path, body kind, expected statuses in WHO order). {fid}: facility_a's id.
MATRIX: list[tuple[str, str, str, tuple[int, ...]]] = [
    ("GET", "/api/v1/me/notification-preferences", "", (200, 200, 200, 200, 200, 401)),
    ("PUT", "/api/v1/me/notification-preferences", "prefs", (200, 200, 200, 200, 200, 401)),
    ("GET", "/api/v1/me/alerts", "", (200, 200, 200, 200, 200, 401)),
    ("POST", "/api/v1/me/alerts/{missing}/acknowledge", "", (404, 404, 404, 404, 404, 401)),
    ("GET", "/api/v1/deliveries", "", (200, 403, 403, 403, 403, 401)),
    ("POST", "/api/v1/deliveries/{missing}/retry", "", (404, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/webhooks", "", (200, 403, 403, 403, 403, 401)),
    ("POST", "/api/v1/webhooks", "webhook", (201, 403, 403, 403, 403, 401)),
    ("GET", "/account/notifications", "", (200, 200, 200, 200, 200, 303)),
    ("POST", "/account/notifications", "form", (303, 303, 303, 303, 303, 303)),
    ("POST", "/alerts/{missing}/acknowledge", "form", (404, 404, 404, 404, 404, 303)),
    ("GET", "/admin/deliveries", "", (200, 403, 403, 403, 403, 303)),
    ("POST", "/admin/deliveries/{missing}/retry", "form", (404, 403, 403, 403, 403, 303)),
    ("GET", "/admin/webhooks", "", (200, 403, 403, 403, 403, 303)),
    ("POST", "/admin/webhooks", "webhook_form", (200, 403, 403, 403, 403, 303)),
    ("POST", "/admin/webhooks/{missing}/disable", "form", (404, 403, 403, 403, 403, 303)),
    ("POST", "/admin/facilities/{fid}/intake-contact", "intake", (303, 403, 403, 403, 403, 303)),
]


def _request(body: str) -> dict[str, Any]:
    if body == "prefs":
        return {"json": {"channels": {}, "quiet_start": None, "quiet_end": None}}
    if body == "webhook":
        return {"json": {"url": "https://ehr.example.org/hook", "events": ["referral_arrived"]}}
    if body == "webhook_form":
        return {"data": {"url": "https://ehr.example.org/hook", "events": "referral_arrived"}}
    if body == "intake":
        return {"data": {"intake_email": "intake@example.org", "intake_phone": ""}}
    if body == "form":
        return {"data": {"next": "/"}}
    return {}


@pytest.mark.parametrize(
    ("method", "path", "body", "statuses"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
async def test_each_role_gets_exactly_the_notification_routes_it_may(
    world: World,  # noqa: F811 -- the fixture imported above
    method: str,
    path: str,
    body: str,
    statuses: tuple[int, ...],
) -> None:
    url = path.replace("{missing}", "999999").replace("{fid}", str(world.ids["facility_a"]))
    got = {}
    for who in WHO:
        resp = await world.call(who, method, url, allow_redirects=False, **_request(body))
        got[who] = resp.status
        if url.startswith("/api/") and resp.status >= 400:
            assert resp.headers["Content-Type"].startswith("application/problem+json")
        if who == "anonymous" and not url.startswith("/api/"):
            assert resp.headers["Location"].startswith("/login")  # pages ask to sign in
    assert got == dict(zip(WHO, statuses, strict=True))


def test_the_matrix_covers_every_notification_api_route() -> None:
    registered = {(e.method, e.path) for e in ENDPOINTS if e.tag == "notifications"}
    covered = {
        (m, p.replace("{missing}", "{id}")) for m, p, _, _ in MATRIX if p.startswith("/api/")
    }
    assert registered == covered
