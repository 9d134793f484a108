"""Form errors as sentences a nurse understands, attached to the field they are about.

Pydantic's messages ("String should match pattern '^[0-9]{5}$'") never reach a page: each
error type becomes a sentence naming the field by its label, and a form may give a
sentence of its own for a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bedboard.errors import DomainError, Invalid

FORM = "__all__"  # errors about the form as a whole


def _label(field: str, labels: Mapping[str, str]) -> str:
    return labels.get(field, field.replace("_", " ").capitalize())


def sentence(error: Mapping[str, Any], label: str) -> str:
    """One pydantic error as a sentence about the field labelled ``label``."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    lower = label[:1].lower() + label[1:]
    if kind == "missing":
        return f"Enter {lower}."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{label} must be a whole number."
    if kind in ("float_parsing", "float_type", "decimal_parsing"):
        return f"{label} must be a number."
    if kind in ("bool_parsing", "bool_type"):
        return f"Choose yes or no for {lower}."
    if kind in ("greater_than_equal", "greater_than"):
        return f"{label} must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"{label} must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind in ("string_too_short", "too_short"):
        return f"Enter {lower}."
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        return f"{label} is too long (at most {limit})." if limit else f"{label} is too long."
    if kind in ("enum", "literal_error"):
        return f"Choose one of the listed options for {lower}."
    if kind.startswith(("datetime", "date", "timezone")):
        return f"Enter {lower} as a date and time."
    if kind == "string_pattern_mismatch":
        return f"{label} is not in the expected form."
    if kind in ("url_parsing", "url_scheme", "url_type"):
        return f"{label} must be a web address starting with https://."
    if kind == "value_error":
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return f"Check {lower}."


def field_errors(
    exc: ValidationError,
    labels: Mapping[str, str] | None = None,
    messages: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{field: sentence}`` for inline display; the field is the last part of the error's
    location (``person.age`` → ``age``), the first error per field wins. ``messages``
    gives a form's own sentence for a field, whatever the error."""
    labels = labels or {}
    messages = messages or {}
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = [part for part in err["loc"] if isinstance(part, str)]
        key = loc[-1] if loc else FORM
        if key in out:
            continue
        out[key] = messages.get(key) or sentence(err, _label(key, labels))
    return out


def domain_errors(exc: DomainError) -> dict[str, str]:
    """What a refusal says, for a form: an ``Invalid``'s phrases by field (the last dotted
    part of each), anything else as one sentence about the whole form."""
    if isinstance(exc, Invalid) and exc.fields:
        out: dict[str, str] = {}
        for f in exc.fields:
            out.setdefault(f.field.rsplit(".", 1)[-1] or FORM, f.message)
        return out
    return {FORM: exc.detail}
