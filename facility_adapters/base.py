"""The contract every census feed adapter implements (filled in by the adapters issue).

An adapter kind declares a pydantic config model and a cheap ``check()``; polled kinds
implement ``fetch()`` returning census reports and an opaque cursor; listening kinds
implement ``run(sink)``. Every kind exposes a pure ``parse(raw)``. Failures raise
``AdapterError`` whose ``permanent`` flag turns retries off.
"""

from __future__ import annotations


class AdapterError(Exception):
    """A feed failed. ``permanent`` means retrying will not help (bad credentials or config)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
