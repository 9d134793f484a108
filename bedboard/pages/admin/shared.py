"""What the administration pages share: reading a form into a model's fields, choice
lists, the administrator check.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from bedboard import courts, facilities
from bedboard.auth import Role
from bedboard.context import POOL
from bedboard.database import Connection, transaction
from bedboard.errors import Conflict, Invalid
from bedboard.pages import domain_errors, field_errors, require_role
from bedboard.problems import status_for

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

Form = MultiDictProxy[str | bytes | Any]


def label_of(value: str) -> str:
    return value.replace("_", " ").capitalize()


def choices(values: typing.Iterable[str]) -> list[tuple[str, str]]:
    return [(v, label_of(v)) for v in values]


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(a) is list for a in typing.get_args(annotation))


def _is_bool(annotation: Any) -> bool:
    """``bool``, ``StrictBool`` (an Annotated bool), or either of them or None."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is bool or any(_is_bool(a) for a in typing.get_args(annotation))


def form_data(form: Form, model: type[BaseModel], *, partial: bool = False) -> dict[str, Any]:
    """Form fields for ``model``: lists from repeated keys, booleans from checkboxes.

    A blank optional field is left out, so an edit form never nulls a field.
    ``partial`` (edit forms) also leaves out list fields the form did not show.
    """
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if _is_list(info.annotation):
            if partial and f"{name}__shown" not in form:
                continue
            data[name] = [str(v) for v in form.getall(name, []) if str(v).strip()]
        elif _is_bool(info.annotation):
            data[name] = str(form.get(name, "")) == "true"
        elif name in form:
            value = str(form.get(name, "")).strip()
            if value == "" and not info.is_required() and info.default is None:
                continue
            data[name] = value
    return data


async def list_facility_options(conn: Connection) -> list[tuple[str, str]]:
    return [(str(f.id), f.name) for f in await facilities.list_facilities(conn)]


async def list_county_options(conn: Connection) -> list[tuple[str, str]]:
    return [(c.fips, f"{c.name} ({c.fips})") for c in await facilities.list_counties(conn)]


async def list_court_options(conn: Connection) -> list[tuple[str, str]]:
    return [(str(c.id), c.name) for c in await courts.list_courts(conn)]


def require_admin(request: web.Request) -> None:
    require_role(request, Role.ADMIN)


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


async def save(
    request: web.Request,
    raw: dict[str, Any],
    model: type[M],
    work: Callable[[Connection, M], Awaitable[T]],
    again: Callable[[dict[str, str], int], Awaitable[web.StreamResponse]],
    done: Callable[[T], str],
) -> web.StreamResponse:
    """An administration form's submit: validate ``raw`` with ``model``, run ``work`` (it
    authorizes and calls one use case) in one transaction, and redirect to ``done(result)``.
    A refusal comes back through ``again(errors, status)``: the form with a sentence
    next to each field (422 for bad values, 409 for a conflict such as a taken name)."""
    try:
        data = model.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            result = await work(conn, data)
    except ValidationError as exc:
        return await again(field_errors(exc), 422)
    except (Conflict, Invalid) as exc:
        return await again(domain_errors(exc), status_for(exc))
    raise see_other(done(result))
