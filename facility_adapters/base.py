"""The contract every census feed adapter implements.

An adapter *kind* (``fhir``, ``hl7``, ``csv``, ``have``) declares:

- ``kind``: its name, and ``Config``: a pydantic model validating a feed's settings.
  Fields listed in ``SECRET_FIELDS`` are stored apart and never shown back.
- ``check()``: a cheap test of connectivity and credentials (raises ``AdapterError``).
- ``parse(raw)``: a **pure** function from the source's bytes to ``Parsed`` (reports plus
  rejected items with their reason). It never raises on bad input: garbage, truncated or
  hostile input becomes rejections. Unit-tested on recorded payloads and with hypothesis.
- Polled kinds implement ``fetch(cursor)`` returning ``Fetched`` (what was parsed plus an
  opaque cursor the core stores, so a restart resumes).
- Listening kinds implement ``run(sink)`` until cancelled.

Every report an adapter produces names the unit by the *source's* identifier (a FHIR
Location id, an HL7 point of care, a CSV unit name, a HAVE bed type). The core maps it
to a bedboard unit through the feed's mapping, reports unmapped identifiers, and applies
the rest through ``census.apply`` with the same validation, ordering and idempotency as
the API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

MAX_COUNT = 2000
RAW_EXCERPT_CHARS = 500
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_text(value: object, limit: int = 500) -> str:
    """Text PostgreSQL will store: no NUL or control characters, valid UTF-8, bounded."""
    text = value if isinstance(value, str) else str(value)
    text = _UNSTORABLE.sub("", text[: limit * 2])
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


class AdapterError(Exception):
    """A feed failed. ``permanent`` means retrying will not help (bad credentials or
    config): the coordinator stops and says so. Otherwise it retries with backoff."""

    def __init__(
        self, message: str, *, permanent: bool = False, rejected: Sequence[Rejected] = ()
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        # What the source sent that caused this, for the feed's quarantine.
        self.rejected = list(rejected)


@dataclass(frozen=True)
class SourceReport:
    """One unit's census as the source states it (the same rules as a census report:
    staffed + occupied (+ blocked), or available alone)."""

    source_id: str
    as_of: datetime
    staffed: int | None = None
    occupied: int | None = None
    blocked: int | None = None
    available: int | None = None
    location: str = ""  # where in the source ("line 7", "message 123"), for the quarantine


@dataclass(frozen=True)
class Rejected:
    """Something the source sent that cannot be applied, kept in the feed's quarantine."""

    location: str  # "line 7", "message MSG00012", "Location/bed-4", ...
    reason: str
    raw: str = ""

    @staticmethod
    def of(location: str, reason: str, raw: object = "") -> Rejected:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return Rejected(location, reason, text[:RAW_EXCERPT_CHARS])


@dataclass
class Parsed:
    reports: list[SourceReport] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass
class Fetched:
    parsed: Parsed
    cursor: str | None = None


class AdapterConfig(BaseModel):
    """Base for adapter config models: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class Adapter:
    """Base class of every adapter kind."""

    kind: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[AdapterConfig]]
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()
    polled: ClassVar[bool] = True

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        # Folders local files may be read from (resolved). None: no rule (an adapter used
        # as a library); bedboard always sets its feed folders (BEDBOARD_FEED_DIRS).
        self.allowed_dirs: tuple[Path, ...] | None = None

    def local_path(self, path: str | Path) -> Path:
        """``path`` resolved (symlinks followed) at the moment of reading, refused when it
        lands outside the feed folders: a link in a drop folder must not lead elsewhere."""
        real = Path(os.path.realpath(path))
        if self.allowed_dirs is not None and not any(
            real == root or real.is_relative_to(root) for root in self.allowed_dirs
        ):
            raise AdapterError(f"{path} is outside the feed folders", permanent=True)
        return real

    async def check(self) -> None:
        """Test connectivity and credentials cheaply; raise AdapterError when they fail."""
        raise NotImplementedError

    @classmethod
    def parse(cls, raw: bytes) -> Parsed:
        """Pure: the source's bytes to reports and rejections. Never raises on bad input."""
        raise NotImplementedError

    async def fetch(self, cursor: str | None) -> Fetched:
        """Polled kinds: read the source (from ``cursor`` when it supports one)."""
        raise NotImplementedError


# Listening kinds hand what they receive to a sink and act on its answer.
Sink = Callable[[Any], Awaitable[Any]]

REGISTRY: dict[str, type[Adapter]] = {}


def register(adapter: type[Adapter]) -> type[Adapter]:
    """Class decorator: make an adapter kind available to feeds. A kind is registered once:
    a second adapter under the same name would silently take over the feeds of the first."""
    existing = REGISTRY.get(adapter.kind)
    if existing is not None and existing is not adapter:
        raise ValueError(
            f"adapter kind {adapter.kind!r} is already registered by {existing.__qualname__}"
        )
    REGISTRY[adapter.kind] = adapter
    return adapter
