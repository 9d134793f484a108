"""The migration runner: ordered, checksummed, exactly-once under concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bedboard import database
from tests.conftest import drop_database


@pytest.fixture
async def empty_dsn(pg_dsn: str, empty_db_factory: Any) -> Any:
    dsn = await empty_db_factory(None)
    yield dsn
    await drop_database(pg_dsn, dsn)


async def test_migrations_apply_on_an_empty_database(empty_dsn: str) -> None:
    applied = await database.prepare_database(empty_dsn)
    assert applied[0] == "0001_foundation"
    conn = await asyncpg.connect(empty_dsn)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert {
            "counties",
            "facilities",
            "units",
            "courts",
            "users",
            "sessions",
            "api_tokens",
            "audit_log",
            "schema_migrations",
        } <= tables
        assert await conn.fetchval("SELECT count(*) FROM counties") == 115
        assert (
            await conn.fetchval("SELECT name FROM counties WHERE fips = '29510'")
            == "St. Louis City"
        )
    finally:
        await conn.close()


async def test_rerunning_migrations_is_a_no_op(empty_dsn: str) -> None:
    await database.prepare_database(empty_dsn)
    assert await database.prepare_database(empty_dsn) == []
    conn = await database.connect(empty_dsn)
    try:
        assert await database.pending_migrations(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM counties") == 115
    finally:
        await conn.close()


def _write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql, encoding="utf-8")


async def test_two_runners_started_together_apply_each_migration_once(
    empty_dsn: str, tmp_path: Path
) -> None:
    _write(tmp_path, "0001_counter.sql", "CREATE TABLE applied (n int);")
    # A slow migration widens the race window; its side effect must happen exactly once.
    _write(tmp_path, "0002_slow.sql", "SELECT pg_sleep(0.3); INSERT INTO applied VALUES (2);")
    conns = [await database.connect(empty_dsn) for _ in range(2)]
    try:
        results = await asyncio.gather(*(database.migrate(c, tmp_path) for c in conns))
        assert sorted(len(r) for r in results) == [0, 2]
        assert await conns[0].fetchval("SELECT count(*) FROM applied") == 1
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == 2
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_landed_migration_is_refused(empty_dsn: str, tmp_path: Path) -> None:
    _write(tmp_path, "0001_first.sql", "CREATE TABLE first (n int);")
    conn = await database.connect(empty_dsn)
    try:
        await database.migrate(conn, tmp_path)
        _write(tmp_path, "0001_first.sql", "CREATE TABLE first (n bigint);")
        _write(tmp_path, "0002_second.sql", "CREATE TABLE second (n int);")
        with pytest.raises(database.MigrationError, match=r"0001_first\.sql was edited"):
            await database.migrate(conn, tmp_path)
        # Nothing after the refusal was applied.
        assert await conn.fetchval("SELECT to_regclass('second')") is None
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(empty_dsn: str, tmp_path: Path) -> None:
    _write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (n int);")
    _write(tmp_path, "0002_broken.sql", "CREATE TABLE half (n int); SELECT no_such_function();")
    conn = await database.connect(empty_dsn)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await database.migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    finally:
        await conn.close()


async def test_a_gap_in_migration_numbers_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql", "SELECT 1;")
    _write(tmp_path, "0003_c.sql", "SELECT 1;")
    with pytest.raises(database.MigrationError, match="0002 is missing"):
        database.load_migrations(tmp_path)


async def test_readyz_reports_pending_migrations(
    aiohttp_client: Any, empty_dsn: str, tmp_path: Path
) -> None:
    from bedboard.app import create_app
    from bedboard.settings import Settings

    app = create_app(
        Settings(database_url=empty_dsn, data_dir=tmp_path, secret_key="k" * 40), migrate=False
    )
    client = await aiohttp_client(app)
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["pending_migrations"] == [
        m.version for m in database.load_migrations()
    ]
    await database.prepare_database(empty_dsn)
    resp = await client.get("/readyz")
    assert resp.status == 200
