"""Identity: password hashing, server-side sessions, API tokens, login throttling.

Who a request is (a ``Principal``) is decided here; what it may do is ``access.py``'s job.
Session cookies and API tokens are random secrets of which only a SHA-256 is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import argon2
import asyncpg
from argon2 import PasswordHasher

from bedboard.database import Connection
from bedboard.settings import Settings

# OWASP's minimum Argon2id profile: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=argon2.Type.ID)
# Verified against when the account does not exist, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("bedboard-no-such-account")

SESSION_COOKIE = "bb_session"
TOKEN_PREFIX = "bbt_"
MIN_PASSWORD_LEN = 12


class Role(StrEnum):
    ADMIN = "admin"
    LIAISON = "liaison"
    # A liaison lead for one region: coordinates its placements and is the escalation
    # ladder's supervisor rung for them.
    SUPERVISOR = "supervisor"
    FACILITY = "facility"
    COURT = "court"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit trail."""

    remote_addr: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user, reached through a session or an API token, and
    where this request of theirs came from (``origin``, for the audit rows it causes)."""

    user_id: int
    email: str
    display_name: str
    role: Role
    facility_ids: frozenset[int] = field(default_factory=frozenset)
    court_id: int | None = None
    # A supervisor's region and the FIPS codes of its counties (read with the user).
    region_id: int | None = None
    region_counties: frozenset[str] = field(default_factory=frozenset)
    via: Literal["session", "token"] = "session"
    token_id: int | None = None
    csrf_token: str | None = None
    origin: Origin = Origin()

    @property
    def label(self) -> str:
        suffix = f" (token {self.token_id})" if self.token_id is not None else ""
        return f"{self.email}{suffix}"


# --------------------------------------------------------------------------- passwords


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LEN:
        return f"must be at least {MIN_PASSWORD_LEN} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


# --------------------------------------------------------------------------- principals


def _principal(row: asyncpg.Record, **extra: Any) -> Principal:
    return Principal(
        user_id=row["user_id"],
        email=row["email"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        facility_ids=frozenset(row["facility_ids"]),
        court_id=row["court_id"],
        region_id=row["region_id"],
        region_counties=frozenset(row["region_counties"]),
        **extra,
    )


async def principal_for_user(conn: Connection, user_id: int) -> Principal | None:
    row = await conn.fetchrow(
        "SELECT * FROM principals WHERE user_id = $1 AND NOT disabled", user_id
    )
    return _principal(row) if row else None


# --------------------------------------------------------------------------- throttling


LOGIN_DELAY_BASE_S = 1


@dataclass(frozen=True)
class LoginResult:
    principal: Principal | None
    throttled: bool = False
    retry_after_s: int = 0


async def _wait_needed(conn: Connection, settings: Settings, email: str, remote: str) -> int:
    """Seconds this (account, address) pair must still wait before another try.

    Guessing is slowed, not blocked: after ``login_max_failures_per_account`` failures
    from one address, each further try from that address waits twice as long as the
    last (1 s, 2 s, 4 s … up to the window). The owner signing in from elsewhere is never
    held up by someone guessing their password, and an address has a larger budget
    across all accounts (``login_max_failures_per_address``: a hospital's shared NAT).
    """
    window_s = settings.login_throttle_window_minutes * 60
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE email = $1) AS pair,
               max(at) FILTER (WHERE email = $1) AS pair_last,
               count(*) AS by_address,
               min(at) AS address_first,
               now() AS now
          FROM login_failures
         WHERE remote_addr = $2 AND at > now() - make_interval(secs => $3)
        """,
        email,
        remote,
        float(window_s),
    )
    assert row is not None
    wait = 0.0
    free = settings.login_max_failures_per_account
    if row["pair"] >= free:
        delay = min(LOGIN_DELAY_BASE_S * 2.0 ** (row["pair"] - free), window_s)
        wait = delay - (row["now"] - row["pair_last"]).total_seconds()
    if row["by_address"] >= settings.login_max_failures_per_address:
        wait = max(wait, window_s - (row["now"] - row["address_first"]).total_seconds())
    return max(0, math.ceil(wait))


async def check_password_login(
    conn: Connection, settings: Settings, email: str, password: str, remote: str
) -> LoginResult:
    """Verify a password login, honouring and recording throttling state. Call inside a
    transaction: tries of one (account, address) pair are taken one at a time (an
    advisory lock), so concurrent guesses are each counted before the next is judged."""
    email = email.strip().lower()
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('login:' || $1 || '|' || $2, 0))",
        email,
        remote,
    )
    wait = await _wait_needed(conn, settings, email, remote)
    if wait > 0:
        return LoginResult(None, throttled=True, retry_after_s=wait)
    row = await conn.fetchrow(
        "SELECT * FROM principals WHERE email = $1",
        email,
    )
    ok = await verify_password(row["password_hash"] if row else None, password)
    if not ok or row is None or row["disabled"]:
        await conn.execute(
            "INSERT INTO login_failures (email, remote_addr) VALUES ($1, $2)", email, remote
        )
        return LoginResult(None)
    await conn.execute(
        "DELETE FROM login_failures WHERE email = $1 AND remote_addr = $2", email, remote
    )
    return LoginResult(_principal(row))


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str


async def create_session(
    conn: Connection, settings: Settings, user_id: int, remote: str, user_agent: str
) -> NewSession:
    cookie_value = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await conn.execute(
        """
        INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, remote_addr, user_agent)
        VALUES ($1, $2, $3, now() + make_interval(mins => $4), $5, $6)
        """,
        _digest(cookie_value),
        user_id,
        csrf,
        min(settings.session_idle_minutes, settings.session_max_hours * 60),
        remote,
        user_agent[:300],
    )
    return NewSession(cookie_value, csrf)


async def load_session(conn: Connection, settings: Settings, cookie_value: str) -> Principal | None:
    """The session's principal, sliding its idle expiry; None when expired, revoked or disabled."""
    row = await conn.fetchrow(
        """
        WITH s AS (
            UPDATE sessions
               SET last_seen_at = now(),
                   expires_at = LEAST(created_at + make_interval(hours => $3),
                                      now() + make_interval(mins => $2))
             WHERE token_hash = $1 AND expires_at > now()
         RETURNING user_id, csrf_token
        )
        SELECT p.*, s.csrf_token
          FROM s JOIN principals p ON p.user_id = s.user_id
         WHERE NOT p.disabled
        """,
        _digest(cookie_value),
        settings.session_idle_minutes,
        settings.session_max_hours,
    )
    if row is None:
        return None
    return _principal(row, via="session", csrf_token=row["csrf_token"])


async def peek_session(conn: Connection, cookie_value: str) -> Principal | None:
    """The session's principal without sliding its expiry (for long-lived connections,
    which must not keep an idle session alive)."""
    row = await conn.fetchrow(
        """
        SELECT p.*, s.csrf_token
          FROM sessions s JOIN principals p ON p.user_id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT p.disabled
        """,
        _digest(cookie_value),
    )
    return _principal(row, via="session", csrf_token=row["csrf_token"]) if row else None


async def end_session(conn: Connection, cookie_value: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE token_hash = $1", _digest(cookie_value))


async def end_user_sessions(conn: Connection, user_id: int) -> int:
    result = await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    return int(result.split()[-1])


async def purge_expired(conn: Connection, settings: Settings) -> None:
    await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    await conn.execute(
        "DELETE FROM login_failures WHERE at < now() - make_interval(mins => $1)",
        settings.login_throttle_window_minutes,
    )


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# --------------------------------------------------------------------------- API tokens


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str
    prefix: str


async def create_token(conn: Connection, user_id: int, name: str) -> NewToken:
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token_id = await conn.fetchval(
        """
        INSERT INTO api_tokens (user_id, name, prefix, token_hash)
        VALUES ($1, $2, $3, $4) RETURNING id
        """,
        user_id,
        name,
        prefix,
        _digest(token),
    )
    return NewToken(int(token_id), token, prefix)


async def load_token(conn: Connection, token: str) -> Principal | None:
    """The token's principal (recording its use); None when unknown, revoked or disabled."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await conn.fetchrow(
        """
        WITH t AS (
            SELECT id, user_id, last_used_at FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL
        ), touched AS (
            -- Record use at most once a minute: busy integrations need not write every call.
            UPDATE api_tokens SET last_used_at = now()
             WHERE id IN (SELECT id FROM t
                           WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        )
        SELECT p.*, t.id AS token_id
          FROM t JOIN principals p ON p.user_id = t.user_id
         WHERE NOT p.disabled
        """,
        _digest(token),
    )
    if row is None:
        return None
    return _principal(row, via="token", token_id=row["token_id"])


# A token's principal is kept this long by the process that loaded it, so a busy
# integration costs no lookup per call. A revocation, a disabled user or a changed role
# makes every process forget what it kept (PRINCIPALS_CHANNEL, heard by each instance's
# outbox listener, at commit); this bound holds even if that message is missed.
TOKEN_CACHE_S = 5.0
TOKEN_CACHE_ENTRIES = 10_000
PRINCIPALS_CHANNEL = "bedboard_principals"
_principals_generation = 0


def forget_principals() -> None:
    """Forget every token principal this process keeps."""
    global _principals_generation  # one counter per process, by design
    _principals_generation += 1


async def principals_changed(conn: Connection) -> None:
    """A user or token is changing in ``conn``'s transaction: forget the principals kept
    here now, and have every instance forget theirs when it commits."""
    forget_principals()
    await conn.execute(f"NOTIFY {PRINCIPALS_CHANNEL}")


class TokenCache:
    """Principals of recently used tokens, by the token's digest, for ``TOKEN_CACHE_S``."""

    def __init__(
        self,
        ttl_s: float = TOKEN_CACHE_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = TOKEN_CACHE_ENTRIES,
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._entries: dict[bytes, tuple[float, int, Principal]] = {}

    async def load(self, conn: Callable[[], Any], token: str) -> Principal | None:
        """The token's principal, from the cache or from ``load_token`` on the connection
        ``conn()`` opens (an async context manager); only known tokens are kept."""
        key = _digest(token)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None:
            expires, generation, cached = entry
            if now < expires and generation == _principals_generation:
                return cached
            del self._entries[key]
        generation = _principals_generation
        async with conn() as c:
            principal = await load_token(c, token)
        if principal is not None and generation == _principals_generation:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))  # the oldest
            self._entries[key] = (now + self._ttl_s, generation, principal)
        return principal


# --------------------------------------------------------------------------- re-checks


@dataclass(frozen=True)
class Credential:
    """What a long-lived connection was opened with (an API token or a session cookie),
    kept to re-check later that it still stands. The secret is never shown in a repr."""

    via: Literal["session", "token"]
    secret: str = field(repr=False)


async def still_valid(conn: Connection, credentials: Iterable[Credential]) -> set[Credential]:
    """Which of these credentials still stand, in one query: tokens not revoked (their use
    recorded, as ``load_token`` does) and sessions not expired (peeked: never slid, as
    ``peek_session`` does), of users not disabled."""
    tokens: dict[bytes, Credential] = {}
    sessions: dict[bytes, Credential] = {}
    for credential in credentials:
        if credential.via == "session":
            sessions[_digest(credential.secret)] = credential
        elif credential.secret.startswith(TOKEN_PREFIX) and len(credential.secret) <= 200:
            tokens[_digest(credential.secret)] = credential
    if not tokens and not sessions:
        return set()
    rows = await conn.fetch(
        """
        WITH t AS (
            SELECT id, user_id, token_hash, last_used_at FROM api_tokens
             WHERE token_hash = ANY($1::bytea[]) AND revoked_at IS NULL
        ), touched AS (
            UPDATE api_tokens SET last_used_at = now()
             WHERE id IN (SELECT id FROM t
                           WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        )
        SELECT 'token' AS via, t.token_hash
          FROM t JOIN principals p ON p.user_id = t.user_id
         WHERE NOT p.disabled
        UNION ALL
        SELECT 'session', s.token_hash
          FROM sessions s JOIN principals p ON p.user_id = s.user_id
         WHERE s.token_hash = ANY($2::bytea[]) AND s.expires_at > now() AND NOT p.disabled
        """,
        list(tokens),
        list(sessions),
    )
    return {(tokens if row["via"] == "token" else sessions)[row["token_hash"]] for row in rows}


async def revoke_user_tokens(conn: Connection, user_id: int) -> int:
    """Revoke every live token of a user (when the user is disabled: a token must not come
    back to life when the account is enabled again)."""
    await principals_changed(conn)
    result = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
    )
    return int(result.split()[-1])


async def revoke_token(conn: Connection, token_id: int) -> bool:
    await principals_changed(conn)
    result = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    return result.endswith(" 1")
