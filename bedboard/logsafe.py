"""Logging a failure without the data it was about.

An exception's message can carry what was being stored: a PostgreSQL constraint error's
DETAIL is the whole failing row ("Failing row contains (…)", clinical notes included), a
validation error repeats its input, an HL7 parse error quotes the segment. So failures
are logged by kind and place only: the exception's type, a database error's SQLSTATE and
constraint name, and the traceback's frames (file, line, function), never its text.
"""

from __future__ import annotations

import logging
import traceback

import asyncpg


def describe(exc: BaseException) -> str:
    """``NotNullViolationError (SQLSTATE 23502, constraint x)``: what and never the data."""
    name = type(exc).__name__
    if isinstance(exc, asyncpg.PostgresError):
        parts = [f"SQLSTATE {exc.sqlstate}"]
        constraint = getattr(exc, "constraint_name", None)
        if constraint:
            parts.append(f"constraint {constraint}")
        return f"{name} ({', '.join(parts)})"
    return name


def frames(exc: BaseException) -> str:
    """Where it happened: each frame's file, line and function, without source values."""
    lines = []
    current: BaseException | None = exc
    while current is not None:
        for frame in traceback.extract_tb(current.__traceback__):
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
        if current is not None:
            lines.append(f"  caused by {describe(current)}")
    return "\n".join(lines)


def log_failure(logger: logging.Logger, message: str, *args: object, exc: BaseException) -> None:
    """``logger.error(message % args + ": <kind>")`` with the frames, never the text."""
    logger.error(message + ": %s\n%s", *args, describe(exc), frames(exc))
