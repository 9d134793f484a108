"""The schema the migrations build equals the committed snapshot (``schema.sql``), so a
dropped column, constraint, index or trigger cannot pass unnoticed."""

from __future__ import annotations

import difflib
from pathlib import Path

from tests.support.schema import dump_schema

SNAPSHOT = Path(__file__).resolve().parents[2] / "schema.sql"


def test_the_migrated_schema_equals_the_committed_snapshot(template_dsn: str) -> None:
    built = dump_schema(template_dsn)
    expected = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            built.splitlines(keepends=True),
            "schema.sql",
            "migrated",
            n=1,
        )
    )
    assert not diff, (
        "The migrations no longer build schema.sql; if that is intended, regenerate it with"
        " `.venv/bin/python -m tests.support.schema > schema.sql`\n" + diff[:4000]
    )
