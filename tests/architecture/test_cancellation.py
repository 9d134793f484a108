"""Long-running tasks stop when cancelled: no ``asyncio.wait_for`` in the service.

On Python 3.11, ``wait_for`` returns the inner result, swallowing the cancellation, when
the awaited thing finishes in the same loop turn as the cancel arrives (fixed in 3.12).
A loop around it then never stops: the demo HL7 sender, cancelled just as an ACK came
in, kept sending and held ``DemoFeeds.stop`` for good. ``asyncio.timeout`` has no such
window, so the service uses it everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_calls(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "wait_for"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "asyncio"
        ):
            lines.append(node.lineno)
    return lines


def test_the_service_bounds_waits_with_asyncio_timeout_not_wait_for() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("bedboard", "facility_adapters")
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in _wait_for_calls(path)
    }
    assert not found, f"asyncio.wait_for can swallow a cancellation on 3.11: {sorted(found)}"
