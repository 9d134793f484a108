"""The API route table, and the OpenAPI 3.1 document generated from it.

Handlers declare what they take through their signature: a parameter named ``body``
annotated with a pydantic model is parsed from the JSON body, one named ``query``
from the query string, and the return annotation is the response model. The same
models validate requests and produce the OpenAPI document, so the two cannot drift.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from bedboard import __version__
from bedboard.context import require_principal
from bedboard.problems import Problem, validation_problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    tag: str
    handler: Handler
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    public: bool
    extra_responses: dict[int, str] = field(default_factory=dict)
    operation_id: str = ""


ENDPOINTS: list[Endpoint] = []


def _model_or_none(hint: Any) -> type[BaseModel] | None:
    if inspect.isclass(hint) and issubclass(hint, BaseModel):
        return hint
    return None


async def read_json(request: web.Request) -> Any:
    if not request.body_exists:
        raise Problem(400, "This request needs a JSON body.", code="missing-body")
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise Problem(415, "Send the body as application/json.", code="unsupported-media-type")
    try:
        raw = await request.read()
    except (HttpProcessingError, RequestPayloadError):
        # A body that does not match its Content-Encoding (gzip that is not gzip).
        raise Problem(
            400,
            "The body could not be decoded as its Content-Encoding says.",
            code="bad-body",
            # The rest of the stream is unreadable: say so, so the client does not reuse it.
            headers={"Connection": "close"},
        ) from None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}", code="malformed-json") from None
    except (RecursionError, ValueError):
        # Nested thousands deep, or an integer literal of thousands of digits.
        raise Problem(
            400,
            "The body is not JSON this service accepts (too deep or too long a number).",
            code="malformed-json",
        ) from None
    refuse_nul(value)
    return value


def refuse_nul(value: Any, where: str = "body") -> None:
    """No text may carry the NUL character (PostgreSQL cannot store it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise Problem(
                    400,
                    f"Text in the {where} must not contain the NUL character (\\u0000).",
                    code="nul-character",
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _query_dict(model: type[BaseModel], query: MultiMapping[str]) -> dict[str, Any]:
    """Query values: repeated keys become lists for list-typed fields."""
    out: dict[str, Any] = {}
    for key in set(query.keys()):
        values = query.getall(key)
        info = model.model_fields.get(key)
        is_list = info is not None and typing.get_origin(info.annotation) is list
        if not is_list:
            for arg in typing.get_args(info.annotation) if info else ():
                if typing.get_origin(arg) is list:
                    is_list = True
        out[key] = values if is_list else values[-1]
    return out


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    """A model as the JSON answer, encoded once by pydantic-core (no dict, no json.dumps:
    for the whole board that is about a third of the Python time of the request)."""
    return web.Response(
        body=model.model_dump_json().encode(), status=status, content_type="application/json"
    )


def route(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    status: int = 200,
    public: bool = False,
    responses: dict[int, str] | None = None,
    model: type[BaseModel] | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Handler]:
    """Register an API handler; see the module docstring for the signature contract.

    ``model`` documents the answer of a handler that builds its own response (for headers
    such as ETag) instead of returning a model.
    """

    def decorate(func: Callable[..., Awaitable[Any]]) -> Handler:
        hints = typing.get_type_hints(func)
        body_model = _model_or_none(hints.get("body"))
        query_model = _model_or_none(hints.get("query"))
        response_model = _model_or_none(hints.get("return")) or model

        async def handler(request: web.Request) -> web.StreamResponse:
            if not public:
                # 401 before reading the body or looking anything up: an anonymous caller
                # learns neither the schema nor which ids exist.
                require_principal(request)
            kwargs: dict[str, Any] = {}
            if body_model is not None:
                data = await read_json(request)
                try:
                    kwargs["body"] = body_model.model_validate(data)
                except ValidationError as exc:
                    raise validation_problem(exc, "body") from None
            if query_model is not None:
                refuse_nul(list(request.query.values()), "query")
                try:
                    kwargs["query"] = query_model.model_validate(
                        _query_dict(query_model, request.query)
                    )
                except ValidationError as exc:
                    raise validation_problem(exc, "query") from None
            result = await func(request, **kwargs)
            if isinstance(result, web.StreamResponse):
                return result
            if isinstance(result, BaseModel):
                return model_response(result, status)
            raise TypeError(f"{func.__name__} returned {type(result).__name__}")

        handler.__name__ = func.__name__
        handler.__doc__ = func.__doc__
        ENDPOINTS.append(
            Endpoint(
                method=method.upper(),
                path=path,
                summary=summary,
                tag=tag,
                handler=handler,
                body=body_model,
                query=query_model,
                response=response_model,
                status=status,
                public=public,
                extra_responses=dict(responses or {}),
                operation_id=func.__name__,
            )
        )
        return handler

    return decorate


def add_routes(app: web.Application) -> None:
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)


# --------------------------------------------------------------------------- OpenAPI

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

_REF_TEMPLATE = "#/components/schemas/{model}"

_ERROR_TEXT = {
    400: "Malformed request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    413: "Body too large",
    415: "Wrong media type",
    409: "Conflicts with what exists",
    422: "Invalid fields",
    503: "Database unavailable; retry after the Retry-After delay",
}


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    for name, prop in props.items():
        is_array = prop.get("type") == "array" or any(
            alt.get("type") == "array" for alt in prop.get("anyOf", [])
        )
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if is_array:
            param["style"] = "form"
            param["explode"] = True
        if prop.get("description"):
            param["description"] = prop["description"]
        params.append(param)
    return params


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for every registered endpoint."""
    keyed: list[tuple[type[BaseModel], Any]] = []
    for ep in ENDPOINTS:
        if ep.body is not None:
            keyed.append((ep.body, "validation"))
        if ep.response is not None:
            keyed.append((ep.response, "serialization"))
    key_map, top = models_json_schema(keyed, ref_template=_REF_TEMPLATE)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = _PROBLEM_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "tags": [ep.tag],
            "responses": {},
        }
        if ep.handler.__doc__:
            op["description"] = inspect.cleandoc(ep.handler.__doc__)
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer"} if name == "id" else {"type": "string"},
            }
            for name in _PATH_PARAM.findall(ep.path)
        ]
        if ep.query is not None:
            query_schema = ep.query.model_json_schema(ref_template=_REF_TEMPLATE)
            schemas.update(query_schema.pop("$defs", {}))
            params += _query_parameters(ep.query, query_schema)
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": key_map[(ep.body, "validation")]}},
            }
        if ep.response is not None:
            op["responses"][str(ep.status)] = {
                "description": "Success",
                "content": {
                    "application/json": {"schema": key_map[(ep.response, "serialization")]}
                },
            }
        else:
            op["responses"][str(ep.status)] = {"description": "Success"}
        codes = {400, 422, 503} | ({401, 403} if not ep.public else set())
        if _PATH_PARAM.search(ep.path):
            codes.add(404)
        if ep.body is not None:
            codes |= {413, 415}  # too large; not JSON
        if ep.method == "POST" and ep.status == 201:
            codes.add(409)  # it exists already, or conflicts with what does
        for code in sorted(codes):
            description = ep.extra_responses.get(code, _ERROR_TEXT.get(code, "Error"))
            op["responses"][str(code)] = {
                "description": description,
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        for code, description in ep.extra_responses.items():
            if 200 <= code < 300 and ep.response is not None:
                # Another success (200 for a repeat of a 201): the same body.
                content = {"application/json": {"schema": key_map[(ep.response, "serialization")]}}
            else:
                content = {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
            op["responses"].setdefault(str(code), {"description": description, "content": content})
        if not ep.public:
            op["security"] = [{"bearer": []}, {"session": []}]
        paths.setdefault(ep.path, {})[ep.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bedboard API",
            "version": __version__,
            "description": "Psychiatric bed availability and placement coordination.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "bb_session",
                    "description": "Browser session; unsafe methods also need X-CSRF-Token.",
                },
            },
        },
    }
