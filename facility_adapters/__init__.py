"""Census feed adapters, one module per kind; each registers itself on import. ``base`` is
the contract and ``http`` the HTTP the URL kinds share (importing it registers nothing)."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every adapter module in this package so its kind is registered."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
