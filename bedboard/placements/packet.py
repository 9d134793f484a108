"""The referral packet: what a receiving unit asks for first, in one structured summary.

Owns ``placement_packets`` (one row per placement, migration 0025). Every field is
optional (``None``: not recorded). The text fields are clinical: never logged, never in
the timeline, the audit trail or an outbox frame; the timeline says "packet updated" and
the audit trail names the fields that changed, never their values. The legal status is
the placement's order type; ``legal_note`` adds to it (e.g. an application filed).

Liaisons (and administrators) write it; supervisors read their region's; a facility
with a referral for the placement reads it (``access``: ``PACKET_READ``/``PACKET_WRITE``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from bedboard import audit
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import Invalid
from bedboard.fields import Moment
from bedboard.placements.locks import _lock
from bedboard.placements.timeline import _event, _publish

# A clearance time may be this far ahead of the database clock (a device's clock).
CLOCK_SKEW = timedelta(minutes=5)
MAX_TEXT = 2000

PacketText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT, pattern=r"^[^\x00]*$")
]


class Pregnancy(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


PREGNANCY_LABELS = {
    Pregnancy.YES: "Yes",
    Pregnancy.NO: "No",
    Pregnancy.UNKNOWN: "Unknown",
    Pregnancy.NOT_APPLICABLE: "Not applicable",
}

# The fields, in the order the pages show them, with their labels.
LABELS = {
    "medical_clearance": "Medical clearance done",
    "medical_clearance_at": "Medical clearance time",
    "toxicology": "Toxicology",
    "recent_aggression": "Recent aggression",
    "aggression_note": "Aggression details",
    "medications_given": "Current medications given",
    "legal_note": "Legal status details",
    "order_copy_received": "Copy of the order received",
    "pregnancy": "Pregnancy",
    "mobility_needs": "Mobility and medical needs",
}
FIELDS = tuple(LABELS)


class PacketIn(BaseModel):
    """The whole packet (a PUT replaces it): a field left out is not recorded."""

    model_config = ConfigDict(extra="forbid")
    medical_clearance: StrictBool | None = Field(
        default=None, description="Medical clearance is done."
    )
    medical_clearance_at: Moment | None = Field(
        default=None, description="When it was done (with medical_clearance true)."
    )
    toxicology: PacketText | None = Field(default=None, description="Result or summary.")
    recent_aggression: StrictBool | None = None
    aggression_note: PacketText | None = None
    medications_given: PacketText | None = None
    legal_note: PacketText | None = Field(
        default=None, description="Beyond the placement's order type (its legal status)."
    )
    order_copy_received: StrictBool | None = Field(
        default=None, description="A copy of the court order was received."
    )
    pregnancy: Pregnancy | None = None
    mobility_needs: PacketText | None = None

    @model_validator(mode="after")
    def _blank_is_not_recorded(self) -> PacketIn:
        for name in FIELDS:
            if getattr(self, name) == "":
                setattr(self, name, None)
        if self.medical_clearance_at is not None and self.medical_clearance is not True:
            raise Invalid.field(
                "medical_clearance_at", "A clearance time needs medical clearance done."
            )
        return self


class Packet(PacketIn):
    """The packet as read: the fields, who last changed it and when (null: never)."""

    model_config = ConfigDict(extra="ignore")
    placement_id: int
    updated_at: datetime | None = None
    updated_by: str | None = Field(default=None, description="Who last changed it.")

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in FIELDS)


async def packet_of(conn: Connection, placement_id: int) -> Packet:
    """The placement's packet; all fields null when none was recorded."""
    row = await conn.fetchrow(
        """
        SELECT k.medical_clearance, k.medical_clearance_at, k.toxicology, k.recent_aggression,
               k.aggression_note, k.medications_given, k.legal_note, k.order_copy_received,
               k.pregnancy, k.mobility_needs, k.updated_at,
               COALESCE(NULLIF(u.display_name, ''), u.email) AS updated_by
          FROM placement_packets k LEFT JOIN users u ON u.id = k.updated_by
         WHERE k.placement_id = $1
        """,
        placement_id,
    )
    if row is None:
        return Packet(placement_id=placement_id)
    return Packet.model_validate({"placement_id": placement_id, **dict(row)})


async def save(
    conn: Connection, placement_id: int, packet: PacketIn, actor: Principal
) -> list[str]:
    """Replace the packet; returns the names of the fields that changed. The timeline and
    the audit trail record the change (field names only) when anything changed."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        if packet.medical_clearance_at is not None:
            now = await conn.fetchval("SELECT now()")
            if packet.medical_clearance_at > now + CLOCK_SKEW:
                raise Invalid.field("medical_clearance_at", "Enter a time that has passed.")
        before = await packet_of(conn, placement_id)
        changed = [f for f in FIELDS if getattr(before, f) != getattr(packet, f)]
        if not changed:
            return []
        values = [getattr(packet, f) for f in FIELDS]
        await conn.execute(
            """
            INSERT INTO placement_packets (
                placement_id, medical_clearance, medical_clearance_at, toxicology,
                recent_aggression, aggression_note, medications_given, legal_note,
                order_copy_received, pregnancy, mobility_needs, updated_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (placement_id) DO UPDATE SET
                medical_clearance = EXCLUDED.medical_clearance,
                medical_clearance_at = EXCLUDED.medical_clearance_at,
                toxicology = EXCLUDED.toxicology,
                recent_aggression = EXCLUDED.recent_aggression,
                aggression_note = EXCLUDED.aggression_note,
                medications_given = EXCLUDED.medications_given,
                legal_note = EXCLUDED.legal_note,
                order_copy_received = EXCLUDED.order_copy_received,
                pregnancy = EXCLUDED.pregnancy,
                mobility_needs = EXCLUDED.mobility_needs,
                updated_by = EXCLUDED.updated_by,
                updated_at = now()
            """,
            placement_id,
            *[v.value if isinstance(v, Pregnancy) else v for v in values],
            actor.user_id,
        )
        data = {"fields": changed}
        await _event(conn, placement_id, actor, "packet_updated", data=data)
        await _publish(conn, placement_id, "packet_updated")
        await audit.changed(conn, actor, "placement.packet", "placement", placement_id, data)
    return changed
