"""One writer per table: every INSERT, UPDATE or DELETE in bedboard's SQL is in the module
that docs/architecture.md names as the table's owner, and every table has one."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITE = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+([a-z_][a-z_0-9]*)\b", re.I
)
# "FOR UPDATE OF r", "FOR UPDATE SKIP LOCKED", "UPDATE SET …" in prose
NOT_TABLES = {"set", "of", "the", "on", "skip"}


def _documented_owners() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Tables: one writer each", 1)[1].split("\n## ", 1)[0]
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([a-z_0-9]+)` \| `([^`]+)`", section, re.M)
    }


def _sql_writes() -> dict[str, set[str]]:
    """table -> modules (paths under bedboard/) whose string literals write it."""
    writes: dict[str, set[str]] = defaultdict(set)
    for path in (ROOT / "bedboard").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docstrings:
                    continue
                for match in WRITE.finditer(node.value):
                    table = match.group(1).lower()
                    if table not in NOT_TABLES:
                        writes[table].add(str(path.relative_to(ROOT / "bedboard")))
    return writes


def _tables() -> set[str]:
    """Tables the migrations create, and the runner's own (schema_migrations)."""
    sql = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "migrations").glob("*.sql"))
    sql += (ROOT / "bedboard" / "database.py").read_text(encoding="utf-8")
    return set(re.findall(r"CREATE TABLE\s+(?:IF NOT EXISTS\s+)?([a-z_][a-z_0-9]*)", sql))


def test_every_table_has_one_documented_owner() -> None:
    owners = _documented_owners()
    assert set(owners) == _tables()


def test_only_its_owner_writes_each_table() -> None:
    owners = _documented_owners()
    strays = {
        table: sorted(m for m in modules if not m.startswith(owners.get(table, "?")))
        for table, modules in _sql_writes().items()
    }
    assert {t: m for t, m in strays.items() if m} == {}
