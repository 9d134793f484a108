"""What the domain refuses, in its own words: typed errors that know nothing of HTTP.

Domain modules (placements, census, facilities, courts, users, feeds, search, sign-in,
idempotency) raise these. ``problems.from_domain`` maps each class to a status and a
problem type once, in the errors middleware; pages catch the classes (``except Invalid``)
and put the sentences next to the fields. A caller can act on every one of them: nothing
here is a bug report.

The kinds::

    DomainError
      NotFound(what)                     no such thing (or not one you may see)
      Invalid(fields)                    the request names bad values; one FieldError each
        BadReference(field)              a field names something that does not exist
      Conflict                           the current state forbids it
        Duplicate                        a name that must be unique is taken
        IllegalTransition(current, allowed)
                                         a state machine has no such move from here
        BedTaken                         the unit's last free bed went first
      StaleVersion(what)                 changed by someone else since it was read
      KeyReused                          an Idempotency-Key reused with another body
      BadKey                             an Idempotency-Key that is not one
      SignInRefused                      wrong email or password
      SignInThrottled(retry_after_s)     too many failures from one address
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field: ``field`` is a dotted path into the request (``reports.0.as_of``),
    ``message`` a short phrase about it, ``kind`` what is wrong (``reference``, ``enum``,
    ``matching`` ... or pydantic's error type), ``where`` the part of the request."""

    field: str
    message: str
    kind: str = "value"
    where: str = "body"


def fields_of(exc: ValidationError, *, prefix: str = "", where: str = "body") -> list[FieldError]:
    """One FieldError per pydantic error, located under ``prefix``."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(part) for part in err["loc"])
        out.append(
            FieldError(
                prefix + loc if loc else prefix.rstrip(".") or where, err["msg"], err["type"], where
            )
        )
    return out


class DomainError(Exception):
    """A refusal the caller can act on. ``code`` names the kind for machines."""

    code: ClassVar[str] = "refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not-found"

    def __init__(self, what: str, detail: str | None = None) -> None:
        super().__init__(detail or f"No such {what}.")
        self.what = what


class Invalid(DomainError):
    code = "validation-error"

    def __init__(
        self, detail: str = "The request has invalid fields.", fields: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(detail)
        self.fields = tuple(fields)

    @classmethod
    def field(
        cls,
        field: str,
        message: str,
        kind: str = "value",
        *,
        detail: str | None = None,
        where: str = "body",
    ) -> Invalid:
        """One bad field; the detail defaults to the message."""
        return cls(detail or message, [FieldError(field, message, kind, where)])

    @classmethod
    def of(cls, exc: ValidationError, detail: str | None = None, *, prefix: str = "") -> Invalid:
        return cls(detail or "The request has invalid fields.", fields_of(exc, prefix=prefix))


class BadReference(Invalid):
    """A field names something that does not exist (a court, a unit, a county ...)."""

    def __init__(
        self,
        field: str,
        message: str = "does not exist",
        detail: str = "The request refers to something that does not exist.",
        *,
        where: str = "body",
    ) -> None:
        super().__init__(detail, [FieldError(field, message, "reference", where)])
        self.reference = field


class Conflict(DomainError):
    """The current state forbids it; ``extra`` carries facts a client may show."""

    code = "conflict"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra: Mapping[str, Any] = extra


class Duplicate(Conflict):
    """A name (or email) that must be unique is already taken."""


class IllegalTransition(Conflict):
    """No such move from the current state; ``allowed`` lists the moves there are."""

    code = "illegal-transition"

    def __init__(self, detail: str, current: str, allowed: Sequence[str] = ()) -> None:
        super().__init__(detail, current=current, allowed=list(allowed))
        self.current = current
        self.allowed = tuple(allowed)


class BedTaken(Conflict):
    code = "bed-taken"


class StaleVersion(DomainError):
    code = "precondition-failed"

    def __init__(self, what: str) -> None:
        super().__init__(f"The {what} was changed by someone else; reload and retry.")
        self.what = what


class KeyReused(DomainError):
    code = "idempotency-key-reused"


class BadKey(DomainError):
    code = "bad-idempotency-key"


class SignInRefused(DomainError):
    code = "login-failed"


class SignInThrottled(DomainError):
    code = "login-throttled"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class LinkRefused(DomainError):
    """A signed link that is not one of ours: altered, truncated, or for another purpose."""

    code = "link-refused"


class LinkGone(DomainError):
    """A signed link that was ours but no longer opens: expired, revoked, used, or its
    case closed."""

    code = "link-gone"
