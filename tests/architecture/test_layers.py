"""The domain knows no HTTP: only the web edge imports aiohttp's server side or builds
problem+json, and pages never reach into the JSON API's handlers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bedboard"

# The web edge and the programs around it; everything else is domain.
EDGE = (
    "api/",
    "pages/",
    "app.py",
    "context.py",
    "websocket.py",
    "live.py",
    "signin.py",
    "problems.py",
    "cli.py",
    "watch.py",
    "demo.py",
    "feeds/demo.py",
)
HTTP_MODULES = {"aiohttp.web", "bedboard.problems"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> dict[str, Path]:
    return {str(p.relative_to(PACKAGE)): p for p in PACKAGE.rglob("*.py")}


def test_domain_modules_import_neither_aiohttp_web_nor_problems() -> None:
    offenders = {
        name: sorted(_imports(path) & HTTP_MODULES)
        for name, path in _modules().items()
        if not name.startswith(EDGE)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_domain_modules_exist_beyond_the_edge() -> None:
    """The rule above checks something: the main domain modules are not on the edge."""
    domain = {name for name in _modules() if not name.startswith(EDGE)}
    assert {"census.py", "users.py", "placements/record.py", "errors.py"} <= domain


def test_pages_never_import_the_api_handlers() -> None:
    offenders = {
        name: sorted(i for i in _imports(path) if i.startswith("bedboard.api"))
        for name, path in _modules().items()
        if name.startswith("pages/")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pages_catch_refusals_by_class_not_by_status() -> None:
    offenders = []
    for name, path in _modules().items():
        if not name.startswith("pages/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                if "Problem" in caught:
                    offenders.append(f"{name}:{node.lineno} except {caught}")
    assert offenders == []
