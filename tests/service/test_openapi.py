"""The served OpenAPI document is valid 3.1 and lists every /api/v1 route."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from bedboard.api.registry import ENDPOINTS


async def test_openapi_document_is_valid_and_lists_every_api_route(client: Any) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")

    served: set[tuple[str, str]] = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/v1/") and route.method not in ("HEAD", "OPTIONS"):
            served.add((route.method.lower(), path))
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert served, "no /api/v1 routes found"
    assert served == documented


async def test_request_bodies_are_documented_from_the_validating_models(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    for endpoint in ENDPOINTS:
        op = doc["paths"][endpoint.path][endpoint.method.lower()]
        if endpoint.body is None:
            assert "requestBody" not in op
            continue
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert set(schema["properties"]) == set(endpoint.body.model_fields)


async def test_facility_create_schema_requires_what_the_validator_requires(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    op = doc["paths"]["/api/v1/facilities"]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(schema["required"]) == {"name", "kind", "county_fips"}
    assert "422" in op["responses"] and "401" in op["responses"]


async def test_the_public_summary_is_documented_without_sign_in_and_answers_its_schema(
    client: Any,
) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    op = doc["paths"]["/api/v1/public/summary"]["get"]
    assert "security" not in op
    assert "401" not in op["responses"] and "403" not in op["responses"]
    assert "429" in op["responses"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PublicSummary"
    count = doc["components"]["schemas"]["PeopleCount"]
    assert set(count["required"]) == {"value", "suppressed", "display", "reason"}
    body = await (await client.get("/api/v1/public/summary")).json()
    Draft202012Validator({"$ref": ref, "components": doc["components"]}).validate(body)
