"""Feeds as the API and the pages show them, and what an ingest counted. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from bedboard.fields import DbId


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    facility_id: DbId
    kind: str = Field(description="fhir, hl7, csv or have")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    config: dict[str, Any] = Field(
        default_factory=dict, description="Validated by the adapter kind."
    )
    enabled: StrictBool = True
    poll_interval_s: int = Field(default=300, ge=10, le=86400)
    mappings: dict[str, int] = Field(
        default_factory=dict, description="Source identifier → unit id."
    )


class FeedPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    config: dict[str, Any] | None = Field(
        default=None, description="Replaces the settings; secret fields left out keep their value."
    )
    enabled: StrictBool | None = None
    poll_interval_s: int | None = Field(default=None, ge=10, le=86400)
    mappings: dict[str, int] | None = None


class FeedHealth(BaseModel):
    state: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    reports_applied: int
    next_attempt_at: datetime | None

    @property
    def error_resolved(self) -> bool:
        """The last error is history: a successful attempt came after it. ``last_error`` is
        kept after a recovery (for the record), so pages must say whether it still holds."""
        if self.last_error_at is None or self.last_success_at is None:
            return False
        return self.last_success_at > self.last_error_at


class Unmapped(BaseModel):
    source_id: str
    first_seen: datetime
    last_seen: datetime
    times: int


class Feed(BaseModel):
    id: int
    facility_id: int
    facility_name: str
    kind: str
    name: str
    config: dict[str, Any] = Field(description="Settings without secrets.")
    secrets_set: list[str] = Field(description="Names of the secret settings that have a value.")
    enabled: bool
    poll_interval_s: int
    cursor: str | None
    mappings: dict[str, int]
    unmapped: list[Unmapped]
    health: FeedHealth
    version: int


class FeedList(BaseModel):
    items: list[Feed]


class QuarantineEntry(BaseModel):
    id: int
    received_at: datetime
    location: str
    reason: str
    raw: str


class QuarantinePage(BaseModel):
    feed_id: int
    items: list[QuarantineEntry]


class IngestResult(BaseModel):
    applied: int = 0
    duplicate: int = 0
    stale: int = 0
    conflict: int = 0
    unmapped: int = 0
    rejected: int = 0
