"""Which HL7 feed takes a message: every enabled ``hl7`` feed's settings (validated once)
and mappings, kept in memory per listener and read again only when they change.

The triggers of migration 0007 bump ``feed_routing_version`` in every transaction that
changes a feed's kind, settings, enabled flag or facility, or its mappings (or creates or
deletes a feed). ``Routes`` keeps the version it read with the feeds; the first read of
every message's transaction (``feeds.hl7``) returns the current one, and a message
routed with an older version is rolled back and routed again after a reload. So a feed
edited, disabled or remapped while a sender is connected is honoured from the next
message on, on every instance, with no read of its own. Refusals decided from the cache
alone (no feed for the sending facility, address not allowed) check the version first
(``refresh``, one cheap read) so a feed created a moment ago is not refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bedboard import database
from bedboard.database import Connection
from facility_adapters.hl7 import Hl7Config

# The name operators know from docs/operations.md (this was bedboard/hl7_ingest.py).
log = logging.getLogger("bedboard.hl7_ingest")


@dataclass(frozen=True)
class Route:
    """One enabled hl7 feed as routing and applying need it."""

    feed_id: int
    config: Hl7Config
    mapping: Mapping[str, int]  # point of care -> unit id
    points_of_care: Mapping[int, tuple[str, ...]]  # unit id -> its points of care, sorted
    declared: Mapping[str, frozenset[str]]  # point of care -> its configured bed keys

    def relevant(self, points_of_care: set[str]) -> tuple[list[str], list[int]]:
        """The points of care whose beds count for ``points_of_care`` (each one, and every
        point of care mapped to the same unit), and those units."""
        units = sorted({self.mapping[p] for p in points_of_care if p in self.mapping})
        pocs = set(points_of_care)
        for unit_id in units:
            pocs.update(self.points_of_care[unit_id])
        return sorted(pocs), units


_LOAD_SQL = """
    SELECT v.version, f.id, f.config, m.source_id, m.unit_id
      FROM feed_routing_version v
      LEFT JOIN feeds f ON f.kind = 'hl7' AND f.enabled
      LEFT JOIN feed_mappings m ON m.feed_id = f.id
     ORDER BY f.id, m.source_id
"""

VERSION_SQL = "SELECT version FROM feed_routing_version"


@dataclass
class Routes:
    """The routing cache of one listener (or one pool: ``for_pool``)."""

    version: int | None = None  # None: not read yet
    by_facility: dict[str, list[Route]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _invalid: set[tuple[int, str]] = field(default_factory=set, repr=False)

    def routes(self) -> list[Route]:
        return [route for found in self.by_facility.values() for route in found]

    def candidates(self, sending_facility: str) -> list[Route]:
        """The enabled hl7 feeds whose ``sending_facility`` is this one, by id."""
        return self.by_facility.get(sending_facility, [])

    async def load(self, conn: Connection) -> None:
        """Read every enabled hl7 feed and its mappings, with the version they belong to
        (one statement, one snapshot)."""
        rows = await conn.fetch(_LOAD_SQL)
        configs: dict[int, Any] = {}
        mappings: dict[int, dict[str, int]] = {}
        for row in rows:
            if row["id"] is None:
                continue
            configs[row["id"]] = row["config"]
            mapping = mappings.setdefault(row["id"], {})
            if row["source_id"] is not None:
                mapping[row["source_id"]] = row["unit_id"]
        by_facility: dict[str, list[Route]] = {}
        for feed_id, settings in configs.items():
            try:
                config = Hl7Config.model_validate(settings)
            except ValidationError as exc:
                key = (feed_id, str(settings))
                if key not in self._invalid:
                    self._invalid.add(key)
                    log.warning("HL7 feed %s: invalid settings: %s", feed_id, exc)
                continue
            mapping = mappings[feed_id]
            units: dict[int, list[str]] = {}
            for poc, unit_id in mapping.items():
                units.setdefault(unit_id, []).append(poc)
            route = Route(
                feed_id,
                config,
                mapping,
                {u: tuple(sorted(p)) for u, p in units.items()},
                {poc: frozenset(config.declared_beds(poc)) for poc in config.beds},
            )
            by_facility.setdefault(config.sending_facility, []).append(route)
        self.by_facility = by_facility
        self.version = rows[0]["version"]

    async def ensure(self, conn: Connection) -> None:
        """Load once (the first message of a listener)."""
        if self.version is None:
            async with self._lock:
                if self.version is None:
                    await self.load(conn)

    async def refresh(self, conn: Connection) -> bool:
        """Reload when the feeds changed since the last load (one cheap read when they did
        not); whether anything was reloaded."""
        current = await conn.fetchval(VERSION_SQL)
        if current == self.version:
            return False
        await self.reload(conn, current)
        return True

    async def reload(self, conn: Connection, seen: int | None = None) -> None:
        """Load again, unless another task has just loaded version ``seen``."""
        async with self._lock:
            if seen is not None and self.version == seen:
                return
            await self.load(conn)


_by_pool: dict[int, tuple[database.Pool, Routes]] = {}


def for_pool(pool: database.Pool) -> Routes:
    """The routing cache for ``hl7.handle`` called without a listener's own (one per pool,
    so per database). Closed pools are forgotten."""
    for key, (kept, _) in list(_by_pool.items()):
        if kept.is_closing():
            del _by_pool[key]
    found = _by_pool.get(id(pool))
    if found is None or found[0] is not pool:
        found = (pool, Routes())
        _by_pool[id(pool)] = found
    return found[1]


def admitted(routes: Sequence[Route], peer_ip: str) -> list[Route]:
    return [route for route in routes if route.config.admits(peer_ip)]


__all__ = ["Route", "Routes", "admitted", "for_pool"]
