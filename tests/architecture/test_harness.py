"""The harness itself: a background task that dies unseen fails the test it ran in."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_CONFTEST = "from tests.conftest import _loop_errors, no_unhandled_loop_errors  # noqa: F401\n"


def _run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=body)
    return pytester.runpytest_inprocess(
        "-p",
        "no:randomly",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )


def test_a_task_that_died_unawaited_fails_its_test(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
import asyncio

KEEP = []

async def test_starts_a_task_that_fails() -> None:
    async def boom() -> None:
        raise RuntimeError("lost in the background")
    KEEP.append(asyncio.get_running_loop().create_task(boom()))
    await asyncio.sleep(0.01)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*died unobserved*lost in the background*"])


def test_a_task_dropped_after_failing_fails_its_test(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
import asyncio

async def test_drops_a_failed_task() -> None:
    async def boom() -> None:
        raise RuntimeError("dropped")
    task = asyncio.get_running_loop().create_task(boom())
    await asyncio.sleep(0.01)
    del task
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unhandled errors*dropped*"])


def test_an_awaited_failure_is_the_test_s_own_business(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
import asyncio
import pytest

async def test_awaits_a_failed_task() -> None:
    async def boom() -> None:
        raise RuntimeError("seen")
    task = asyncio.get_running_loop().create_task(boom())
    with pytest.raises(RuntimeError):
        await task
""",
    )
    result.assert_outcomes(passed=1)
