"""Idempotency-Key for create requests: the first answer to a key is replayed.

The key is scoped to the user. A retry with the same key and body gets the stored answer;
the same key with a different body is refused (422), since it is almost certainly a bug.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bedboard.database import Connection
from bedboard.errors import BadKey, KeyReused

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Stored:
    status: int
    body: dict[str, Any]


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadKey(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
    return key


async def lookup(conn: Connection, user_id: int, key: str, digest: str) -> Stored | None:
    """The stored answer for this key, after taking the key's lock (call in a transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idem:{user_id}:{key}")
    row = await conn.fetchrow(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id,
        key,
    )
    if row is None:
        return None
    if row["request_hash"] != digest:
        raise KeyReused("This Idempotency-Key was already used with a different request body.")
    return Stored(row["status"], row["response"])


async def remember(
    conn: Connection, user_id: int, key: str, digest: str, status: int, body: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status, response)"
        " VALUES ($1, $2, $3, $4, $5)",
        user_id,
        key,
        digest,
        status,
        body,
    )


KEEP = timedelta(days=7)


async def prune(conn: Connection, keep: timedelta = KEEP) -> int:
    """Forget stored answers older than ``keep``: a retry comes within minutes, not weeks."""
    status: str = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", keep
    )
    return int(status.rsplit(" ", 1)[-1])
