"""The connection pool: a borrowed connection goes back clean, and cheaply."""

from __future__ import annotations

import asyncio
from typing import Any

from bedboard import database

LOCK = (0x6265_6462, 7)


async def test_a_connection_marked_as_keeping_a_session_lock_is_reset_when_returned(
    db_dsn: str,
) -> None:
    pool = await database.create_pool(db_dsn, min_size=1, max_size=1)
    other = await database.connect(db_dsn)
    try:
        async with database.acquire(pool) as conn:
            database.keeps_session_state(conn)
            assert await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK)
            # left locked on purpose: a task cancelled before its unlock
        assert await other.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK)
        async with database.acquire(pool) as conn:  # the same connection, and it resets once
            assert not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK)
    finally:
        await other.close()
        await pool.close()


async def test_an_ordinary_borrow_goes_back_without_a_reset_statement(db_dsn: str) -> None:
    pool = await database.create_pool(db_dsn, min_size=1, max_size=1)
    seen: list[str] = []

    def log(record: Any) -> None:
        seen.append(record.query)

    try:
        async with database.acquire(pool) as conn:
            conn.add_query_logger(log)
            await conn.fetchval("SELECT 1")
        async with database.acquire(pool) as conn:
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = '1s'")
            await asyncio.sleep(0)  # loggers are called soon after each query
            conn.remove_query_logger(log)
            # transaction-scoped settings ended with their transaction
            assert await conn.fetchval("SHOW statement_timeout") == "0"
    finally:
        await pool.close()
    assert seen == ["SELECT 1", "BEGIN;", "SET LOCAL statement_timeout = '1s'", "COMMIT;"]
