"""Without signing in, only the public summary (and signing in itself) answers; every
other API route still refuses an anonymous caller with 401."""

from __future__ import annotations

import re
from typing import Any

from bedboard.api.registry import ENDPOINTS

PUBLIC = {("POST", "/api/v1/login"), ("GET", "/api/v1/public/summary")}


async def test_anonymous_callers_read_the_public_summary_and_its_page(client: Any) -> None:
    api = await client.get("/api/v1/public/summary")
    assert api.status == 200 and api.content_type == "application/json"
    page = await client.get("/public", allow_redirects=False)
    assert page.status == 200 and page.content_type == "text/html"


async def test_every_other_api_route_still_needs_sign_in(client: Any) -> None:
    declared_public = {(e.method, e.path) for e in ENDPOINTS if e.public}
    assert declared_public == PUBLIC
    wrong = []
    for endpoint in ENDPOINTS:
        if (endpoint.method, endpoint.path) in PUBLIC:
            continue
        path = re.sub(r"\{\w+\}", "1", endpoint.path)
        resp = await client.request(endpoint.method, path, json={})
        if resp.status != 401 or resp.content_type != "application/problem+json":
            wrong.append(f"{endpoint.method} {path} -> {resp.status}")
    assert wrong == []
    assert len(ENDPOINTS) - len(PUBLIC) > 40  # the loop above checked the whole table
