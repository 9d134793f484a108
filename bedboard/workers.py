"""``bedboard serve --workers N``: N serving processes on one port, and their supervisor.

The supervisor (the process ``bedboard serve`` starts as) owns what there must be one of:
the embedded PostgreSQL (started, migrated and watched here), the secret key file (made
before any worker reads it) and the metrics folder the workers count into. Each worker is
an ordinary instance (``bedboard serve --workers 1``) given the database URL, binding the
same port with ``SO_REUSEPORT`` so the kernel spreads connections across them; each has
its own pool, outbox LISTEN connection and websocket hub, so fan-out on one never delays
census writes on another. Scheduled jobs stay exactly-once through their advisory locks,
as they do across instances. A worker that exits unexpectedly is started again; one that
keeps failing stops the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field

from bedboard import database
from bedboard.settings import Settings

log = logging.getLogger(__name__)

# Set in a worker's environment: bind with SO_REUSEPORT beside the other workers.
REUSE_PORT_ENV = "BEDBOARD_REUSE_PORT"
# prometheus_client's multi-process mode: every worker counts into files in this folder,
# and /metrics adds them up, whichever worker answers.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
STOP_TIMEOUT_S = 15.0
RESTART_DELAY_S = 1.0
# A worker that exits this many times within CRASH_WINDOW_S stops the service: it will not
# start (a bad setting, a port in use) and restarting it forever would hide that.
CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def reuse_port() -> bool:
    """Whether this process is one of several workers sharing its port."""
    return os.environ.get(REUSE_PORT_ENV) == "1"


def counts_together() -> bool:
    """Whether this worker's metrics are counted with the other workers' (and /metrics
    should answer with the sum)."""
    return reuse_port() and bool(os.environ.get(METRICS_DIR_ENV))


@dataclass
class _Worker:
    number: int
    process: asyncio.subprocess.Process | None = None
    exits: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.workers = [_Worker(n) for n in range(1, count + 1)]
        self._stopping = asyncio.Event()
        self.failed: str | None = None

    async def run(self) -> int:
        dsn, embedded = await database.start_database(self.settings)
        applied = await database.prepare_database(dsn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        self.settings.resolved_secret_key()  # made once, here, before workers read it
        metrics_dir = self.settings.data_dir / "run" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)  # counts start again with the service
        metrics_dir.mkdir(parents=True)
        env = dict(os.environ)
        env.update(
            {
                "BEDBOARD_DATABASE_URL": dsn,
                REUSE_PORT_ENV: "1",
                METRICS_DIR_ENV: str(metrics_dir),
            }
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        watch = (
            asyncio.create_task(database.supervise(embedded), name="embedded-postgres")
            if embedded is not None
            else None
        )
        try:
            keepers = [asyncio.create_task(self._keep(w, env)) for w in self.workers]
            if await self._serving():
                print(
                    f"bedboard listening on http://{self.settings.host}:{self.settings.port}"
                    f" with {self.count} workers",
                    flush=True,
                )
            await self._stopping.wait()
            await self._stop_all()
            await asyncio.gather(*keepers, return_exceptions=True)
        finally:
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        if self.failed:
            print(f"bedboard: {self.failed}", file=sys.stderr)
            return 1
        return 0

    async def _serving(self) -> bool:
        """Wait until the port takes connections (a worker is up); False if stopped first."""
        while not self._stopping.is_set():
            try:
                _, writer = await asyncio.open_connection(self.settings.host, self.settings.port)
            except OSError:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await self._stopping.wait()
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    async def _keep(self, worker: _Worker, env: dict[str, str]) -> None:
        """Run one worker until the service stops, starting it again when it exits."""
        while not self._stopping.is_set():
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bedboard.cli", "serve", "--workers", "1", env=env
            )
            if self._stopping.is_set():  # stopped while it was starting
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
            code = await worker.process.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            worker.exits = [t for t in worker.exits if now - t < CRASH_WINDOW_S] + [now]
            if len(worker.exits) >= CRASH_LIMIT:
                self.failed = (
                    f"worker {worker.number} exited {len(worker.exits)} times within"
                    f" {CRASH_WINDOW_S:.0f} s (last status {code}); stopping"
                )
                self._stopping.set()
                return
            log.warning("worker %d exited (status %s); starting it again", worker.number, code)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESTART_DELAY_S):
                    await self._stopping.wait()

    async def _stop_all(self) -> None:
        running = [
            w.process
            for w in self.workers
            if w.process is not None and w.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await asyncio.gather(*(p.wait() for p in running))
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))


def serve_workers(settings: Settings, count: int) -> int:
    """Supervise ``count`` workers until SIGTERM or SIGINT; the exit status."""
    return asyncio.run(Supervisor(settings, count).run())
