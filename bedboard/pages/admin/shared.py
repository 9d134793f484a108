"""What the administration pages share: reading a form into a model's fields, choice
lists, the administrator check.
"""

from __future__ import annotations

import typing
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel

from bedboard import courts, facilities
from bedboard.auth import Role
from bedboard.database import Connection
from bedboard.pages import require_role

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
